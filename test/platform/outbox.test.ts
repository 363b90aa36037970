import { eq, sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { createOutbox, type Outbox } from '../../src/infra/outbox/outbox.js';
import { outbox } from '../../src/infra/outbox/outbox.tables.js';
import { backoffDelayMs, createOutboxDispatcher, type DispatcherOptions } from '../../src/jobs/outbox-dispatcher.js';
import { createTestClock } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';

const options: DispatcherOptions = {
  batchSize: 10,
  pollIntervalMs: 10,
  leaseMs: 30_000,
  backoffBaseMs: 60_000,
  backoffMaxMs: 3_600_000,
};

function setup(database: Database, clock = createTestClock()) {
  const metrics = createMetrics();
  const box = createOutbox({ clock, ids: uuidv7, metrics, defaultMaxAttempts: 3 });
  const dispatcher = (outboxService: Outbox = box, random = () => 0.5) =>
    createOutboxDispatcher({
      db: database.db,
      outbox: outboxService,
      clock,
      logger: createLogger({ level: 'silent' }),
      metrics,
      options,
      random,
    });
  return { clock, metrics, box, dispatcher };
}

async function rowsOf(database: Database) {
  return database.db.select().from(outbox).orderBy(outbox.createdAt, outbox.id);
}

describe('outbox', () => {
  const open: Database[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });
  const newDatabase = async () => {
    const database = await createTestDatabase();
    open.push(database);
    return database;
  };

  it('writes a message only when the surrounding transaction commits', async () => {
    const database = await newDatabase();
    const { box } = setup(database);
    await database.db.transaction(async (tx) => {
      await box.enqueue(tx, { type: 'test.kept', payload: { n: 1 } });
    });
    await expect(
      database.db.transaction(async (tx) => {
        await box.enqueue(tx, { type: 'test.lost', payload: { n: 2 } });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    const rows = await rowsOf(database);
    expect(rows.map((r) => [r.type, r.status, r.attempts])).toEqual([['test.kept', 'pending', 0]]);
  });

  it('delivers due messages to the registered handler and marks them delivered', async () => {
    const database = await newDatabase();
    const { box, dispatcher, clock, metrics } = setup(database);
    const seen: unknown[] = [];
    box.register('test.greet', async (payload, context) => {
      seen.push({ payload, attempt: context.attempt });
    });
    await box.enqueue(database.db, { type: 'test.greet', payload: { to: 'a' } });
    await box.enqueue(database.db, {
      type: 'test.greet',
      payload: { to: 'later' },
      deliverAfter: new Date(clock.now().getTime() + 60_000),
    });
    const worker = dispatcher();
    expect(await worker.runOnce()).toBe(1);
    expect(seen).toEqual([{ payload: { to: 'a' }, attempt: 1 }]);
    clock.advance(60_000);
    expect(await worker.runOnce()).toBe(1);
    expect(await worker.runOnce()).toBe(0);
    const rows = await rowsOf(database);
    expect(rows.every((r) => r.status === 'delivered' && r.deliveredAt !== null)).toBe(true);
    const text = await metrics.registry.getSingleMetricAsString('outbox_messages_total');
    expect(text).toContain('outbox_messages_total{type="test.greet",event="queued"} 2');
    expect(text).toContain('outbox_messages_total{type="test.greet",event="delivered"} 2');
  });

  it('retries failures with exponential backoff and jitter, then marks the row dead with its last error', async () => {
    const database = await newDatabase();
    const { box, dispatcher, clock, metrics } = setup(database);
    let calls = 0;
    box.register('test.flaky', async () => {
      calls += 1;
      throw new Error(`receiver said no (${calls})`);
    });
    const id = await box.enqueue(database.db, { type: 'test.flaky', payload: {} });
    const worker = dispatcher();

    await worker.runOnce();
    let [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastError: 'receiver said no (1)' });
    // random() = 0.5: half the 60 s ceiling fixed plus a quarter → 45 s.
    expect(row?.deliverAfter.getTime()).toBe(clock.now().getTime() + 45_000);
    expect(await worker.runOnce()).toBe(0); // not due yet

    clock.advance(45_000);
    await worker.runOnce();
    [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'pending', attempts: 2 });
    expect(row?.deliverAfter.getTime()).toBe(clock.now().getTime() + 90_000); // 120 s ceiling

    clock.advance(90_000);
    await worker.runOnce();
    [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'dead', attempts: 3, lastError: 'receiver said no (3)' });
    clock.advance(10 * 3_600_000);
    expect(await worker.runOnce()).toBe(0);
    expect(calls).toBe(3);
    const text = await metrics.registry.getSingleMetricAsString('outbox_messages_total');
    expect(text).toContain('event="retried"} 2');
    expect(text).toContain('event="dead"} 1');
  });

  it('marks a message with no registered handler as failed rather than losing it', async () => {
    const database = await newDatabase();
    const { box, dispatcher } = setup(database);
    const id = await box.enqueue(database.db, { type: 'test.unknown', payload: {}, maxAttempts: 1 });
    await dispatcher().runOnce();
    const [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'dead', lastError: 'no handler registered for outbox type "test.unknown"' });
  });

  it('lets a handler choose its own retry schedule and attempt count', async () => {
    const database = await newDatabase();
    const { box, dispatcher, clock } = setup(database);
    box.register(
      'test.scheduled',
      async () => {
        throw new Error('down');
      },
      { maxAttempts: 6, retryDelayMs: (attempt) => [60_000, 300_000][attempt - 1] ?? 1_800_000 },
    );
    const id = await box.enqueue(database.db, { type: 'test.scheduled', payload: {} });
    await dispatcher().runOnce();
    const [row] = await database.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row?.maxAttempts).toBe(6);
    expect(row?.deliverAfter.getTime()).toBe(clock.now().getTime() + 60_000);
  });

  it('reclaims a message whose worker died mid-delivery once its lease lapses', async () => {
    const database = await newDatabase();
    const { box, dispatcher, clock } = setup(database);
    const delivered: string[] = [];
    box.register('test.lease', async (_payload, context) => {
      delivered.push(`${context.id}#${context.attempt}`);
    });
    const id = await box.enqueue(database.db, { type: 'test.lease', payload: {} });
    // A worker claimed it and then vanished.
    await database.db
      .update(outbox)
      .set({ status: 'processing', attempts: 1, lockedUntil: new Date(clock.now().getTime() + options.leaseMs) })
      .where(eq(outbox.id, id));
    const worker = dispatcher();
    expect(await worker.runOnce()).toBe(0);
    clock.advance(options.leaseMs + 1);
    expect(await worker.runOnce()).toBe(1);
    expect(delivered).toEqual([`${id}#2`]);
  });

  it(`delivers each row exactly once under two competing workers (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, async () => {
    const database = await newDatabase();
    const { box, dispatcher } = setup(database);
    const deliveries = new Map<string, number>();
    box.register('test.race', async (payload) => {
      const key = String(payload.n);
      deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
      // Yield so the other worker's claim interleaves with this delivery.
      await new Promise((resolve) => setTimeout(resolve, 1));
    });
    const total = 200;
    await database.db.transaction(async (tx) => {
      for (let n = 0; n < total; n++) await box.enqueue(tx, { type: 'test.race', payload: { n } });
    });
    // On PostgreSQL each worker gets its own pool connection, so the claims truly overlap.
    const workers = [dispatcher(), dispatcher()];
    let claimedByFirst = 0;
    let claimedBySecond = 0;
    for (let pass = 0; pass < 100; pass++) {
      const [first = 0, second = 0] = await Promise.all(workers.map((w) => w.runOnce()));
      claimedByFirst += first;
      claimedBySecond += second;
      if (first === 0 && second === 0) break;
    }
    expect(deliveries.size).toBe(total);
    expect([...deliveries.values()].every((count) => count === 1)).toBe(true);
    expect(claimedByFirst + claimedBySecond).toBe(total);
    // Both workers did part of the work.
    expect(claimedByFirst).toBeGreaterThan(0);
    expect(claimedBySecond).toBeGreaterThan(0);
    const [counted] = await queryRows<{ delivered: number }>(
      database.db,
      sql`select count(*)::int as delivered from outbox where status = 'delivered'`,
    );
    expect(counted?.delivered).toBe(total);
  });

  it('runs in the background once started, and stops cleanly', async () => {
    const database = await newDatabase();
    const clock = { now: () => new Date() };
    const { box, dispatcher } = setup(database, clock as ReturnType<typeof createTestClock>);
    const seen: number[] = [];
    box.register('test.bg', async (payload) => {
      seen.push(payload.n as number);
    });
    const worker = dispatcher();
    worker.start();
    for (let n = 0; n < 25; n++) await box.enqueue(database.db, { type: 'test.bg', payload: { n } });
    for (let i = 0; i < 200 && seen.length < 25; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await worker.stop();
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, n) => n));
  });
});

describe('backoffDelayMs', () => {
  it('doubles per attempt, caps at the maximum, and jitters within the upper half', () => {
    expect(backoffDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 1)).toBe(4000);
    expect(backoffDelayMs(20, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffDelayMs(20, 1000, 60_000, () => 0)).toBe(30_000);
  });
});
