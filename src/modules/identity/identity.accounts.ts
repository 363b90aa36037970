import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { Track } from '../analytics/index.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import { formerTrialHash } from './identity.privacy.js';
import { findAccount, type IdentityRepository } from './identity.repository.js';
import { type PublicUser, TRIAL_DAYS, toPublicUser, trialEndsAt } from './identity.shared.js';
import type { AccountView, UserRow } from './identity.tables.js';
import type { SessionState } from './session-state.js';

export interface AccountDeps {
  db: Db;
  repository: Pick<IdentityRepository, 'findUserById' | 'updateUser' | 'findFormerTrial'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  clock: Clock;
  sessionState: Pick<SessionState, 'invalidateTokensBefore'>;
  events: Pick<EventBus, 'publish'>;
  /** Keys the email hash an erased account's trial is remembered under (identity.privacy.ts). */
  formerTrialKey: string;
}

/** The person's own account (`/me`, the trial), and the account as other modules see it. */
export function createAccountUseCases(deps: AccountDeps) {
  const { db, repository, audit, clock, sessionState } = deps;
  const signInAgain = () => new AppError('UNAUTHORIZED', 'Sign in again');

  return {
    async getMe(actor: Actor): Promise<PublicUser> {
      const user = await repository.findUserById(db, actor.id);
      if (!user) throw signInAgain();
      return toPublicUser(user, clock.now());
    },

    async updateMe(
      actor: Actor,
      patch: { name?: string | null; phone?: string | null; locale?: string; time_zone?: string },
    ): Promise<PublicUser> {
      if (patch.time_zone !== undefined && !isTimeZone(patch.time_zone)) {
        throw invalidField('body.time_zone', 'is not an IANA time zone');
      }
      return inTransaction(db, async (tx) => {
        const user = await repository.updateUser(tx, actor.id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.phone !== undefined ? { phone: patch.phone } : {}),
          ...(patch.locale !== undefined ? { locale: patch.locale } : {}),
          ...(patch.time_zone !== undefined ? { timeZone: patch.time_zone } : {}),
          updatedAt: clock.now(),
        });
        if (!user) throw signInAgain();
        return toPublicUser(user, clock.now());
      });
    },

    /** The account as other modules see it (no password hash), or undefined; in `tx` when given. */
    getAccount: (userId: string, tx: Db = db): Promise<AccountView | undefined> => findAccount(tx, userId),

    /** Whether the account may still start the free trial (never started, here or on an erased account). */
    async trialAvailable(account: Pick<AccountView, 'trialStartedAt' | 'email'>): Promise<boolean> {
      if (account.trialStartedAt !== null) return false;
      return (await repository.findFormerTrial(db, formerTrialHash(deps.formerTrialKey, account.email))) === undefined;
    },

    async startTrial(actor: Actor): Promise<PublicUser> {
      const user = await inTransaction(db, async (tx) => {
        const current = await repository.findUserById(tx, actor.id, { forUpdate: true });
        if (!current) throw signInAgain();
        const trialUsed =
          current.trialStartedAt !== null ||
          // An erased account on the same email already had it.
          (await repository.findFormerTrial(tx, formerTrialHash(deps.formerTrialKey, current.email))) !== undefined;
        if (trialUsed) throw new AppError('TRIAL_ALREADY_USED', 'The free trial can be started only once');
        if (current.plan === 'premium') throw new AppError('CONFLICT', 'You already have premium');
        const now = clock.now();
        // The row is locked above, so the update finds it.
        const updated = (await repository.updateUser(tx, actor.id, {
          plan: 'trial',
          trialStartedAt: now,
          trialExpiresAt: trialEndsAt(now),
          updatedAt: now,
        })) as UserRow;
        await audit.record(tx, auditContextOf(actor, actor.id), {
          action: 'plan.trial_started',
          targetType: 'user',
          targetId: actor.id,
          details: { days: TRIAL_DAYS },
        });
        await deps.track(tx, 'trial_started', actor.id, { days: TRIAL_DAYS });
        await deps.events.publish('plan.changed', { userId: actor.id, from: current.plan, to: 'trial' });
        return updated;
      });
      return toPublicUser(user, clock.now());
    },

    /**
     * The plan a Premium subscription gives (or takes away), in the caller's transaction: the
     * payments module calls it when the gateway's subscription events say so. Audited and tracked
     * like an admin's change; tokens carrying the old plan are refused once it commits. A trial
     * still running is not cut short by a lapsed subscription.
     */
    async applySubscriptionPlan(tx: Db, userId: string, plan: 'premium' | 'free', reason: string): Promise<boolean> {
      const current = await repository.findUserById(tx, userId, { forUpdate: true });
      if (!current) return false;
      const now = clock.now();
      const trialRunning = current.plan === 'trial' && current.trialExpiresAt !== null && current.trialExpiresAt > now;
      if (current.plan === plan || (plan === 'free' && trialRunning)) return false;
      await repository.updateUser(tx, userId, { plan, updatedAt: now });
      await audit.record(
        tx,
        { actorId: null },
        {
          action: 'plan.subscription_changed',
          targetType: 'user',
          targetId: userId,
          details: { from: current.plan, to: plan, reason },
        },
      );
      await deps.track(tx, 'plan_changed', userId, { from: current.plan, to: plan, by: 'subscription' });
      await deps.events.publish('plan.changed', { userId, from: current.plan, to: plan });
      await afterCommit(
        () => sessionState.invalidateTokensBefore(userId, now.getTime()),
        () => {},
      );
      return true;
    },

    /**
     * After an erasure commits: every access token the person holds is refused on every instance
     * (their refresh tokens were deleted with their sessions).
     */
    async endAllAccess(userId: string): Promise<void> {
      await sessionState.invalidateTokensBefore(userId, clock.now().getTime() + 1);
    },
  };
}

export type AccountUseCases = ReturnType<typeof createAccountUseCases>;
