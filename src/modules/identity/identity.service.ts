import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Actor, CallContext, Plan, Role } from '../../shared/actor.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { EventBus } from '../../shared/events.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { ConsentService } from '../consent/index.js';
import type { Notify } from '../notifications/index.js';
import { findAccount, type IdentityRepository, type UserFilters } from './identity.repository.js';
import type { AccountView, UserRow } from './identity.tables.js';
import type { LoginGuard } from './login-guard.js';
import { dummyPasswordHash, hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import type { SessionState } from './session-state.js';
import { type AccessTokens, randomToken, tokenHash } from './tokens.js';

const REFRESH_GRACE_MS = 10_000;
const RESET_TOKEN_TTL_MS = 30 * 60_000;
export const TRIAL_DAYS = 14;
const DAY_MS = 86_400_000;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  locale: string;
  time_zone: string;
  role: Role;
  plan: Plan;
  trial_expires_at: string | null;
  is_active: boolean;
  created_at: string;
}

/** What an erased account's email becomes: unique, unroutable, and naming no one. */
export const erasedEmail = (userId: string) => `erased+${userId}@erased.invalid`;

export const isErased = (user: Pick<UserRow, 'id' | 'email'>) => user.email === erasedEmail(user.id);

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The plan that counts now: an expired trial is free from the moment it ends. */
export function effectivePlan(user: Pick<UserRow, 'plan' | 'trialExpiresAt'>, now: Date): Plan {
  if (user.plan === 'trial' && (!user.trialExpiresAt || user.trialExpiresAt <= now)) return 'free';
  return user.plan;
}

