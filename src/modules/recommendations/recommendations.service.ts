import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import type { Actor } from '../../shared/actor.js';
import { isPremium } from '../../shared/permissions.js';
import type { AccessService } from '../access/index.js';
import type { AnalyticsService, Track } from '../analytics/index.js';
import { effectivePlan, type IdentityService } from '../identity/index.js';
import type { ProfilesService } from '../profiles/index.js';
import { type BlockType, type ComposedPlan, composePlan, type PlanBlock } from './plan-composer.js';

// Short enough that an item reaching its publish_at (no commit, so no invalidation) shows within minutes.
const PLAN_CACHE_TTL_MS = 15 * 60_000;
// Outlives every cached plan, so a counter that expired and restarted can never meet an old entry.
const GENERATION_TTL_MS = 365 * 86_400_000;
const CONTENT_GENERATION = 'reco:gen:content';
const userGeneration = (userId: string) => `reco:gen:user:${userId}`;

const PLANS = {
  diet: { blockType: 'diet_block', event: 'diet_plan_viewed' },
  protection: { blockType: 'protection_block', event: 'protection_plan_viewed' },
} as const satisfies Record<string, { blockType: BlockType; event: string }>;
export type PlanKind = keyof typeof PLANS;

export interface Plan extends ComposedPlan {
  plan: PlanKind;
  profile_completion: number;
  missing_fields: string[];
  generated_at: string;
  disclaimer: string;
}

const DISCLAIMER =
  'General prevention information chosen from your lifestyle profile, not medical advice. Talk to a health professional about your own situation.';

const INSIGHT_EVENTS = ['diet_plan_viewed', 'protection_plan_viewed', 'content_viewed', 'reminder_triggered'];
const INSIGHT_WEEKS = 12;
const WEEK_MS = 7 * 86_400_000;

/**
 * Diet and protection plans composed from published building blocks that match the person's profile,
 * cached per user in the shared store. A plan's cache key carries two generation counters: hers
 * (bumped when the person's profile changes) and the content's (bumped when what readers see changes),
 * so invalidation is one increment and reaches every instance.
 */
export function createRecommendationsService(deps: {
  db: Db;
  blocks: { publishedBlocks(types: BlockType[]): Promise<PlanBlock[]> };
  profiles: Pick<ProfilesService, 'facts'>;
  identity: Pick<IdentityService, 'getAccount'>;
  access: Pick<AccessService, 'recordPremiumUse'>;
  /** The person's own weekly event counts (empty after an objection to analytics). */
  engagement: Pick<AnalyticsService, 'weekly'>;
  /** Plans, keyed by the person's and the content's generation counters. */
  cache: ReadThroughCache;
  track: Track;
  clock: Clock;
}) {
  const { cache, clock } = deps;

  const premiumOf = async (userId: string) => {
    const account = await deps.identity.getAccount(userId);
    if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
    return isPremium(effectivePlan(account, clock.now()));
  };

  const compose = async (kind: PlanKind, userId: string, premium: boolean): Promise<Plan> => {
    const [{ facts, missing, completion }, blocks] = await Promise.all([
      deps.profiles.facts(userId),
      deps.blocks.publishedBlocks([PLANS[kind].blockType]),
    ]);
    const composed = composePlan(blocks, facts, { premium });
    return {
      plan: kind,
      ...composed,
      profile_completion: completion,
      missing_fields: missing,
      generated_at: clock.now().toISOString(),
      disclaimer: DISCLAIMER,
    };
  };

  return {
    async plan(actor: Actor, kind: PlanKind): Promise<Plan> {
      const premium = await premiumOf(actor.id);
      const [contentGen, userGen] = await Promise.all([
        cache.generation(CONTENT_GENERATION),
        cache.generation(userGeneration(actor.id)),
      ]);
      const load = () => compose(kind, actor.id, premium);
      const key = `reco:plan:${kind}:${actor.id}:${userGen}:${contentGen}:${premium ? 'p' : 'f'}`;
      // Without both generations a cached plan could be stale: compose it afresh.
      const plan =
        contentGen === undefined || userGen === undefined
          ? await load()
          : await cache.get(key, PLAN_CACHE_TTL_MS, load);
      await deps.track(deps.db, PLANS[kind].event, actor.id, {
        personalised: plan.personalised,
        items: plan.items.length,
      });
      return plan;
    },

    /** The person's profile or plan changed: the plans cached for them are stale. */
    async profileChanged(userId: string): Promise<void> {
      await cache.bump(userGeneration(userId), GENERATION_TTL_MS);
    },

    /** What readers see changed: every cached plan is stale. */
    async contentChanged(): Promise<void> {
      await cache.bump(CONTENT_GENERATION, GENERATION_TTL_MS);
    },

    /** Premium insights: the member's own engagement per week and what to do next. */
    async insights(actor: Actor) {
      await deps.access.recordPremiumUse(deps.db, actor.id, 'personalised_insights');
      const since = new Date(clock.now().getTime() - INSIGHT_WEEKS * WEEK_MS);
      const [weekly, { missing }] = await Promise.all([
        deps.engagement.weekly(actor.id, INSIGHT_EVENTS, since),
        deps.profiles.facts(actor.id),
      ]);
      const total = (name: string) =>
        weekly.filter((row) => row.name === name).reduce((sum, row) => sum + row.count, 0);
      const totals = {
        plans_viewed: total('diet_plan_viewed') + total('protection_plan_viewed'),
        content_read: total('content_viewed'),
        reminders_kept: total('reminder_triggered'),
      };
      const weeks = new Map<
        string,
        { week: string; plans_viewed: number; content_read: number; reminders_kept: number }
      >();
      for (const row of weekly) {
        const entry = weeks.get(row.week) ?? { week: row.week, plans_viewed: 0, content_read: 0, reminders_kept: 0 };
        if (row.name === 'content_viewed') entry.content_read += row.count;
        else if (row.name === 'reminder_triggered') entry.reminders_kept += row.count;
        else entry.plans_viewed += row.count;
        weeks.set(row.week, entry);
      }
      const next: { action: string; why: string }[] = [];
      if (missing.length > 0) {
        next.push({
          action: 'complete_profile',
          why: `Add ${missing.join(', ')} to get plans chosen for you rather than general ones`,
        });
      }
      if (total('protection_plan_viewed') === 0) {
        next.push({ action: 'view_protection_plan', why: 'See which screening and vaccination steps fit your age' });
      }
      if (totals.reminders_kept === 0) {
        next.push({ action: 'set_reminder', why: 'A reminder makes sure your next screening date is not missed' });
      }
      if (totals.content_read < 3) {
        next.push({ action: 'read_content', why: 'Short reads on HPV, screening and habits that lower your risk' });
      }
      if (total('diet_plan_viewed') === 0) {
        next.push({ action: 'view_diet_plan', why: 'A diet plan matched to how you eat' });
      }
      return {
        period: { from: since.toISOString(), to: clock.now().toISOString(), weeks: INSIGHT_WEEKS },
        totals,
        weekly: [...weeks.values()],
        next_steps: next,
      };
    },
  };
}

export type RecommendationsService = ReturnType<typeof createRecommendationsService>;
