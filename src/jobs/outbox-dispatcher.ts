import { and, eq, sql } from 'drizzle-orm';
import type { Clock } from '../infra/clock.js';
import { type Db, queryRows } from '../infra/db/client.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { DeferDelivery, type Outbox } from '../infra/outbox/outbox.js';
import { type OutboxRow, outbox } from '../infra/outbox/outbox.tables.js';

export interface DispatcherOptions {
  batchSize: number;
  pollIntervalMs: number;
  leaseMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface OutboxDispatcher {
  /** Claims and delivers one batch of due messages; resolves with how many it claimed. */
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const MAX_ERROR_LENGTH = 2000;
// How long stop() waits for the deliveries in flight (SHUTDOWN_TIMEOUT_MS is 10 s by default).
const STOP_GRACE_MS = 2000;

export function createOutboxDispatcher(deps: {
  db: Db;
  outbox: Outbox;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  options: DispatcherOptions;
  random?: () => number;
  /** How long stop() waits for deliveries in flight; default 2 s. */
  stopGraceMs?: number;
}): OutboxDispatcher {
  const { db, clock, logger, metrics, options } = deps;
  const random = deps.random ?? Math.random;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;

  // One statement claims a batch: rows locked by another worker are skipped, not waited for,
  // so several workers or instances never hold the same row. A claim lapses after the lease
  // (a worker that died mid-delivery), and the row becomes due again.
  const claim = async (): Promise<OutboxRow[]> => {
    const now = clock.now();
    const leaseUntil = new Date(now.getTime() + options.leaseMs);
    const rows = await queryRows<Record<string, unknown>>(
      db,
      sql`
      update ${outbox} set status = 'processing', attempts = attempts + 1, locked_until = ${leaseUntil.toISOString()}
      where id in (
        select id from ${outbox}
        where status in ('pending', 'processing') and deliver_after <= ${now.toISOString()}
          and (status = 'pending' or locked_until < ${now.toISOString()})
        order by deliver_after
        limit ${options.batchSize}
        for update skip locked
      )
      returning id, type, payload, attempts, max_attempts`,
    );
    return rows.map((row) => ({
      id: row.id as string,
      type: row.type as string,
      payload: (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Record<string, unknown>,
      attempts: Number(row.attempts),
      maxAttempts: Number(row.max_attempts),
    })) as OutboxRow[];
  };

  const deliver = async (row: OutboxRow) => {
    const registered = deps.outbox.handlerFor(row.type);
    const processing = and(eq(outbox.id, row.id), eq(outbox.status, 'processing'), eq(outbox.attempts, row.attempts));
    let failure: unknown;
    try {
      if (!registered) throw new Error(`no handler registered for outbox type "${row.type}"`);
      await registered.handle(row.payload, {
        id: row.id,
        type: row.type,
        attempt: row.attempts,
        maxAttempts: row.maxAttempts,
      });
    } catch (error) {
      failure = error;
    }
    if (failure === undefined) {
      // Delivered: a failure to record that now is not a delivery failure, so it is not retried
      // here (the lease lapses and the row comes back; receivers de-duplicate on the row id).
      await db
        .update(outbox)
        .set({ status: 'delivered', deliveredAt: clock.now(), lockedUntil: null, lastError: null })
        .where(processing);
      metrics.outboxMessages.inc({ type: row.type, event: 'delivered' });
      return;
    }
    if (failure instanceof DeferDelivery) {
      // Not a failure: the claim's attempt is given back and the row waits for its time.
      await db
        .update(outbox)
        .set({
          status: 'pending',
          lockedUntil: null,
          attempts: sql`${outbox.attempts} - 1`,
          deliverAfter: failure.until,
        })
        .where(processing);
      metrics.outboxMessages.inc({ type: row.type, event: 'deferred' });
      logger.debug(
        { outbox_id: row.id, type: row.type, deliver_after: failure.until.toISOString() },
        'outbox delivery deferred',
      );
      return;
    }
    const error = failure;
    const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);
    if (row.attempts >= row.maxAttempts) {
      await db.update(outbox).set({ status: 'dead', lockedUntil: null, lastError: message }).where(processing);
      metrics.outboxMessages.inc({ type: row.type, event: 'dead' });
      logger.error(
        { outbox_id: row.id, type: row.type, attempts: row.attempts, error: message },
        'outbox message is dead',
      );
      return;
    }
    const delay =
      registered?.retryDelayMs?.(row.attempts) ??
      backoffDelayMs(row.attempts, options.backoffBaseMs, options.backoffMaxMs, random);
    await db
      .update(outbox)
      .set({
        status: 'pending',
        lockedUntil: null,
        lastError: message,
        deliverAfter: new Date(clock.now().getTime() + delay),
      })
      .where(processing);
    metrics.outboxMessages.inc({ type: row.type, event: 'retried' });
    logger.warn(
      { outbox_id: row.id, type: row.type, attempt: row.attempts, retry_in_ms: delay, error: message },
      'outbox delivery failed',
    );
  };

  const runOnce = async () => {
    const rows = await claim();
    await Promise.all(rows.map(deliver));
    return rows.length;
  };

  const loop = async () => {
    if (stopped) return;
    let claimed = 0;
    try {
      running = runOnce();
      claimed = (await running) as number;
    } catch (error) {
      logger.error({ err: error }, 'outbox dispatcher pass failed');
    } finally {
      running = undefined;
    }
    if (stopped) return;
    // A full batch means more may be waiting: go again at once.
    timer = setTimeout(loop, claimed >= options.batchSize ? 0 : options.pollIntervalMs);
  };

  return {
    runOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setTimeout(loop, 0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (!running) return;
      // A delivery to a receiver that does not answer must not hold up shutdown past its deadline:
      // after STOP_GRACE_MS the pass is left behind; its rows stay claimed until the lease lapses,
      // then another instance retries them (deliveries carry the message id for receivers to dedupe).
      let grace: NodeJS.Timeout | undefined;
      const abandoned = new Promise<'abandoned'>((resolve) => {
        grace = setTimeout(() => resolve('abandoned'), deps.stopGraceMs ?? STOP_GRACE_MS);
      });
      const outcome = await Promise.race([
        running.then(
          () => 'done' as const,
          () => 'done' as const,
        ),
        abandoned,
      ]);
      clearTimeout(grace);
      if (outcome === 'abandoned') logger.warn('outbox deliveries still running at shutdown: left to their lease');
    },
  };
}
