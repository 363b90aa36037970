import type { SQL } from 'drizzle-orm';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import {
  declaredProperties,
  EVENT_CATALOGUE,
  type EventName,
  isEventName,
  propertyError,
} from './analytics.catalogue.js';
import { rebuildFacts } from './analytics.facts.js';
import { ensurePartitions, rawCutoff, rollUp } from './analytics.maintenance.js';
import * as reports from './analytics.reports.js';
import { type AnalyticsRepository, type BatchEvent, createAnalyticsRepository } from './analytics.repository.js';
import { sanitiseProperties } from './sanitise.js';

/** Records a product event inside the caller's transaction: it exists exactly when the action commits. */
export type Track = (
  tx: Db,
  name: EventName,
  userId: string | null,
  properties?: Record<string, unknown>,
) => Promise<void>;

export const MAX_BATCH = 500;
/** How far back a client's event time may be (offline apps send late), and ahead (clock skew). */
export const CLIENT_TIME_PAST_MS = 7 * 86_400_000;
export const CLIENT_TIME_FUTURE_MS = 10 * 60_000;
const REPORT_CACHE_TTL_MS = 5 * 60_000;
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type RejectReason =
  | 'invalid_event'
  | 'unknown_event'
  | 'server_only_event'
  | 'invalid_time'
  | 'time_out_of_range'
  | 'invalid_device_id'
  | 'invalid_properties';

export interface IngestResult {
  accepted: number;
  rejected: { index: number; reason: RejectReason; detail: string }[];
  dropped_no_consent: number;
  dropped_properties: number;
}

export interface ReportQuery {
  from?: string;
  to?: string;
  plan?: 'free' | 'trial' | 'premium';
  country?: string;
}

