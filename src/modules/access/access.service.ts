import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Actor, Plan } from '../../shared/actor.js';
import { isPremium, PLAN_FEATURES, permissionsOf } from '../../shared/permissions.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import { effectivePlan, type IdentityService } from '../identity/index.js';
import type { AccessRepository } from './access.repository.js';
import type { FlagRow, FlagRules } from './access.tables.js';
import { evaluateFlag, type FlagSubject } from './flags.js';

const FLAGS_CHANNEL = 'flags:changed';
// A safety net only: changes normally arrive by pub/sub within milliseconds.
const FLAGS_MAX_AGE_MS = 30_000;
const DAY_MS = 86_400_000;

export interface FlagInput {
  key: string;
  description?: string;
  enabled?: boolean;
  rollout_percentage?: number;
  rules?: FlagRules;
  enable_at?: string | null;
  disable_at?: string | null;
}

export function flagToPublic(flag: FlagRow) {
  return {
    key: flag.key,
    description: flag.description,
    enabled: flag.enabled,
    rollout_percentage: flag.rolloutPercentage,
    rules: flag.rules,
    enable_at: flag.enableAt?.toISOString() ?? null,
    disable_at: flag.disableAt?.toISOString() ?? null,
    created_at: flag.createdAt.toISOString(),
    updated_at: flag.updatedAt.toISOString(),
  };
}

