import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor, CallContext, Plan, Role } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { Track } from '../analytics/index.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { IdentityRepository, UserFilters } from './identity.repository.js';
import { effectivePlan, normaliseEmail, type PublicUser, toPublicUser, trialEndsAt } from './identity.shared.js';
import type { UserRow } from './identity.tables.js';
import { hashPassword, requireStrongPassword } from './passwords.js';
import type { SessionState } from './session-state.js';

export interface AdminUserDeps {
  db: Db;
  repository: Pick<
    IdentityRepository,
    'listUsers' | 'findUserByEmail' | 'findUserById' | 'insertUser' | 'updateUser' | 'revokeSessions'
  >;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  clock: Clock;
  ids: IdGenerator;
  sessionState: Pick<SessionState, 'invalidateTokensBefore' | 'revokeSessions'>;
  events: Pick<EventBus, 'publish'>;
}

/** Admins finding, viewing and changing accounts (every look audited), and the admin CLI. */
export function createAdminUserUseCases(deps: AdminUserDeps) {
  const { db, repository, audit, clock, ids, sessionState } = deps;

  return {
    async adminListUsers(actor: Actor, filters: UserFilters) {
      const rows = await repository.listUsers(db, {
        ...filters,
        emailPrefix: filters.emailPrefix ? normaliseEmail(filters.emailPrefix) : undefined,
        limit: filters.limit + 1,
      });
      await inTransaction(db, (tx) =>
        audit.record(tx, auditContextOf(actor, actor.id), {
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
      const now = clock.now();
      return {
        users: page.map((user) => toPublicUser(user, now)),
        nextCursor: rows.length > filters.limit ? page.at(-1)?.id : undefined,
      };
    },

    async adminGetUser(actor: Actor, userId: string): Promise<PublicUser> {
      const user = await repository.findUserById(db, userId);
      if (!user) throw notFound('User');
      if (userId !== actor.id) {
        await inTransaction(db, (tx) =>
          audit.record(tx, auditContextOf(actor, actor.id), {
            action: 'admin.user_viewed',
            targetType: 'user',
            targetId: userId,
          }),
        );
      }
      return toPublicUser(user, clock.now());
    },

    async adminUpdateUser(
      actor: Actor,
      userId: string,
      patch: { role?: Role; plan?: Plan; is_active?: boolean },
    ): Promise<PublicUser> {
      const result = await inTransaction(db, async (tx) => {
        const before = await repository.findUserById(tx, userId, { forUpdate: true });
        if (!before) throw notFound('User');
        // An admin cannot lock themselves out: another admin must demote or deactivate them.
        const demotes = (patch.role !== undefined && patch.role !== 'admin') || patch.is_active === false;
        if (userId === actor.id && before.role === 'admin' && demotes) {
          throw new AppError(
            'INVALID_STATE',
            'You cannot remove your own admin role or deactivate your own account; ask another admin',
          );
        }
        const now = clock.now();
        // An admin granting a trial grants a fresh 14 days.
        const grantsTrial = patch.plan === 'trial' && effectivePlan(before, now) !== 'trial';
        const after = (await repository.updateUser(tx, userId, {
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.plan !== undefined ? { plan: patch.plan } : {}),
          ...(grantsTrial ? { trialStartedAt: now, trialExpiresAt: trialEndsAt(now) } : {}),
          ...(patch.is_active !== undefined ? { isActive: patch.is_active } : {}),
          updatedAt: now,
        })) as UserRow;
        const changes: Record<string, { from: unknown; to: unknown }> = {};
        if (patch.role !== undefined && patch.role !== before.role) {
          changes.role = { from: before.role, to: patch.role };
        }
        if (patch.plan !== undefined && patch.plan !== before.plan) {
          changes.plan = { from: before.plan, to: patch.plan };
        }
        if (patch.is_active !== undefined && patch.is_active !== before.isActive) {
          changes.is_active = { from: before.isActive, to: patch.is_active };
        }
        let revoked: string[] = [];
        if (changes.is_active && patch.is_active === false) {
          revoked = await repository.revokeSessions(tx, { userId }, 'deactivated', clock.now());
        }
        if (Object.keys(changes).length > 0) {
          await audit.record(tx, auditContextOf(actor, actor.id), {
            action: 'admin.user_updated',
            targetType: 'user',
            targetId: userId,
            details: { changes },
          });
        }
        if (patch.plan !== undefined && changes.plan) {
          await deps.track(tx, 'plan_changed', userId, { from: before.plan, to: patch.plan, by: 'admin' });
          await deps.events.publish('plan.changed', { userId, from: before.plan, to: patch.plan });
        }
        return { after, revoked, changed: Object.keys(changes).length > 0 };
      });
      if (result.changed) {
        // Tokens issued before this change carry the old role or plan: refuse them everywhere.
        await sessionState.invalidateTokensBefore(userId, clock.now().getTime());
        await sessionState.revokeSessions(result.revoked);
      }
      return toPublicUser(result.after, clock.now());
    },

    /** Creates an admin, or promotes an existing account (npm run admin:create). */
    async createOrPromoteAdmin(input: { email: string; password?: string }, context: CallContext) {
      const email = normaliseEmail(input.email);
      const existing = await repository.findUserByEmail(db, email);
      if (existing) {
        if (existing.role === 'admin') return { user: toPublicUser(existing, clock.now()), created: false };
        const promoted = await inTransaction(db, async (tx) => {
          const updated = (await repository.updateUser(tx, existing.id, {
            role: 'admin',
            updatedAt: clock.now(),
          })) as UserRow;
          await audit.record(tx, auditContextOf(context, null), {
            action: 'admin.user_updated',
            targetType: 'user',
            targetId: existing.id,
            details: { changes: { role: { from: existing.role, to: 'admin' } }, via: 'admin:create' },
          });
          return updated;
        });
        await sessionState.invalidateTokensBefore(existing.id, clock.now().getTime());
        return { user: toPublicUser(promoted, clock.now()), created: false };
      }
      // The message is what the CLI prints: it has no request body to name a field of.
      if (!input.password) throw new AppError('VALIDATION_ERROR', 'A password is required to create a new admin');
      requireStrongPassword(input.password, 'password');
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
        await audit.record(tx, auditContextOf(context, null), {
          action: 'admin.created',
          targetType: 'user',
          targetId: created.id,
          details: { via: 'admin:create' },
        });
        return created;
      });
      return { user: toPublicUser(user, clock.now()), created: true };
    },
  };
}

export type AdminUserUseCases = ReturnType<typeof createAdminUserUseCases>;
