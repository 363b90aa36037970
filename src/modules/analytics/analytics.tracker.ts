import type { SQL } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { type EventName, propertyError } from './analytics.catalogue.js';
import type { AnalyticsRepository, BatchEvent } from './analytics.repository.js';
import { sanitiseProperties } from './sanitise.js';

/** Records a product event inside the caller's transaction: it exists exactly when the action commits. */
export type Track = (
  tx: Db,
  name: EventName,
  userId: string | null,
  properties?: Record<string, unknown>,
) => Promise<void>;

/** Expressions on a user id from the modules that own them: consent, plan (identity), country (profiles). */
export interface SubjectExpressions {
  consentGranted: (userId: SQL, purpose: 'analytics') => SQL;
  plan: (userId: SQL) => SQL<string | null>;
  country: (userId: SQL) => SQL<string | null>;
}

export interface TrackerDeps {
  repository: AnalyticsRepository;
  clock: Clock;
  ids: IdGenerator;
  metrics: Metrics;
  logger: Logger;
  of: SubjectExpressions;
  /** Throw on a server event that breaks its schema (tests and development), else log it. */
  strict: boolean;
}

/**
 * The part of analytics every other module writes through, made first: `track` records a
 * server event in the caller's transaction, `store` a checked batch of client events, and
 * `consentChanged` makes or destroys a person's pseudonym secret in the consent change's
 * transaction (so withdrawing consent and unlinking happen together or not at all).
 */
export function createTracker(deps: TrackerDeps) {
  const { repository, clock, ids, metrics, logger } = deps;

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

  return {
    track,
    counted,

    /**
     * Stores checked client events in one statement, under the person's pseudonym when the person
     * is signed in and has granted analytics consent. Anonymous events (no `userId`) are stored
     * only the first time their `dedupe` key is seen, in this batch or before; the rest are
     * duplicates. Resolves with how many were stored and how many were duplicates, or `dropped`
     * without that consent (nothing stored).
     */
    async store(
      db: Db,
      userId: string | undefined,
      events: {
        name: EventName;
        time: Date;
        properties: Record<string, unknown>;
        /** The anonymous de-duplication key (device, event, item, UTC day); ignored for a signed-in person. */
        dedupe: { day: string; key: string };
      }[],
    ): Promise<{ stored: number; duplicates: number } | { dropped: number }> {
      const now = clock.now();
      // The person's consent, pseudonym, plan and country in one query.
      const context = userId
        ? await repository.subjectContext(db, userId, now, {
            ...deps.of,
            consent: (id) => deps.of.consentGranted(id, 'analytics'),
          })
        : undefined;
      if (userId && !context?.consented) {
        counted('client', 'dropped_no_consent', events.length);
        return { dropped: events.length };
      }
      // Repeats within the batch go here; repeats of earlier batches in the insert itself.
      const keys = new Set<string>();
      const rows: BatchEvent[] = [];
      for (const event of events) {
        if (!userId) {
          if (keys.has(event.dedupe.key)) continue;
          keys.add(event.dedupe.key);
        }
        rows.push({
          name: event.name,
          occurredAt: event.time,
          properties: sanitise(event.properties),
          ...(userId ? {} : { dedupe: event.dedupe }),
        });
      }
      const stored = await repository.insertBatch(
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
      const duplicates = events.length - stored;
      counted('client', 'stored', stored);
      counted('client', 'duplicate', duplicates);
      return { stored, duplicates };
    },

    /** Analytics consent changed: a grant makes a new pseudonym, a withdrawal destroys the secret. */
    async consentChanged(tx: Db, userId: string, granted: boolean): Promise<void> {
      if (granted) await repository.renew(tx, userId, clock.now());
      else await repository.forget(tx, userId, clock.now());
    },

    /** The person's current pseudonym, or null (never tracked, objected, or erased). */
    subjectOf: (db: Db, userId: string) => repository.currentSubject(db, userId),
  };
}

export type Tracker = ReturnType<typeof createTracker>;
