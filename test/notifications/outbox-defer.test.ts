import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { createOutbox, DeferDelivery } from '../../src/infra/outbox/outbox.js';
import { outbox } from '../../src/infra/outbox/outbox.tables.js';
import { createOutboxDispatcher } from '../../src/jobs/outbox-dispatcher.js';
import { createTestClock } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';

describe('outbox deferral (DeferDelivery)', () => {
  const open: Database[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((database) => database.close()));
  });

  it('puts the row back until the given time without using an attempt or recording a failure', async () => {
    const database = await createTestDatabase();
    open.push(database);
    const clock = createTestClock();
    const metrics = createMetrics();
    const logLines: Record<string, unknown>[] = [];
    const box = createOutbox({ clock, ids: uuidv7, metrics, defaultMaxAttempts: 2 });
    const dispatcher = createOutboxDispatcher({
      db: database.db,
      outbox: box,
      clock,
      logger: createLogger({
        level: 'debug',
        destination: { write: (line: string) => logLines.push(JSON.parse(line)) },
      }),
      metrics,
      options: { batchSize: 10, pollIntervalMs: 10, leaseMs: 30_000, backoffBaseMs: 1000, backoffMaxMs: 60_000 },
    });
    const seen: { attempt: number; maxAttempts: number }[] = [];
    const until = new Date(clock.now().getTime() + 3_600_000);
    box.register('test.deferred', async (_payload, context) => {
      seen.push({ attempt: context.attempt, maxAttempts: context.maxAttempts });
      if (clock.now() < until) throw new DeferDelivery(until, 'quiet hours');
    });
    const id = await box.enqueue(database.db, { type: 'test.deferred', payload: {} });

    // Deferred more often than maxAttempts allows failures: never dead.
    for (let pass = 0; pass < 3; pass++) {
      expect(await dispatcher.runOnce()).toBe(1);
      const [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
      expect(row).toMatchObject({ status: 'pending', attempts: 0, lastError: null, lockedUntil: null });
      expect(row?.deliverAfter.toISOString()).toBe(until.toISOString());
      expect(await dispatcher.runOnce()).toBe(0);
      // Make it due again early, as a lapsed clock or an admin would.
      await database.db.update(outbox).set({ deliverAfter: clock.now() }).where(eq(outbox.id, id));
    }
    await database.db.update(outbox).set({ deliverAfter: until }).where(eq(outbox.id, id));
    clock.set(until);
    expect(await dispatcher.runOnce()).toBe(1);
    const [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(seen).toEqual([1, 1, 1, 1].map((attempt) => ({ attempt, maxAttempts: 2 })));
    expect(logLines.some((line) => line.msg === 'outbox delivery failed')).toBe(false);
    expect(logLines.filter((line) => line.msg === 'outbox delivery deferred')).toHaveLength(3);
    const text = await metrics.registry.getSingleMetricAsString('outbox_messages_total');
    expect(text).toContain('outbox_messages_total{type="test.deferred",event="deferred"} 3');
  });
});