export function createIdentityService(deps: {
  db: Db;
  repository: IdentityRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  notify: Notify;
  consent: Pick<ConsentService, 'recordSignup'>;
  kv: KeyValueStore;
  clock: Clock;
  ids: IdGenerator;
  accessTokens: AccessTokens;
  loginGuard: LoginGuard;
  sessionState: SessionState;
  events: Pick<EventBus, 'publish'>;
  refreshTokenTtlDays: number;
}) {
  const { db, repository, audit, clock, ids, accessTokens, loginGuard, sessionState } = deps;

  const toPublic = (user: UserRow): PublicUser => ({
    id: user.id,
    email: user.email,
    name: user.name,
    phone: user.phone,
    locale: user.locale,
    time_zone: user.timeZone,
    role: user.role,
    plan: effectivePlan(user, clock.now()),
    trial_expires_at: user.trialExpiresAt?.toISOString() ?? null,
    is_active: user.isActive,
    created_at: user.createdAt.toISOString(),
  });

  const requirePassword = (password: string, field: string) => {
    const problem = passwordProblem(password);
    if (problem) {
      throw new AppError('WEAK_PASSWORD', `Password ${problem}`, { details: [{ field, message: problem }] });
    }
  };

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

  const auditContext = (context: CallContext, actorId: string | null) => ({
    actorId,
    ip: context.ip,
    correlationId: context.correlationId,
  });

  /** Revokes sessions in the database (caller's transaction) and, once committed, everywhere at once. */
  const revoke = async (
    tx: Db,
    where: { userId: string; sessionIds?: string[]; keep?: string },
    reason: string,
  ): Promise<string[]> => repository.revokeSessions(tx, where, reason, clock.now());

  const nowMs = () => clock.now().getTime();

  return {
    async signup(
      input: { email: string; password: string; name?: string; phone?: string },
      context: CallContext,
    ): Promise<{ user: PublicUser; tokens: TokenPair }> {
      requirePassword(input.password, 'body.password');
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
          if (!user) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists');
          await audit.record(tx, auditContext(context, user.id), {
            action: 'auth.signup',
            targetType: 'user',
            targetId: user.id,
          });
          // Running the account is the one purpose on from the start; everything else waits for her.
          await deps.consent.recordSignup(tx, user.id, context);
          await deps.track(tx, 'user_signed_up', user.id, {});
          const tokens = await openSession(tx, user, context);
          return { user: toPublic(user), tokens };
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists');
        throw error;
      }
    },

    async login(input: { email: string; password: string }, context: CallContext): Promise<TokenPair> {
      const account = normaliseEmail(input.email);
      await loginGuard.reserveAttempt(account, context.ip);
      const user = await repository.findUserByEmail(db, account);
      // Unknown emails cost one argon2 verification too: same time, same answer.
      const passwordOk = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), input.password);
      if (!user || !passwordOk) {
        const lockedForMs = await loginGuard.recordFailure(account, context.ip);
        await inTransaction(db, async (tx) => {
          await audit.record(tx, auditContext(context, user?.id ?? null), {
            action: 'auth.login_failed',
            targetType: user ? 'user' : undefined,
            targetId: user?.id,
            details: { reason: user ? 'wrong_password' : 'unknown_account' },
          });
          if (lockedForMs) {
            await audit.record(tx, auditContext(context, user?.id ?? null), {
              action: 'auth.lockout',
              targetType: user ? 'user' : undefined,
              targetId: user?.id,
              details: { locked_for_seconds: lockedForMs / 1000 },
            });
          }
        });
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
        await audit.record(tx, auditContext(context, user.id), {
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
          await revoke(tx, { userId: user.id, sessionIds: [session.id] }, 'refresh_token_reuse');
          await audit.record(tx, auditContext(context, user.id), {
            action: 'auth.refresh_reuse',
            targetType: 'session',
            targetId: session.id,
            details: { severity: 'security', family_revoked: true },
          });
          return { kind: 'reused' as const, sessionId: session.id };
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
          throw new AppError('REFRESH_TOKEN_REUSED', 'Refresh token was already used; the session has been ended');
        case 'rotated':
          return issue(outcome.user, outcome.sessionId, outcome.successor);
        case 'grace':
          return issue(outcome.user, outcome.sessionId, outcome.successor);
      }
    },

    async logout(actor: Actor): Promise<void> {
      await inTransaction(db, async (tx) => {
        await revoke(tx, { userId: actor.id, sessionIds: [actor.sessionId] }, 'logout');
        await audit.record(tx, auditContext(actor, actor.id), {
          action: 'auth.logout',
          targetType: 'session',
          targetId: actor.sessionId,
        });
      });
      await sessionState.revokeSessions([actor.sessionId]);
    },

    async logoutAll(actor: Actor): Promise<number> {
      const revoked = await inTransaction(db, async (tx) => {
        const ids = await revoke(tx, { userId: actor.id }, 'logout_all');
        await audit.record(tx, auditContext(actor, actor.id), {
          action: 'auth.logout_all',
          targetType: 'user',
          targetId: actor.id,
          details: { sessions: ids.length },
        });
        return ids;
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
        const ids = await revoke(tx, { userId: actor.id, sessionIds: [sessionId] }, 'revoked_by_user');
        // Another user's session, an unknown id or one already ended: all look the same.
        if (ids.length === 0) throw new AppError('NOT_FOUND', 'Session not found');
        await audit.record(tx, auditContext(actor, actor.id), {
          action: 'auth.session_revoked',
          targetType: 'session',
          targetId: sessionId,
        });
        return ids;
      });
      await sessionState.revokeSessions(revoked);
    },

    async changePassword(actor: Actor, input: { current_password: string; new_password: string }): Promise<void> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
      if (!(await verifyPassword(user.passwordHash, input.current_password))) {
        throw new AppError('INVALID_CREDENTIALS', 'Current password is incorrect');
      }
      requirePassword(input.new_password, 'body.new_password');
      const passwordHash = await hashPassword(input.new_password);
      const revoked = await inTransaction(db, async (tx) => {
        const now = clock.now();
        await repository.updateUser(tx, user.id, { passwordHash, passwordChangedAt: now, updatedAt: now });
        const ids = await revoke(tx, { userId: user.id, keep: actor.sessionId }, 'password_changed');
        await audit.record(tx, auditContext(actor, actor.id), {
          action: 'auth.password_changed',
          targetType: 'user',
          targetId: user.id,
          details: { other_sessions_ended: ids.length },
        });
        return ids;
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
          channel: 'email',
          purpose: 'account',
          template: 'password_reset',
          data: { token, expires_at: expiresAt.toISOString() },
          urgent: true,
        });
        await audit.record(tx, auditContext(context, user.id), {
          action: 'auth.password_reset_requested',
          targetType: 'user',
          targetId: user.id,
        });
      });
    },

    async confirmPasswordReset(input: { token: string; password: string }, context: CallContext): Promise<void> {
      requirePassword(input.password, 'body.password');
      const passwordHash = await hashPassword(input.password);
      const result = await inTransaction(db, async (tx) => {
        const now = clock.now();
        const row = await repository.lockResetToken(tx, tokenHash(input.token));
        if (!row || row.usedAt || row.expiresAt <= now) return undefined;
        const user = await repository.findUserById(tx, row.userId);
        if (!user?.isActive) return undefined;
        await repository.useResetTokens(tx, user.id, now);
        await repository.updateUser(tx, user.id, { passwordHash, passwordChangedAt: now, updatedAt: now });
        const revoked = await revoke(tx, { userId: user.id }, 'password_reset');
        await audit.record(tx, auditContext(context, user.id), {
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

    async getMe(actor: Actor): Promise<PublicUser> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
      return toPublic(user);
    },

    async updateMe(
      actor: Actor,
      patch: { name?: string | null; phone?: string | null; locale?: string; time_zone?: string },
    ): Promise<PublicUser> {
      if (patch.time_zone !== undefined && !isTimeZone(patch.time_zone)) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
          details: [{ field: 'body.time_zone', message: 'is not an IANA time zone' }],
        });
      }
      return inTransaction(db, async (tx) => {
        const user = await repository.updateUser(tx, actor.id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.phone !== undefined ? { phone: patch.phone } : {}),
          ...(patch.locale !== undefined ? { locale: patch.locale } : {}),
          ...(patch.time_zone !== undefined ? { timeZone: patch.time_zone } : {}),
          updatedAt: clock.now(),
        });
        if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
        return toPublic(user);
      });
    },

    /** Account facts other modules need (plan, role, attributes), by id. */
    /** The account as other modules see it (no password hash), or undefined. */
    getAccount: (userId: string): Promise<AccountView | undefined> => findAccount(db, userId),

    async startTrial(actor: Actor): Promise<PublicUser> {
      const user = await inTransaction(db, async (tx) => {
        const current = await repository.findUserById(tx, actor.id, { forUpdate: true });
        if (!current) throw new AppError('UNAUTHORIZED', 'Sign in again');
        if (current.trialStartedAt) throw new AppError('TRIAL_ALREADY_USED', 'The free trial can be started only once');
        if (current.plan === 'premium') throw new AppError('CONFLICT', 'You already have premium');
        const now = clock.now();
        const updated = await repository.updateUser(tx, actor.id, {
          plan: 'trial',
          trialStartedAt: now,
          trialExpiresAt: new Date(now.getTime() + TRIAL_DAYS * DAY_MS),
          updatedAt: now,
        });
        await audit.record(tx, auditContext(actor, actor.id), {
          action: 'plan.trial_started',
          targetType: 'user',
          targetId: actor.id,
          details: { days: TRIAL_DAYS },
        });
        await deps.track(tx, 'trial_started', actor.id, { days: TRIAL_DAYS });
        deps.events.publish('plan.changed', { userId: actor.id, from: current.plan, to: 'trial' });
        return updated as UserRow;
      });
      return toPublic(user);
    },

    async adminListUsers(actor: Actor, filters: UserFilters) {
      const rows = await repository.listUsers(db, {
        ...filters,
        emailPrefix: filters.emailPrefix ? normaliseEmail(filters.emailPrefix) : undefined,
        limit: filters.limit + 1,
      });
      await inTransaction(db, (tx) =>
        audit.record(tx, auditContext(actor, actor.id), {
          action: 'admin.users_listed',
          details: {
            filters: {
              email_prefix: filters.emailPrefix ? true : undefined,
              role: filters.role,
              plan: filters.plan,
              active: filters.active,
            },
            results: Math.min(rows.length, filters.limit),
          },
        }),
      );
      const page = rows.slice(0, filters.limit);
      return { users: page.map(toPublic), nextCursor: rows.length > filters.limit ? page.at(-1)?.id : undefined };
    },

    async adminGetUser(actor: Actor, userId: string): Promise<PublicUser> {
      const user = await repository.findUserById(db, userId);
      if (!user) throw new AppError('NOT_FOUND', 'User not found');
      if (userId !== actor.id) {
        await inTransaction(db, (tx) =>
          audit.record(tx, auditContext(actor, actor.id), {
            action: 'admin.user_viewed',
            targetType: 'user',
            targetId: userId,
          }),
        );
      }
      return toPublic(user);
    },

    async adminUpdateUser(
      actor: Actor,
      userId: string,
      patch: { role?: Role; plan?: Plan; is_active?: boolean },
    ): Promise<PublicUser> {
      const result = await inTransaction(db, async (tx) => {
        const before = await repository.findUserById(tx, userId, { forUpdate: true });
        if (!before) throw new AppError('NOT_FOUND', 'User not found');
        const now = clock.now();
        // An admin granting a trial grants a fresh 14 days.
        const grantsTrial = patch.plan === 'trial' && effectivePlan(before, now) !== 'trial';
        const after = (await repository.updateUser(tx, userId, {
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.plan !== undefined ? { plan: patch.plan } : {}),
          ...(grantsTrial
            ? { trialStartedAt: now, trialExpiresAt: new Date(now.getTime() + TRIAL_DAYS * DAY_MS) }
            : {}),
          ...(patch.is_active !== undefined ? { isActive: patch.is_active } : {}),
          updatedAt: now,
        })) as UserRow;
        const changes: Record<string, { from: unknown; to: unknown }> = {};
        if (patch.role !== undefined && patch.role !== before.role)
          changes.role = { from: before.role, to: patch.role };
        if (patch.plan !== undefined && patch.plan !== before.plan)
          changes.plan = { from: before.plan, to: patch.plan };
        if (patch.is_active !== undefined && patch.is_active !== before.isActive) {
          changes.is_active = { from: before.isActive, to: patch.is_active };
        }
        let revoked: string[] = [];
        if (changes.is_active && patch.is_active === false) {
          revoked = await revoke(tx, { userId }, 'deactivated');
        }
        if (Object.keys(changes).length > 0) {
          await audit.record(tx, auditContext(actor, actor.id), {
            action: 'admin.user_updated',
            targetType: 'user',
            targetId: userId,
            details: { changes },
          });
        }
        if (patch.plan !== undefined && changes.plan) {
          await deps.track(tx, 'plan_changed', userId, { from: before.plan, to: patch.plan, by: 'admin' });
          deps.events.publish('plan.changed', { userId, from: before.plan, to: patch.plan });
        }
        return { after, revoked, changed: Object.keys(changes).length > 0 };
      });
      if (result.changed) {
        // Tokens issued before this change carry the old role or plan: refuse them everywhere.
        await sessionState.invalidateTokensBefore(userId, nowMs());
        await sessionState.revokeSessions(result.revoked);
      }
      return toPublic(result.after);
    },

    /** For actions that ask for the password again (erasing the account). */
    async confirmPassword(actor: Actor, password: string): Promise<void> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw new AppError('UNAUTHORIZED', 'Sign in again');
      if (!(await verifyPassword(user.passwordHash, password))) {
        throw new AppError('INVALID_CREDENTIALS', 'Password is incorrect');
      }
    },

    /**
     * After an erasure commits: every access token she holds is refused on every instance
     * (her refresh tokens were deleted with her sessions).
     */
    async endAllAccess(userId: string): Promise<void> {
      await sessionState.invalidateTokensBefore(userId, nowMs() + 1);
    },

    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'identity',
        description:
          'Your account (email, name, phone, locale, time zone, role, plan, trial dates) and signed-in sessions (device, IP, times)',
        purposes: ['running your account and signing you in', 'securing your sessions'],
        legalBasis: 'contract (the account you signed up for)',
        retention:
          'account: until erased; sessions: until they end plus the session retention period; reset tokens: 30 minutes plus the token retention period',
        tables: ['users', 'sessions', 'refresh_tokens', 'password_reset_tokens'],
        async export(tx, userId) {
          const user = await repository.findUserById(tx, userId);
          if (!user) return null;
          const sessionRows = await repository.sessionsOf(tx, userId);
          return {
            account: {
              ...toPublic(user),
              last_login_at: user.lastLoginAt?.toISOString() ?? null,
              password_changed_at: user.passwordChangedAt.toISOString(),
              trial_started_at: user.trialStartedAt?.toISOString() ?? null,
            },
            sessions: sessionRows.map((row) => ({
              id: row.id,
              device: row.userAgent,
              ip: row.ip,
              created_at: row.createdAt.toISOString(),
              last_used_at: row.lastUsedAt.toISOString(),
              expires_at: row.expiresAt.toISOString(),
              revoked_at: row.revokedAt?.toISOString() ?? null,
            })),
          };
        },
        // The row stays under its id (audit rows and payments point at it), with nothing that names her.
        async erase(tx, userId) {
          const deleted = await repository.deleteCredentials(tx, userId);
          await repository.updateUser(tx, userId, {
            email: erasedEmail(userId),
            name: null,
            phone: null,
            // Not an argon2 hash: no password ever verifies against it.
            passwordHash: '!erased',
            locale: 'en',
            timeZone: 'UTC',
            isActive: false,
            updatedAt: clock.now(),
          });
          return { action: 'pseudonymised', rows: 1 + deleted.sessions.length + deleted.resetTokens };
        },
      };
    },

    /** Expired or revoked sessions and spent reset tokens older than the retention periods. */
    retentionRules(options: { sessionsDays: number; resetTokensDays: number }) {
      return [
        {
          name: 'identity.sessions',
          run: (tx: Db, now: Date) =>
            repository.deleteEndedSessions(tx, new Date(now.getTime() - options.sessionsDays * DAY_MS)),
        },
        {
          name: 'identity.password_reset_tokens',
          run: (tx: Db, now: Date) =>
            repository.deleteEndedResetTokens(tx, new Date(now.getTime() - options.resetTokensDays * DAY_MS)),
        },
      ];
    },

    /** Creates an admin, or promotes an existing account (npm run admin:create). */
    async createOrPromoteAdmin(input: { email: string; password?: string }, context: CallContext) {
      const email = normaliseEmail(input.email);
      const existing = await repository.findUserByEmail(db, email);
      if (existing) {
        if (existing.role === 'admin') return { user: toPublic(existing), created: false };
        const promoted = await inTransaction(db, async (tx) => {
          const updated = (await repository.updateUser(tx, existing.id, {
            role: 'admin',
            updatedAt: clock.now(),
          })) as UserRow;
          await audit.record(tx, auditContext(context, null), {
            action: 'admin.user_updated',
            targetType: 'user',
            targetId: existing.id,
            details: { changes: { role: { from: existing.role, to: 'admin' } }, via: 'admin:create' },
          });
          return updated;
        });
        await sessionState.invalidateTokensBefore(existing.id, nowMs());
        return { user: toPublic(promoted), created: false };
      }
      if (!input.password) throw new AppError('VALIDATION_ERROR', 'A password is required to create a new admin');
      requirePassword(input.password, 'password');
      const passwordHash = await hashPassword(input.password);
      const user = await inTransaction(db, async (tx) => {
        const now = clock.now();
        const created = await repository.insertUser(tx, {
          id: ids(),
          email,
          passwordHash,
          role: 'admin',
          passwordChangedAt: now,
          createdAt: now,
          updatedAt: now,
        });
        if (!created) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists');
        await audit.record(tx, auditContext(context, null), {
          action: 'admin.created',
          targetType: 'user',
          targetId: created.id,
          details: { via: 'admin:create' },
        });
        return created;
      });
      return { user: toPublic(user), created: true };
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