export function createAccessService(deps: {
  db: Db;
  repository: AccessRepository;
  identity: Pick<IdentityService, 'getAccount' | 'trialAvailable'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
}) {
  const { db, repository, clock } = deps;
  let cache: { flags: FlagRow[]; loadedAt: number } | undefined;
  let loading: Promise<FlagRow[]> | undefined;
  // Bumped by every change: a load that started before a change must not become the cache.
  let generation = 0;

  const invalidate = () => {
    generation += 1;
    cache = undefined;
    loading = undefined;
  };

  const loadFlags = async (): Promise<FlagRow[]> => {
    if (cache && clock.now().getTime() - cache.loadedAt < FLAGS_MAX_AGE_MS) return cache.flags;
    if (!loading) {
      const startedIn = generation;
      const load: Promise<FlagRow[]> = repository
        .allFlags(db)
        .then((flags) => {
          if (startedIn === generation) cache = { flags, loadedAt: clock.now().getTime() };
          return flags;
        })
        .finally(() => {
          if (loading === load) loading = undefined;
        });
      loading = load;
    }
    return loading;
  };

  const flagsChanged = async () => {
    invalidate();
    try {
      await deps.kv.publish(FLAGS_CHANNEL, String(clock.now().getTime()));
    } catch (error) {
      deps.logger.warn({ err: error }, 'could not announce a flag change; other instances see it within 30 s');
    }
  };

  type Account = NonNullable<Awaited<ReturnType<IdentityService['getAccount']>>>;
  const subjectFor = async (actor: Actor | undefined, known?: Account): Promise<FlagSubject> => {
    if (!actor) return { userId: null, role: null, plan: null, attributes: {} };
    const account = known ?? (await deps.identity.getAccount(actor.id));
    const plan = account ? effective(account) : null;
    return {
      userId: actor.id,
      role: actor.role,
      plan,
      attributes: { locale: account?.locale, time_zone: account?.timeZone },
    };
  };

  const effective = (account: { plan: Plan; trialExpiresAt: Date | null }): Plan => effectivePlan(account, clock.now());

  const currentPlan = async (userId: string): Promise<Plan | undefined> => {
    const account = await deps.identity.getAccount(userId);
    return account ? effective(account) : undefined;
  };

  const auditFlag = (tx: Db, actor: Actor, action: string, key: string, details: Record<string, unknown> = {}) =>
    deps.audit.record(
      tx,
      { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
      { action, targetType: 'feature_flag', targetId: key, details },
    );

  const toRow = (input: Partial<FlagInput>) => ({
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
    ...(input.rollout_percentage !== undefined ? { rolloutPercentage: input.rollout_percentage } : {}),
    ...(input.rules !== undefined ? { rules: input.rules } : {}),
    ...(input.enable_at !== undefined ? { enableAt: input.enable_at ? new Date(input.enable_at) : null } : {}),
    ...(input.disable_at !== undefined ? { disableAt: input.disable_at ? new Date(input.disable_at) : null } : {}),
  });

  return {
    /** Other instances drop their flag cache when one of them changes a flag. */
    async listenForChanges(): Promise<() => Promise<void>> {
      return deps.kv.subscribe(FLAGS_CHANNEL, invalidate);
    },

    /** Throws 403 PREMIUM_REQUIRED unless the user is on premium or an active trial. */
    async requirePremium(actor: Actor): Promise<Plan> {
      const plan = await currentPlan(actor.id);
      if (!plan || !isPremium(plan)) {
        throw new AppError('PREMIUM_REQUIRED', 'This feature needs premium or an active trial');
      }
      return plan;
    },

    /** Counts one use of a gated feature, in the caller's transaction. */
    async recordPremiumUse(tx: Db, userId: string, featureName: string): Promise<void> {
      const count = await repository.countPremiumUse(tx, userId, featureName, clock.now());
      await deps.track(tx, 'premium_feature_used', userId, { feature: featureName, usage_count: count });
    },

    async isEnabled(key: string, actor: Actor | undefined): Promise<boolean> {
      const flag = (await loadFlags()).find((candidate) => candidate.key === key);
      if (!flag) return false;
      return evaluateFlag(flag, await subjectFor(actor), clock.now());
    },

    async entitlements(actor: Actor) {
      const account = await deps.identity.getAccount(actor.id);
      if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
      const plan = effective(account);
      const now = clock.now();
      const trialDaysLeft =
        account.plan === 'trial' && account.trialExpiresAt && account.trialExpiresAt > now
          ? Math.ceil((account.trialExpiresAt.getTime() - now.getTime()) / DAY_MS)
          : 0;
      const subject = await subjectFor(actor, account);
      const flags: Record<string, boolean> = {};
      for (const flag of await loadFlags()) flags[flag.key] = evaluateFlag(flag, subject, now);
      const usage = await repository.premiumUsage(db, actor.id);
      return {
        role: actor.role,
        plan,
        trial_expires_at: account.trialExpiresAt?.toISOString() ?? null,
        trial_days_left: trialDaysLeft,
        trial_available: plan !== 'premium' && (await deps.identity.trialAvailable(account)),
        permissions: permissionsOf(actor.role),
        features: [...PLAN_FEATURES[plan]],
        flags,
        premium_usage: Object.fromEntries(usage.map((row) => [row.featureName, row.usageCount])),
      };
    },

    async listFlags() {
      return (await repository.allFlags(db)).map(flagToPublic);
    },

    async createFlag(actor: Actor, input: FlagInput) {
      const flag = await inTransaction(db, async (tx) => {
        const now = clock.now();
        const created = await repository.insertFlag(tx, {
          key: input.key,
          description: input.description ?? '',
          enabled: input.enabled ?? false,
          rolloutPercentage: input.rollout_percentage ?? 0,
          rules: input.rules ?? {},
          enableAt: input.enable_at ? new Date(input.enable_at) : null,
          disableAt: input.disable_at ? new Date(input.disable_at) : null,
          createdAt: now,
          updatedAt: now,
        });
        if (!created) throw new AppError('FLAG_EXISTS', `A flag with key "${input.key}" already exists`);
        await auditFlag(tx, actor, 'flag.created', input.key, { flag: flagToPublic(created) });
        return created;
      });
      await flagsChanged();
      return flagToPublic(flag);
    },

    async updateFlag(actor: Actor, key: string, patch: Omit<Partial<FlagInput>, 'key'>) {
      const flag = await inTransaction(db, async (tx) => {
        const before = await repository.findFlag(tx, key);
        if (!before) throw new AppError('NOT_FOUND', 'Flag not found');
        const after = await repository.updateFlag(tx, key, { ...toRow(patch), updatedAt: clock.now() });
        await auditFlag(tx, actor, 'flag.updated', key, { changes: patch });
        return after as FlagRow;
      });
      await flagsChanged();
      return flagToPublic(flag);
    },

    async deleteFlag(actor: Actor, key: string): Promise<void> {
      await inTransaction(db, async (tx) => {
        if (!(await repository.deleteFlag(tx, key))) throw new AppError('NOT_FOUND', 'Flag not found');
        await auditFlag(tx, actor, 'flag.deleted', key);
      });
      await flagsChanged();
    },
  };
}

export type AccessService = ReturnType<typeof createAccessService>;
