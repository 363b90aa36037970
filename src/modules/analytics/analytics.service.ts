import { eq } from 'drizzle-orm';
import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { appMeta } from '../../infra/db/meta.tables.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import { isEventName } from './analytics.catalogue.js';
import { rebuildFacts } from './analytics.facts.js';
import { createIngest } from './analytics.ingest.js';
import { ensurePartitions, rawCutoff } from './analytics.maintenance.js';
import * as reports from './analytics.reports.js';
import type { AnalyticsRepository } from './analytics.repository.js';
import { DEMO_HISTORY_META_KEY } from './analytics.seed.js';
import type { Tracker } from './analytics.tracker.js';

const REPORT_CACHE_TTL_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export interface ReportQuery {
  from?: string;
  to?: string;
  plan?: 'free' | 'trial' | 'premium';
  country?: string;
}

// Stored events run newest first by (occurred_at, id); the cursor is the last row's pair.
const eventCursor = cursorCodec<{ at: Date; id: string }>({ at: cursorField.time, id: cursorField.uuid });

/**
 * What admins and premium members read: the reports (cached 5 minutes), the stored events, a
 * person's own engagement, the daily metrics for the Sheets sync, and the event partitions'
 * upkeep.
 */
export function createAnalyticsService(deps: {
  db: Db;
  /** The reports run here: the read replica when there is one, else `db`. */
  readDb: Db;
  repository: AnalyticsRepository;
  cache: ReadThroughCache;
  clock: Clock;
  tracker: Tracker;
  metrics: Metrics;
  /** Counts a use of a premium feature (the access module), for the advanced dashboard. */
  recordPremiumUse: (userId: string, feature: string) => Promise<void>;
  /** Content titles for the content report (the content module). */
  contentTitles?: (ids: string[]) => Promise<Map<string, string>>;
  rawRetentionDays: number;
}) {
  const { db, readDb, repository, clock } = deps;

  /** Resolves the report range: whole UTC days, `to` inclusive; default the last 30 days. */
  const rangeOf = (query: ReportQuery): reports.ReportRange & { fromDay: string; toDay: string } => {
    const today = clock.now().toISOString().slice(0, 10);
    const toDay = query.to ?? today;
    const fromDay =
      query.from ?? new Date(Date.parse(`${toDay}T00:00:00.000Z`) - 29 * DAY_MS).toISOString().slice(0, 10);
    const from = new Date(`${fromDay}T00:00:00.000Z`);
    const to = new Date(Date.parse(`${toDay}T00:00:00.000Z`) + DAY_MS);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) {
      throw new AppError('VALIDATION_ERROR', 'from and to must be dates (YYYY-MM-DD)');
    }
    if (from.getTime() >= to.getTime()) throw invalidField('query.from', 'must not be after to');
    if (to.getTime() - from.getTime() > 366 * DAY_MS) {
      throw new AppError('VALIDATION_ERROR', 'A report covers at most 366 days', {
        details: [{ field: 'query.from', message: 'at most 366 days before to' }],
      });
    }
    return { from, to, fromDay, toDay, plan: query.plan, country: query.country?.toUpperCase() };
  };

  /** A report, cached for 5 minutes in the shared store under its name and parameters. */
  const cached = <T>(name: string, query: Record<string, unknown>, compute: () => Promise<T>) =>
    deps.cache.get(`analytics:report:${name}:${JSON.stringify(query)}`, REPORT_CACHE_TTL_MS, compute);

  const report = <T>(
    name: string,
    query: ReportQuery,
    extra: Record<string, unknown>,
    run: (range: ReturnType<typeof rangeOf>) => Promise<T>,
  ) => {
    const range = rangeOf(query);
    const key = { from: range.fromDay, to: range.toDay, plan: range.plan, country: range.country, ...extra };
    return cached(name, key, async () => ({ from: range.fromDay, to: range.toDay, ...(await run(range)) }));
  };

  return {
    ingest: createIngest({ db, tracker: deps.tracker, clock, metrics: deps.metrics }),

    /** Whether the reports include the demo's synthetic history, and its span (the dashboard says so). */
    async demoHistory() {
      const [row] = await readDb.select().from(appMeta).where(eq(appMeta.key, DEMO_HISTORY_META_KEY)).limit(1);
      const value = (row?.value ?? {}) as { people?: number; events?: number; from?: string; to?: string };
      return {
        synthetic: row !== undefined,
        people: value.people ?? null,
        events: value.events ?? null,
        from: value.from ?? null,
        to: value.to ?? null,
      };
    },

    /** The person's current pseudonym, or null (never tracked, objected, or erased). */
    subjectOf: (userId: string) => deps.tracker.subjectOf(db, userId),

    funnel: (journey: 'wellness' | 'marketplace', query: ReportQuery) =>
      report(`funnel.${journey}`, query, {}, async (range) => ({
        journey,
        steps:
          journey === 'wellness'
            ? await reports.wellnessFunnel(readDb, range)
            : await reports.marketplaceFunnel(readDb, range),
      })),
    retention: (query: ReportQuery) =>
      report('retention', query, {}, async (range) => ({
        cohorts: await reports.retention(readDb, range, clock.now()),
      })),
    activation: (query: ReportQuery) => report('activation', query, {}, (range) => reports.activation(readDb, range)),
    engagement: (query: ReportQuery) =>
      report('engagement', query, {}, (range) =>
        reports.engagement(readDb, range, rawCutoff(clock.now(), deps.rawRetentionDays)),
      ),
    adoption: (query: ReportQuery) => report('adoption', query, {}, (range) => reports.adoption(readDb, range)),
    conversion: (query: ReportQuery) => report('conversion', query, {}, (range) => reports.conversion(readDb, range)),
    content: (query: ReportQuery) =>
      report('content', query, {}, async (range) => {
        const items = await reports.contentPerformance(readDb, range);
        const titles = deps.contentTitles ? await deps.contentTitles(items.map((item) => item.content_id)) : new Map();
        return { items: items.map((item) => ({ ...item, title: titles.get(item.content_id) ?? null })) };
      }),
    support: (query: ReportQuery) => report('support', query, {}, (range) => reports.support(readDb, range)),

    /** The newest stored events, as stored; `cursor` continues after the last one. */
    async latestEvents(query: { name?: string; from?: string; to?: string; cursor?: string; limit: number }) {
      if (query.name !== undefined && !isEventName(query.name)) {
        throw invalidField('query.name', 'is not a catalogued event');
      }
      const range = rangeOf({ from: query.from, to: query.to });
      const before = query.cursor ? eventCursor.decode(query.cursor) : undefined;
      const rows = await repository.latest(db, {
        name: query.name,
        from: range.from,
        to: range.to,
        before,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        events: page.map((row) => ({
          id: row.id,
          name: row.name,
          occurred_at: row.occurredAt.toISOString(),
          subject: row.subject,
          cohort_at: row.cohortAt?.toISOString() ?? null,
          source: row.source,
          plan: row.plan,
          country: row.country,
          properties: row.properties,
        })),
        nextCursor: rows.length > query.limit && last ? eventCursor.encode({ at: last.occurredAt, id: last.id }) : null,
      };
    },

    /** The member's own engagement (the premium dashboard): weekly activity, what they use, how they compare. */
    async advanced(actor: Actor, weeks = 12) {
      await deps.recordPremiumUse(actor.id, 'advanced_analytics');
      const subject = await repository.currentSubject(db, actor.id);
      const now = clock.now();
      if (!subject) {
        return {
          linked: false,
          weeks,
          weekly: [],
          by_event: [],
          active_days: 0,
          score: 0,
          platform_median_score: null,
        };
      }
      const since = new Date(now.getTime() - weeks * 7 * DAY_MS);
      const [mine, platform] = await Promise.all([
        reports.subjectActivity(db, subject, since),
        cached('advanced.platform', { weeks }, () => reports.platformMedianScore(db, since)),
      ]);
      return { linked: true, weeks, ...mine, platform_median_score: platform };
    },

    /** The member's weekly counts of the given events (the premium insights of recommendations). */
    async weekly(userId: string, names: string[], since: Date) {
      const subject = await repository.currentSubject(db, userId);
      return subject ? reports.weeklyCounts(db, subject, names, since) : [];
    },

    /** One UTC day's metrics (the Sheets row). */
    dailyMetrics: (day: string) =>
      reports.dailyMetrics(
        db,
        day,
        Date.parse(`${day}T00:00:00.000Z`) < rawCutoff(clock.now(), deps.rawRetentionDays).getTime(),
      ),

    /** Recomputes every pseudonym's facts from the raw events (a repair; the inserts keep them current). */
    rebuildFacts: () => rebuildFacts(db, clock.now()),

    /** Creates the monthly partitions around now that are missing (in a transaction of its own unless given one). */
    ensurePartitions: (tx?: Db) =>
      tx ? ensurePartitions(tx, clock.now()) : inTransaction(db, (own) => ensurePartitions(own, clock.now())),
  };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
