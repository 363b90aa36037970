import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Actor, CallContext } from '../../shared/actor.js';
import type { Track } from '../analytics/index.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { ConsentService } from '../consent/index.js';
import type { SecurityService } from '../security/index.js';
import type { IdentityRepository } from './identity.repository.js';
import { DAY_MS, effectivePlan, normaliseEmail, type PublicUser, toPublicUser } from './identity.shared.js';
import type { UserRow } from './identity.tables.js';
import type { LoginGuard } from './login-guard.js';
import { dummyPasswordHash, hashPassword, requireStrongPassword, verifyPassword } from './passwords.js';
import type { SessionState } from './session-state.js';
import { type AccessTokens, randomToken, tokenHash } from './tokens.js';

const REFRESH_GRACE_MS = 10_000;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface AuthDeps {
  db: Db;
  repository: Pick<
    IdentityRepository,
    | 'insertUser'
    | 'findUserByEmail'
    | 'findUserById'
    | 'updateUser'
    | 'insertSession'
    | 'activeSessions'
    | 'revokeSessions'
    | 'touchSession'
    | 'insertRefreshToken'
    | 'lockRefreshToken'
    | 'markRefreshTokenRotated'
  >;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  consent: Pick<ConsentService, 'recordSignup'>;
  kv: Pick<KeyValueStore, 'get' | 'set'>;
  clock: Clock;
  ids: IdGenerator;
  accessTokens: Pick<AccessTokens, 'sign' | 'ttlSeconds'>;
  loginGuard: Pick<LoginGuard, 'reserveAttempt' | 'recordFailure' | 'clear'>;
  security: Pick<SecurityService, 'loginFailed' | 'signal'>;
  sessionState: Pick<SessionState, 'revokeSessions'>;
  refreshTokenTtlDays: number;
  business: Pick<BusinessMetrics, 'signedUp'>;
}

