import { AsyncResource } from 'node:async_hooks';
import type { Db } from '../../infra/db/client.js';
import type { Logger } from '../../infra/logger.js';
import type { EventName } from './analytics.catalogue.js';

/** A server event recorded for later: checked and sanitised already, stamped with when it happened. */
export interface PendingEvent {
  /** Where it is written (the root handle, never a transaction: the event outlives the request). */
  db: Db;
  name: EventName;
  userId: string | null;
  occurredAt: Date;
  properties: Record<string, unknown>;
  /** Flushes that failed to store it so far. */
  attempts?: number;
}

export interface DeferredOptions {
  /** An event waits at most this long before a flush starts (ms). */
  flushMs?: number;
  /** A flush starts at once when this many events wait. */
  batchSize?: number;
  /**
   * At most this many events wait. While the database refuses them (each failed flush puts its
   * events back and retries `flushMs` later), more are dropped and counted as `dropped_overflow`.
   */
  maxPending?: number;
  /**
   * An event is tried this many times at most (about `flushMs` apart), then dropped and counted as
   * `lost`: one the database refuses for good must not hold its place in the buffer for ever.
   */
  maxAttempts?: number;
}

export const DEFERRED_DEFAULTS = { flushMs: 1000, batchSize: 500, maxPending: 10_000, maxAttempts: 60 } as const;

/**
 * Server events stored after the request that caused them, in batches: one insert per person (or
 * one for all the anonymous ones) per flush, instead of one insert per request. A flush runs
 * `flushMs` after the first waiting event, or as soon as `batchSize` wait; one runs at a time.
 * Closing stores what waits. Kept only in this process's memory until stored, so a crash loses
 * at most the last `flushMs` of them; a database that stays down fills the bounded buffer, then
 * new events are dropped and counted rather than held without limit.
 */
export function createDeferredEvents(deps: {
  /** Stores one person's (or, with a null user, anonymous) events in one statement. */
  store(db: Db, userId: string | null, events: PendingEvent[]): Promise<void>;
  /** Counts events by outcome: `stored`, `dropped_overflow` (buffer full), `lost` (refused for good, or at shutdown). */
  counted(outcome: 'stored' | 'dropped_overflow' | 'lost', count: number): void;
  logger: Pick<Logger, 'warn' | 'error'>;
  options?: DeferredOptions;
}) {
  const { flushMs, batchSize, maxPending, maxAttempts } = { ...DEFERRED_DEFAULTS, ...deps.options };
  let waiting: PendingEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let droppedSinceWarning = 0;
  // Flushes run in the async context of this factory, never of the request that set them off:
  // one recorded inside a transaction must not inherit it (the guard would refuse the insert).
  const detached = new AsyncResource('analytics-deferred');
  const flushDetached = () => detached.runInAsyncScope(() => void flush());

  const schedule = () => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flushDetached();
    }, flushMs);
    // A waiting event never keeps the process alive: closing (graceful shutdown) stores it.
    timer.unref();
  };

  const drop = (count: number) => {
    deps.counted('dropped_overflow', count);
    droppedSinceWarning += count;
  };

  /** Groups by database, then person, keeping each person's events in the order they happened. */
  const groups = (events: PendingEvent[]) => {
    const byDb = new Map<Db, Map<string | null, PendingEvent[]>>();
    for (const event of events) {
      let byUser = byDb.get(event.db);
      if (!byUser) {
        byUser = new Map();
        byDb.set(event.db, byUser);
      }
      const list = byUser.get(event.userId);
      if (list) list.push(event);
      else byUser.set(event.userId, [event]);
    }
    return [...byDb].flatMap(([db, byUser]) => [...byUser].map(([userId, list]) => ({ db, userId, list })));
  };

  /** Stores everything waiting now; what the database refuses waits again, ahead of newer events. */
  const drain = async () => {
    clearTimeout(timer);
    timer = undefined;
    const taken = waiting;
    waiting = [];
    const refused: PendingEvent[] = [];
    let lastError: unknown;
    for (const { db, userId, list } of groups(taken)) {
      try {
        await deps.store(db, userId, list);
        deps.counted('stored', list.length);
      } catch (error) {
        refused.push(...list);
        lastError = error;
      }
    }
    if (refused.length > 0) {
      const retried = refused.filter((event) => {
        event.attempts = (event.attempts ?? 0) + 1;
        return event.attempts < maxAttempts;
      });
      if (retried.length < refused.length) {
        deps.counted('lost', refused.length - retried.length);
        deps.logger.error(
          { err: lastError, lost: refused.length - retried.length },
          `analytics: deferred events refused ${maxAttempts} times; dropped`,
        );
      }
      waiting = [...retried, ...waiting];
      // Over the bound, the newest go: they were the last to arrive.
      if (waiting.length > maxPending) drop(waiting.splice(maxPending).length);
      deps.logger.warn(
        { err: lastError, waiting: waiting.length, dropped: droppedSinceWarning },
        `analytics: ${refused.length} deferred events not stored; retrying in ${flushMs} ms`,
      );
      droppedSinceWarning = 0;
    } else if (droppedSinceWarning > 0) {
      deps.logger.warn(
        { dropped: droppedSinceWarning },
        'analytics: deferred events dropped while the buffer was full',
      );
      droppedSinceWarning = 0;
    }
    if (waiting.length > 0) schedule();
  };

  /** Stores everything recorded before the call (waits for a flush under way first). */
  const flush = async (): Promise<void> => {
    while (running) await running;
    if (waiting.length === 0) return;
    running = drain().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    record(event: PendingEvent): void {
      if (closed) {
        // Late (a request that outlived the drain): stored on its own, at once.
        deps.store(event.db, event.userId, [event]).then(
          () => deps.counted('stored', 1),
          (error: unknown) => {
            deps.counted('lost', 1);
            deps.logger.error({ err: error, event: event.name }, 'analytics: event after close not stored');
          },
        );
        return;
      }
      if (waiting.length >= maxPending) {
        drop(1);
        return;
      }
      waiting.push(event);
      if (waiting.length >= batchSize && !running) flushDetached();
      else schedule();
    },

    flush,

    /** How many events wait. */
    pending: () => waiting.length,

    /** Stores what waits (once: a database that refuses now loses them, logged and counted as `lost`). */
    async close(): Promise<void> {
      closed = true;
      await flush();
      clearTimeout(timer);
      timer = undefined;
      if (waiting.length > 0) {
        deps.counted('lost', waiting.length);
        deps.logger.error({ lost: waiting.length }, 'analytics: deferred events not stored at shutdown');
        waiting = [];
      }
    },
  };
}

export type DeferredEvents = ReturnType<typeof createDeferredEvents>;
