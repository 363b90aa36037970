import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
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

export interface PasswordDeps {
  db: Db;
  repository: Pick<
    IdentityRepository,
    | 'findUserByEmail'
    | 'findUserById'
    | 'updateUser'
    | 'revokeSessions'
    | 'insertResetToken'
    | 'lockResetToken'
    | 'useResetTokens'
  >;
  audit: Pick<AuditService, 'record'>;
  notify: Notify;
  clock: Clock;
  ids: IdGenerator;
  loginGuard: Pick<LoginGuard, 'clear'>;
  sessionState: Pick<SessionState, 'revokeSessions'>;
}

/** Changing a password, resetting a forgotten one by email, and asking for it again. */
export function createPasswordUseCases(deps: PasswordDeps) {
  const { db, repository, audit, clock, ids, loginGuard, sessionState } = deps;

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

    /** Same answer whether or not the email exists; the token travels only by email (notifications, through the outbox). */
    async requestPasswordReset(email: string, context: CallContext): Promise<void> {
      const user = await repository.findUserByEmail(db, normaliseEmail(email));
      if (!user?.isActive) return;
      const token = randomToken();
      await inTransaction(db, async (tx) => {
        const now = clock.now();
        const expiresAt = new Date(now.getTime() + RESET_TOKEN_TTL_MS);
        await repository.insertResetToken(tx, {
          id: ids(),
          userId: user.id,
          tokenHash: tokenHash(token),
          createdAt: now,
          expiresAt,
        });
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