/** Sign-up, sign-in, refresh-token rotation, sign-out and the person's list of sessions. */
export function createAuthUseCases(deps: AuthDeps) {
  const { db, repository, audit, clock, ids, accessTokens, loginGuard, sessionState } = deps;

  const issue = async (user: UserRow, sessionId: string, refreshToken: string): Promise<TokenPair> => ({
    access_token: await accessTokens.sign({
      sub: user.id,
      role: user.role,
      plan: effectivePlan(user, clock.now()),
      sid: sessionId,
    }),
    refresh_token: refreshToken,
    token_type: 'Bearer',
    expires_in: accessTokens.ttlSeconds,
  });

  /** A new session (refresh family) with its first tokens, in the caller's transaction. */
  const openSession = async (tx: Db, user: UserRow, context: CallContext): Promise<TokenPair> => {
    const now = clock.now();
    const sessionId = ids();
    const refreshToken = randomToken();
    await repository.insertSession(tx, {
      id: sessionId,
      userId: user.id,
      userAgent: context.userAgent?.slice(0, 300) ?? null,
      ip: context.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + deps.refreshTokenTtlDays * DAY_MS),
    });
    await repository.insertRefreshToken(tx, {
      id: ids(),
      sessionId,
      tokenHash: tokenHash(refreshToken),
      createdAt: now,
    });
    return issue(user, sessionId, refreshToken);
  };

  const emailTaken = () => new AppError('EMAIL_TAKEN', 'An account with this email already exists');

  return {
    async signup(
      input: { email: string; password: string; name?: string; phone?: string },
      context: CallContext,
    ): Promise<{ user: PublicUser; tokens: TokenPair }> {
      requireStrongPassword(input.password, 'body.password');
      const email = normaliseEmail(input.email);
      const passwordHash = await hashPassword(input.password);
      const now = clock.now();
      try {
        return await inTransaction(db, async (tx) => {
          const user = await repository.insertUser(tx, {
            id: ids(),
            email,
            passwordHash,
            name: input.name ?? null,
            phone: input.phone ?? null,
            passwordChangedAt: now,
            createdAt: now,
            updatedAt: now,
          });
          if (!user) throw emailTaken();
          await audit.record(tx, auditContextOf(context, user.id), {
            action: 'auth.signup',
            targetType: 'user',
            targetId: user.id,
          });
          // Running the account is the one purpose on from the start; every other purpose waits
          // for the account holder to grant it.
          await deps.consent.recordSignup(tx, user.id, context);
          await deps.track(tx, 'user_signed_up', user.id, {});
          deps.business.signedUp();
          const tokens = await openSession(tx, user, context);
          return { user: toPublicUser(user, clock.now()), tokens };
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw emailTaken();
        throw error;
      }
    },

    async login(input: { email: string; password: string }, context: CallContext): Promise<TokenPair> {
      const account = normaliseEmail(input.email);
      try {
        await loginGuard.reserveAttempt(account);
      } catch (error) {
        // A refused sign-in (a locked account) counts towards blocking its address as a failure does.
        await deps.security.loginFailed(context, { reason: 'locked', userId: null });
        throw error;
      }
      const user = await repository.findUserByEmail(db, account);
      // Unknown emails cost one argon2 verification too: same time, same answer.
      const passwordOk = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), input.password);
      if (!user || !passwordOk) {
        const { lockedForMs, delayMs } = await loginGuard.recordFailure(account, context.ip);
        // Who acted is unknown (whoever typed the password): the actor is null, the account the target.
        await inTransaction(db, async (tx) => {
          await audit.record(tx, auditContextOf(context, null), {
            action: 'auth.login_failed',
            targetType: user ? 'user' : undefined,
            targetId: user?.id,
            details: { reason: user ? 'wrong_password' : 'unknown_account' },
          });
          if (lockedForMs) {
            await audit.record(tx, auditContextOf(context, null), {
              action: 'auth.lockout',
              targetType: user ? 'user' : undefined,
              targetId: user?.id,
              details: { locked_for_seconds: lockedForMs / 1000 },
            });
          }
        });
        await deps.security.loginFailed(context, {
          reason: user ? 'wrong_password' : 'unknown_account',
          userId: user?.id ?? null,
        });
        // A timer, not a thread: the waiting answer costs a socket and nothing else.
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        // The failure that locks the account still answers 401; the next attempt gets 423.
        throw new AppError('INVALID_CREDENTIALS', 'Email or password is incorrect');
      }
      await loginGuard.clear(account);
      if (!user.isActive) {
        throw new AppError('ACCOUNT_DISABLED', 'This account has been deactivated; contact support');
      }
      return inTransaction(db, async (tx) => {
        const now = clock.now();
        await repository.updateUser(tx, user.id, { lastLoginAt: now });
        await audit.record(tx, auditContextOf(context, user.id), {
          action: 'auth.login',
          targetType: 'user',
          targetId: user.id,
        });
        await deps.track(tx, 'last_login', user.id, {});
        return openSession(tx, user, context);
      });
    },

    /**
     * Rotates a refresh token. A token already rotated comes back within 10 seconds (two tabs
     * refreshing at once): it gets the same successor. Later, it is treated as stolen: the whole
     * family is revoked and the reuse audited.
     */
    async refresh(refreshToken: string, context: CallContext): Promise<TokenPair> {
      const hash = tokenHash(refreshToken);
      const outcome = await inTransaction(db, async (tx) => {
        const found = await repository.lockRefreshToken(tx, hash);
        const now = clock.now();
        if (!found || found.session.revokedAt || found.session.expiresAt <= now) {
          return { kind: 'invalid' as const };
        }
        const { token, session } = found;
        const user = await repository.findUserById(tx, session.userId);
        if (!user?.isActive) return { kind: 'invalid' as const };
        if (token.rotatedAt) {
          const successor = await deps.kv.get(`auth:grace:${hash}`);
          if (successor && now.getTime() - token.rotatedAt.getTime() <= REFRESH_GRACE_MS) {
            return { kind: 'grace' as const, user, sessionId: session.id, successor };
          }
          const family = { userId: user.id, sessionIds: [session.id] };
          await repository.revokeSessions(tx, family, 'refresh_token_reuse', clock.now());
          await audit.record(tx, auditContextOf(context, user.id), {
            action: 'auth.refresh_reuse',
            targetType: 'session',
            targetId: session.id,
            details: { severity: 'security', family_revoked: true },
          });
          return { kind: 'reused' as const, sessionId: session.id, userId: user.id };
        }
        const successor = randomToken();
        await repository.markRefreshTokenRotated(tx, token.id, now);
        await repository.insertRefreshToken(tx, {
          id: ids(),
          sessionId: session.id,
          tokenHash: tokenHash(successor),
          createdAt: now,
        });
        await repository.touchSession(tx, session.id, now);
        // Before commit: a second tab refreshing the moment this commits must find its successor.
        await deps.kv.set(`auth:grace:${hash}`, successor, REFRESH_GRACE_MS);
        return { kind: 'rotated' as const, user, sessionId: session.id, successor };
      });
      switch (outcome.kind) {
        case 'invalid':
          throw new AppError('REFRESH_TOKEN_INVALID', 'Refresh token is invalid or expired');
        case 'reused':
          await sessionState.revokeSessions([outcome.sessionId]);
          await deps.security.signal(context, {
            type: 'refresh_token_reuse',
            severity: 'critical',
            rule: 'auth.refresh_token_reuse',
            userId: outcome.userId,
          });
          throw new AppError('REFRESH_TOKEN_REUSED', 'Refresh token was already used; the session has been ended');
        case 'rotated':
        case 'grace':
          return issue(outcome.user, outcome.sessionId, outcome.successor);
      }
    },

    async logout(actor: Actor): Promise<void> {
      await inTransaction(db, async (tx) => {
        await repository.revokeSessions(tx, { userId: actor.id, sessionIds: [actor.sessionId] }, 'logout', clock.now());
        await audit.record(tx, auditContextOf(actor, actor.id), {
          action: 'auth.logout',
          targetType: 'session',
          targetId: actor.sessionId,
        });
      });
      await sessionState.revokeSessions([actor.sessionId]);
    },

    async logoutAll(actor: Actor): Promise<number> {
      const revoked = await inTransaction(db, async (tx) => {
        const sessionIds = await repository.revokeSessions(tx, { userId: actor.id }, 'logout_all', clock.now());
        await audit.record(tx, auditContextOf(actor, actor.id), {
          action: 'auth.logout_all',
          targetType: 'user',
          targetId: actor.id,
          details: { sessions: sessionIds.length },
        });
        return sessionIds;
      });
      await sessionState.revokeSessions(revoked);
      return revoked.length;
    },

    async listSessions(actor: Actor) {
      const rows = await repository.activeSessions(db, actor.id, clock.now());
      return rows.map((row) => ({
        id: row.id,
        device: row.userAgent,
        ip: row.ip,
        created_at: row.createdAt.toISOString(),
        last_used_at: row.lastUsedAt.toISOString(),
        expires_at: row.expiresAt.toISOString(),
        current: row.id === actor.sessionId,
      }));
    },

    async revokeSession(actor: Actor, sessionId: string): Promise<void> {
      const revoked = await inTransaction(db, async (tx) => {
        const where = { userId: actor.id, sessionIds: [sessionId] };
        const sessionIds = await repository.revokeSessions(tx, where, 'revoked_by_user', clock.now());
        // Another user's session, an unknown id or one already ended: all look the same.
        if (sessionIds.length === 0) throw notFound('Session');
        await audit.record(tx, auditContextOf(actor, actor.id), {
          action: 'auth.session_revoked',
          targetType: 'session',
          targetId: sessionId,
        });
        return sessionIds;
      });
      await sessionState.revokeSessions(revoked);
    },
  };
}

export type AuthUseCases = ReturnType<typeof createAuthUseCases>;
