import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { DeliveryContext, Outbox } from '../../infra/outbox/outbox.js';
import type { Actor, CallContext } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { Notify } from '../notifications/index.js';
import type { IdentityRepository } from './identity.repository.js';
import { normaliseEmail } from './identity.shared.js';
import type { LoginGuard } from './login-guard.js';
import { hashPassword, requireStrongPassword, verifyPassword } from './passwords.js';
import type { SessionState } from './session-state.js';
import { randomToken, tokenHash } from './tokens.js';

const RESET_TOKEN_TTL_MS = 30 * 60_000;

/** The outbox message a reset request leaves; its handler (`deliverPasswordReset`) does the rest. */
export const PASSWORD_RESET_REQUESTED = 'identity.password_reset_requested';

export interface PasswordDeps {
  db: Db;
  repository: Pick<
    IdentityRepository,
    | 'findUserByEmail'
    | 'findUserById'
    | 'updateUser'
    | 'revokeSessions'
    | 'insertResetTokenOnce'
    | 'lockResetToken'
    | 'useResetTokens'
  >;
  audit: Pick<AuditService, 'record'>;
  notify: Notify;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  loginGuard: Pick<LoginGuard, 'clear'>;
  sessionState: Pick<SessionState, 'revokeSessions'>;
}

/** Changing a password, resetting a forgotten one by email, and asking for it again. */
export function createPasswordUseCases(deps: PasswordDeps) {
  const { db, repository, audit, clock, loginGuard, sessionState } = deps;

  return {
    async changePassword(actor: Actor, input: { current_password: string; new_password: string }): Promise<void> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
      if (!(await verifyPassword(user.passwordHash, input.current_password))) {
        throw new AppError('INVALID_CREDENTIALS', 'Current password is incorrect');
      }
      requireStrongPassword(input.new_password, 'body.new_password');
      const passwordHash = await hashPassword(input.new_password);
      const revoked = await inTransaction(db, async (tx) => {
        const now = clock.now();
        await repository.updateUser(tx, user.id, { passwordHash, passwordChangedAt: now, updatedAt: now });
        const others = { userId: user.id, keep: actor.sessionId };
        const sessionIds = await repository.revokeSessions(tx, others, 'password_changed', clock.now());
        await audit.record(tx, auditContextOf(actor, actor.id), {
          action: 'auth.password_changed',
          targetType: 'user',
          targetId: user.id,
          details: { other_sessions_ended: sessionIds.length },
        });
        return sessionIds;
      });
      await sessionState.revokeSessions(revoked);
    },

    /**
     * Same answer, and the same work, whether or not the email exists: the request only queues
     * a message, so its timing tells nobody who has an account. The outbox worker looks the
     * account up (`deliverPasswordReset`); the token travels only by email.
     */
    async requestPasswordReset(email: string, context: CallContext): Promise<void> {
      await inTransaction(db, async (tx) => {
        await deps.outbox.enqueue(tx, {
          type: PASSWORD_RESET_REQUESTED,
          // The caller's address and correlation id, for the audit entry the worker writes.
          payload: { email: normaliseEmail(email), ip: context.ip, correlation_id: context.correlationId },
        });
      });
    },

    /**
     * The outbox handler for a reset request: for an active account, a token and its email.
     * Exactly once per message: the token row takes the message's id, so a redelivered message
     * (the worker died after this committed) finds it and sends nothing again.
     */
    deliverPasswordReset: async (payload: Record<string, unknown>, message: DeliveryContext): Promise<void> => {
      if (typeof payload.email !== 'string') throw new Error(`${PASSWORD_RESET_REQUESTED}: payload has no email`);
      const context: CallContext = {
        ip: typeof payload.ip === 'string' ? payload.ip : null,
        correlationId: typeof payload.correlation_id === 'string' ? payload.correlation_id : null,
      };
      const user = await repository.findUserByEmail(db, normaliseEmail(payload.email));
      if (!user?.isActive) return;
      const token = randomToken();
      await inTransaction(db, async (tx) => {
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + RESET_TOKEN_TTL_MS);
        const inserted = await repository.insertResetTokenOnce(tx, {
          id: message.id,
          userId: user.id,
          tokenHash: tokenHash(token),
          createdAt: now,
          expiresAt,
        });
        if (!inserted) return;
        // Urgent: out within seconds, whatever the hour; the token travels only in this email.
        await deps.notify.send(tx, {
          userId: user.id,
          purpose: 'account',
          template: 'password_reset',
          data: { token, expires_at: expiresAt.toISOString() },
          urgent: true,
        });
        await audit.record(tx, auditContextOf(context, user.id), {
          action: 'auth.password_reset_requested',
          targetType: 'user',
          targetId: user.id,
        });
      });
    },

    async confirmPasswordReset(input: { token: string; password: string }, context: CallContext): Promise<void> {
      requireStrongPassword(input.password, 'body.password');
      const passwordHash = await hashPassword(input.password);
      const result = await inTransaction(db, async (tx) => {
        const now = clock.now();
        const row = await repository.lockResetToken(tx, tokenHash(input.token));
        if (!row || row.usedAt || row.expiresAt <= now) return undefined;
        const user = await repository.findUserById(tx, row.userId);
        if (!user?.isActive) return undefined;
        await repository.useResetTokens(tx, user.id, now);
        await repository.updateUser(tx, user.id, { passwordHash, passwordChangedAt: now, updatedAt: now });
        const revoked = await repository.revokeSessions(tx, { userId: user.id }, 'password_reset', clock.now());
        await audit.record(tx, auditContextOf(context, user.id), {
          action: 'auth.password_reset',
          targetType: 'user',
          targetId: user.id,
          details: { sessions_ended: revoked.length },
        });
        return { user, revoked };
      });
      if (!result) throw new AppError('INVALID_RESET_TOKEN', 'This reset link is invalid, used or expired');
      await sessionState.revokeSessions(result.revoked);
      await loginGuard.clear(result.user.email);
    },

    /** For actions that ask for the password again (erasing the account). */
    async confirmPassword(actor: Actor, password: string): Promise<void> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
      if (!(await verifyPassword(user.passwordHash, password))) {
        throw new AppError('INVALID_CREDENTIALS', 'Password is incorrect');
      }
    },
  };
}

export type PasswordUseCases = ReturnType<typeof createPasswordUseCases>;