const DAY_MS = 86_400_000;
const EVENT_KEYS = new Set(['name', 'time', 'device_id', 'properties']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function createAnalyticsService(deps: {
  db: Db;
  kv: KeyValueStore;
  clock: Clock;
  ids: IdGenerator;
  metrics: Metrics;
  logger: Logger;
  /** Expressions on a user id from the modules that own them: consent, plan (identity), country (profiles). */
  of: {
    consentGranted: (userId: SQL, purpose: 'analytics') => SQL;
    plan: (userId: SQL) => SQL<string | null>;
    country: (userId: SQL) => SQL<string | null>;
  };
  /** Counts a use of a premium feature (the access module), for the advanced dashboard. */
  recordPremiumUse: (userId: string, feature: string) => Promise<void>;
  /** Content titles for the content report (the content module). */
  contentTitles?: (ids: string[]) => Promise<Map<string, string>>;
  rawRetentionDays: number;
  /** Throw on a server event that breaks its schema (tests and development), else log it. */
  strict: boolean;
  repository?: AnalyticsRepository;
}) {
  const { db, kv, clock, ids, metrics, logger } = deps;
  const repository = deps.repository ?? createAnalyticsRepository();

  const counted = (source: 'server' | 'client', outcome: string, count = 1) => {
    if (count > 0) metrics.analyticsEvents.inc({ source, outcome }, count);
  };

  const sanitise = (properties: Record<string, unknown>) => {
    const result = sanitiseProperties(properties);
    if (result.removed > 0) metrics.analyticsSanitised.inc({ action: 'removed' }, result.removed);
    if (result.masked > 0) metrics.analyticsSanitised.inc({ action: 'masked' }, result.masked);
    return result.properties;
  };

  const track: Track = async (tx, name, userId, properties = {}) => {
    const error = propertyError(name, properties);
    if (error) {
      if (deps.strict) throw new Error(`analytics: ${name} properties do not fit the catalogue: ${error}`);
      logger.warn({ event: name, error }, 'analytics: server event outside its schema (stored sanitised)');
    }
    const now = clock.now();
    const context = userId ? await repository.subjectContext(tx, userId, now, deps.of) : undefined;
    await repository.insertBatch(
      tx,
      {
        subject: context?.subject ?? null,
        cohortAt: context?.cohortAt ?? null,
        source: 'server',
        plan: context?.plan ?? null,
        country: context?.country ?? null,
        now,
        batchId: ids(),
      },
      [{ name, occurredAt: now, properties: sanitise(properties) }],
    );
    counted('server', 'stored');
  };

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
    if (from.getTime() >= to.getTime()) {
      throw new AppError('VALIDATION_ERROR', 'from must not be after to', {
        details: [{ field: 'query.from', message: 'must not be after to' }],
      });
    }
    if (to.getTime() - from.getTime() > 366 * DAY_MS) {
      throw new AppError('VALIDATION_ERROR', 'A report covers at most 366 days', {
        details: [{ field: 'query.from', message: 'at most 366 days before to' }],
      });
    }
    return { from, to, fromDay, toDay, plan: query.plan, country: query.country?.toUpperCase() };
  };

  /** A report, cached for 5 minutes in the shared store under its name and parameters. */
  const cached = async <T>(name: string, query: Record<string, unknown>, compute: () => Promise<T>) => {
    const key = `analytics:report:${name}:${JSON.stringify(query)}`;
    const hit = await kv.get(key);
    if (hit !== undefined) {
      metrics.cacheRequests.inc({ cache: 'analytics_report', result: 'hit' });
      return JSON.parse(hit) as T;
    }
    metrics.cacheRequests.inc({ cache: 'analytics_report', result: 'miss' });
    const value = await compute();
    await kv.set(key, JSON.stringify(value), REPORT_CACHE_TTL_MS);
    return value;
  };

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

  /** Checks one client event; the reason it is refused, or the row to store. */
  const checkClientEvent = (
    raw: unknown,
    now: number,
  ):
    | { reason: RejectReason; detail: string }
    | { name: EventName; time: Date; properties: Record<string, unknown>; dropped: number } => {
    if (!isRecord(raw)) return { reason: 'invalid_event', detail: 'an event is an object' };
    const unknownKey = Object.keys(raw).find((key) => !EVENT_KEYS.has(key));
    if (unknownKey) return { reason: 'invalid_event', detail: `unknown field ${unknownKey}` };
    const { name, time, device_id: deviceId, properties = {} } = raw;
    if (typeof name !== 'string' || !isEventName(name)) {
      return { reason: 'unknown_event', detail: 'name is not in the event catalogue' };
    }
    if (EVENT_CATALOGUE[name].origin !== 'client') {
      return { reason: 'server_only_event', detail: `${name} is recorded by the server only` };
    }
    const at = typeof time === 'string' ? Date.parse(time) : Number.NaN;
    if (Number.isNaN(at)) return { reason: 'invalid_time', detail: 'time is an ISO 8601 date-time' };
    if (at < now - CLIENT_TIME_PAST_MS || at > now + CLIENT_TIME_FUTURE_MS) {
      return { reason: 'time_out_of_range', detail: 'time is at most 7 days ago and not in the future' };
    }
    if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) {
      return { reason: 'invalid_device_id', detail: 'device_id is 1-128 letters, digits or . _ : -' };
    }
    if (!isRecord(properties)) return { reason: 'invalid_properties', detail: 'properties is an object' };
    const declared = declaredProperties(name, properties);
    const error = propertyError(name, declared.properties);
    if (error) return { reason: 'invalid_properties', detail: error };
    return { name, time: new Date(at), properties: declared.properties, dropped: declared.dropped };
  };

  return {
    track,

    /**
     * A batch of client events. Each is checked on its own; the good ones are stored in one
     * statement. A signed-in person's events are stored only with her analytics consent
     * (otherwise dropped and counted). The device id is checked but never stored.
     */
    async ingest(actor: Actor | undefined, events: unknown[]): Promise<IngestResult> {
      if (events.length > MAX_BATCH) throw new AppError('VALIDATION_ERROR', `At most ${MAX_BATCH} events a batch`);
      const now = clock.now();
      const rejected: IngestResult['rejected'] = [];
      const good: { name: EventName; time: Date; properties: Record<string, unknown> }[] = [];
      let droppedProperties = 0;
      events.forEach((raw, index) => {
        const checked = checkClientEvent(raw, now.getTime());
        if ('reason' in checked) rejected.push({ index, ...checked });
        else {
          good.push(checked);
          droppedProperties += checked.dropped;
        }
      });
      counted('client', 'rejected', rejected.length);
      if (droppedProperties > 0) metrics.analyticsSanitised.inc({ action: 'undeclared' }, droppedProperties);
      const answer = (accepted: number, droppedNoConsent: number): IngestResult => ({
        accepted,
        rejected,
        dropped_no_consent: droppedNoConsent,
        dropped_properties: droppedProperties,
      });
      if (good.length === 0) return answer(0, 0);
      // Her consent, pseudonym, plan and country in one query.
      const context = actor
        ? await repository.subjectContext(db, actor.id, now, {
            ...deps.of,
            consent: (id) => deps.of.consentGranted(id, 'analytics'),
          })
        : undefined;
      if (actor && !context?.consented) {
        counted('client', 'dropped_no_consent', good.length);
        return answer(0, good.length);
      }
      const rows: BatchEvent[] = good.map((event) => ({
        name: event.name,
        occurredAt: event.time,
        properties: sanitise(event.properties),
      }));
      await repository.insertBatch(
        db,
        {
          subject: context?.subject ?? null,
          cohortAt: context?.cohortAt ?? null,
          source: 'client',
          plan: context?.plan ?? null,
          country: context?.country ?? null,
          now,
          batchId: ids(),
        },
        rows,
      );
      counted('client', 'stored', rows.length);
      return answer(rows.length, 0);
    },

    /** Analytics consent changed: a grant makes a new pseudonym, a withdrawal destroys the secret. */
    async consentChanged(tx: Db, userId: string, granted: boolean): Promise<void> {
      if (granted) await repository.renew(tx, userId, clock.now());
      else await repository.forget(tx, userId, clock.now());
    },

    /** Her current pseudonym, or null (never tracked, objected, or erased). */
    subjectOf: (userId: string) => repository.currentSubject(db, userId),

    funnel: (journey: 'wellness' | 'marketplace', query: ReportQuery) =>
      report(`funnel.${journey}`, query, {}, async (range) => ({
        journey,
        steps:
          journey === 'wellness' ? await reports.wellnessFunnel(db, range) : await reports.marketplaceFunnel(db, range),
      })),
    retention: (query: ReportQuery) =>
      report('retention', query, {}, async (range) => ({ cohorts: await reports.retention(db, range, clock.now()) })),
    activation: (query: ReportQuery) => report('activation', query, {}, (range) => reports.activation(db, range)),
    engagement: (query: ReportQuery) =>
      report('engagement', query, {}, (range) =>
        reports.engagement(db, range, rawCutoff(clock.now(), deps.rawRetentionDays)),
      ),
    adoption: (query: ReportQuery) => report('adoption', query, {}, (range) => reports.adoption(db, range)),
    conversion: (query: ReportQuery) => report('conversion', query, {}, (range) => reports.conversion(db, range)),
    content: (query: ReportQuery) =>
      report('content', query, {}, async (range) => {
        const items = await reports.contentPerformance(db, range);
        const titles = deps.contentTitles ? await deps.contentTitles(items.map((item) => item.content_id)) : new Map();
        return { items: items.map((item) => ({ ...item, title: titles.get(item.content_id) ?? null })) };
      }),
    support: (query: ReportQuery) => report('support', query, {}, (range) => reports.support(db, range)),

    /** The newest stored events, as stored; `cursor` continues after the last one. */
    async latestEvents(query: { name?: string; from?: string; to?: string; cursor?: string; limit: number }) {
      if (query.name !== undefined && !isEventName(query.name)) {
        throw new AppError('VALIDATION_ERROR', 'name is not in the event catalogue', {
          details: [{ field: 'query.name', message: 'is not a catalogued event' }],
        });
      }
      const range = rangeOf({ from: query.from, to: query.to });
      const before = query.cursor ? decodeCursor(query.cursor) : undefined;
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
        nextCursor: rows.length > query.limit && last ? encodeCursor(last.occurredAt, last.id) : null,
      };
    },

    /** Her own engagement (the premium dashboard): weekly activity, what she uses, how she compares. */
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

    /** Her weekly counts of the given events (the premium insights of recommendations). */
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

    /** Creates the monthly partitions around now that are missing. */
    ensurePartitions: (tx: Db = db) => ensurePartitions(tx, clock.now()),

    /**
     * The retention rule: the months ahead get their partitions, and raw events past the raw
     * window are rolled up and removed (the count is the raw rows removed).
     */
    retentionRules() {
      return [
        {
          name: 'analytics.rollup',
          run: async (tx: Db, now: Date) => {
            const created = await ensurePartitions(tx, now);
            if (created.length > 0) logger.info({ partitions: created }, 'analytics: event partitions created');
            return rollUp(tx, now, deps.rawRetentionDays);
          },
        },
      ];
    },

    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'analytics',
        description:
          'Product events (event name, sanitised properties, time, plan, country) under a pseudonym made from your id and a secret kept for you',
        purposes: ['improving the product', 'counting usage in aggregate'],
        legalBasis:
          'consent (analytics) for events your app sends; legitimate interest for server-side counts, which you can object to by withdrawing analytics consent',
        retention: `raw events ${deps.rawRetentionDays} days, then daily counts without any pseudonym`,
        tables: ['product_events', 'analytics_subject_keys', 'analytics_subject_facts'],
        async export(tx, userId) {
          const subject = await repository.currentSubject(tx, userId);
          if (!subject) return { subject: null, events: [] };
          const rows = await repository.eventsOfSubject(tx, subject);
          return {
            subject,
            events: rows.map((row) => ({
              name: row.name,
              properties: row.properties,
              occurred_at: row.occurredAt.toISOString(),
            })),
          };
        },
        async erase(tx, userId) {
          const had = await repository.forget(tx, userId, clock.now());
          return {
            action: 'pseudonymised',
            rows: had ? 1 : 0,
            note: 'your analytics secret was destroyed: past events still count but can no longer be tied to you',
          };
        },
      };
    },
  };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;

// Stored events run newest first by (occurred_at, id); the cursor is the last row's pair.
const eventCursor = cursorCodec<{ at: Date; id: string }>({ at: cursorField.time, id: cursorField.uuid });
const encodeCursor = (at: Date, id: string) => eventCursor.encode({ at, id });
const decodeCursor = (cursor: string) => eventCursor.decode(cursor);
