import { and, eq, lt, sql } from 'drizzle-orm';
import type { Clock } from '../infra/clock.js';
import { type Db, queryRows } from '../infra/db/client.js';
import { inTransaction } from '../infra/db/transaction.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { outbox } from '../infra/outbox/outbox.tables.js';
import { createPeriodicJob, type PeriodicJob } from '../infra/periodic.js';
import type { RetentionRule } from '../shared/retention.js';

/** Applies every rule once per pass; `runOnce` resolves with rows removed per rule (rules another instance holds are skipped). */
export type RetentionJob = PeriodicJob<Record<string, number>>;

// Any fixed 64-bit number; with the rule's index it names one advisory lock per rule.
const RETENTION_LOCK = 7_310_554;

/**
 * The scheduled retention job: every interval, each rule runs in its own transaction under a
 * transaction-scoped advisory lock, so instances running it at once never do the same work
 * twice and one slow rule does not hold the others back.
 */
export function createRetentionJob(deps: {
  db: Db;
  rules: RetentionRule[];
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  intervalMs: number;
}): RetentionJob {
  const { db, rules, clock, logger, metrics } = deps;

  const runOnce = async () => {
    const removed: Record<string, number> = {};
    for (const [index, rule] of rules.entries()) {
      const count = await inTransaction(db, async (tx) => {
        const [lock] = await queryRows<{ acquired: boolean }>(
          tx,
          sql`select pg_try_advisory_xact_lock(${RETENTION_LOCK}, ${index}) as acquired`,
        );
        if (!lock?.acquired) return undefined;
        return rule.run(tx, clock.now());
      });
      if (count === undefined) continue;
      removed[rule.name] = count;
      if (count > 0) metrics.retentionDeleted.inc({ rule: rule.name }, count);
    }
    const total = Object.values(removed).reduce((sum, count) => sum + count, 0);
    if (total > 0) logger.info({ removed }, 'retention: expired data removed');
    return removed;
  };

  return createPeriodicJob({ name: 'retention', intervalMs: deps.intervalMs, run: runOnce, logger });
}

/** Delivered rows older than `deliveredDays`, dead rows older than `deadDays` (by creation). */
export function outboxRetentionRules(options: { deliveredDays: number; deadDays: number }): RetentionRule[] {
  const before = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);
  return [
    {
      name: 'outbox.delivered',
      run: async (tx: Db, now: Date) =>
        (
          await tx
            .delete(outbox)
            .where(and(eq(outbox.status, 'delivered'), lt(outbox.deliveredAt, before(now, options.deliveredDays))))
            .returning({ id: outbox.id })
        ).length,
    },
    {
      name: 'outbox.dead',
      run: async (tx: Db, now: Date) =>
        (
          await tx
            .delete(outbox)
            .where(and(eq(outbox.status, 'dead'), lt(outbox.createdAt, before(now, options.deadDays))))
            .returning({ id: outbox.id })
        ).length,
    },
  ];
}
