import type { SQL } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { type EventName, propertyError } from './analytics.catalogue.js';
import { createDeferredEvents, type DeferredOptions, type PendingEvent } from './analytics.deferred.js';
import type { AnalyticsRepository, BatchEvent } from './analytics.repository.js';
import { sanitiseProperties } from './sanitise.js';

/** Records a product event inside the caller's transaction: it exists exactly when the action commits. */
export interface Track {
  (tx: Db, name: EventName, userId: string | null, properties?: Record<string, unknown>): Promise<void>;
  /**
   * Records the event after the request, batched with others (analytics.deferred.ts): for hot read
   * paths outside any transaction, where an insert per request would cost more than the answer.
   * `db` is the root handle, never a transaction. The event keeps the time it was recorded; it is
   * stored within about a second, and at the latest when the app closes.
   */
  later(db: Db, name: EventName, userId: string | null, properties?: Record<string, unknown>): void;
  /** Stores every event recorded with `later` so far. */
  flush(): Promise<void>;
}

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
  /** How events recorded with `track.later` are batched (defaults: DEFERRED_DEFAULTS). */
  deferred?: DeferredOptions;
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

  /** The properties as stored; one outside the event's schema throws when strict, else is logged. */
  const checked = (name: EventName, properties: Record<string, unknown>) => {
    const error = propertyError(name, properties);
    if (error) {
      if (deps.strict) throw new Error(`analytics: ${name} properties do not fit the catalogue: ${error}`);
      logger.warn({ event: name, error }, 'analytics: server event outside its schema (stored sanitised)');
    }
    return sanitise(properties);
  };

  /**
   * Server events about one person (or anonymous) in one insert. The person's pseudonym, when
   * made now, begins at the first of them, as it would have had each been stored when it happened.
   */
  const storeServer = async (db: Db, userId: string | null, events: BatchEvent[]) => {
    const now = clock.now();
    const first = events[0]?.occurredAt ?? now;
    const context = userId ? await repository.subjectContext(db, userId, first, deps.of) : undefined;
    await repository.insertBatch(
      db,
      {
        subject: context?.subject ?? null,
        cohortAt: context?.cohortAt ?? null,
        source: 'server',
        plan: context?.plan ?? null,
        country: context?.country ?? null,
        now,
        batchId: ids(),
      },
      events,
    );
  };

  const deferred = createDeferredEvents({
    store: (db, userId, events: PendingEvent[]) => storeServer(db, userId, events),
    counted: (outcome, count) => counted('server', outcome, count),
    logger,
    options: deps.deferred,
  });

  const track: Track = Object.assign(
    async (tx: Db, name: EventName, userId: string | null, properties: Record<string, unknown> = {}) => {
      await storeServer(tx, userId, [{ name, occurredAt: clock.now(), properties: checked(name, properties) }]);
      counted('server', 'stored');
    },
    {
      later(db: Db, name: EventName, userId: string | null, properties: Record<string, unknown> = {}) {
        deferred.record({ db, name, userId, occurredAt: clock.now(), properties: checked(name, properties) });
      },
      flush: () => deferred.flush(),
    },
  );

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

    /** Stores the events recorded with `track.later` that still wait (the app is closing). */
    close: () => deferred.close(),
  };
}

export type Tracker = ReturnType<typeof createTracker>;
