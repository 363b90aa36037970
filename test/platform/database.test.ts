import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, queryRows } from '../../src/infra/db/client.js';
import { appMeta } from '../../src/infra/db/meta.tables.js';
import { migrate } from '../../src/infra/db/migrate.js';
import { isSeeded, runSeeders, type Seeder, SeedRefusedError } from '../../src/infra/db/seed.js';
import { inTransaction } from '../../src/infra/db/transaction.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { productEvents } from '../../src/modules/analytics/analytics.tables.js';
import { createAnalyticsRepository, createTracker } from '../../src/modules/analytics/index.js';
import { createTestClock } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';

describe(`database (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  let database: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.close());

  it('has btree_gist and pg_trgm enabled', async () => {
    const rows = await queryRows<{ extname: string }>(
      database.db,
      sql`select extname from pg_extension where extname in ('btree_gist', 'pg_trgm') order by extname`,
    );
    expect(rows.map((r) => r.extname)).toEqual(['btree_gist', 'pg_trgm']);
    // Both work: a trigram similarity and a gist exclusion over ranges.
    const [similar] = await queryRows<{ s: number }>(database.db, sql`select similarity('massage', 'masage') as s`);
    expect(Number(similar?.s)).toBeGreaterThan(0.4);
    await database.db.execute(sql`create temporary table slot_probe (
      provider uuid, during tstzrange,
      exclude using gist (provider with =, during with &&))`);
    const provider = uuidv7();
    await database.db.execute(
      sql`insert into slot_probe values (${provider}, tstzrange('2026-01-01 10:00Z', '2026-01-01 11:00Z'))`,
    );
    await expect(
      database.db.execute(
        sql`insert into slot_probe values (${provider}, tstzrange('2026-01-01 10:30Z', '2026-01-01 11:30Z'))`,
      ),
    ).rejects.toThrow();
  });

  it('applies migrations once: running them again changes nothing', async () => {
    expect(await migrate(database.db)).toBe(0);
    const [count] = await queryRows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
    );
    expect(count?.n).toBeGreaterThanOrEqual(2);
  });

  it('rolls a transaction back whole when it throws', async () => {
    await expect(
      inTransaction(database.db, async (tx) => {
        await tx.insert(appMeta).values({ key: 'tx-probe', value: 1, updatedAt: new Date() });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await database.db.select().from(appMeta).where(eq(appMeta.key, 'tx-probe'))).toEqual([]);
  });

  it('retries a transaction that failed with a serialization error', async () => {
    let attempts = 0;
    const result = await inTransaction(database.db, async (tx) => {
      attempts += 1;
      await tx.insert(appMeta).values({ key: `retry-${attempts}`, value: attempts, updatedAt: new Date() });
      if (attempts === 1) throw Object.assign(new Error('could not serialize access'), { code: '40001' });
      return 'done';
    });
    expect(result).toBe('done');
    expect(attempts).toBe(2);
    const keys = (await database.db.select().from(appMeta)).map((r) => r.key).filter((k) => k.startsWith('retry-'));
    expect(keys).toEqual(['retry-2']);
  });

  it('does not retry other errors', async () => {
    let attempts = 0;
    await expect(
      inTransaction(database.db, async () => {
        attempts += 1;
        throw Object.assign(new Error('duplicate'), { code: '23505' });
      }),
    ).rejects.toThrow('duplicate');
    expect(attempts).toBe(1);
  });

  it('tracks product events inside the caller transaction', async () => {
    const clock = createTestClock();
    const { track } = createTracker({
      repository: createAnalyticsRepository(),
      clock,
      ids: uuidv7,
      metrics: createMetrics(),
      logger: createLogger({ level: 'silent' }),
      of: { consentGranted: () => sql`false`, plan: () => sql`null`, country: () => sql`null` },
      strict: true,
    });
    // No such account: the event is stored without a subject.
    const userId = uuidv7();
    await database.db.transaction(async (tx) => {
      await track(tx, 'profile_completed', userId, { completion: 100 });
      await track(tx, 'service_searched', null);
    });
    await expect(
      database.db.transaction(async (tx) => {
        await track(tx, 'user_signed_up', userId);
        throw new Error('signup failed');
      }),
    ).rejects.toThrow('signup failed');
    const events = await database.db.select().from(productEvents).orderBy(productEvents.id);
    expect(events.map((e) => [e.name, e.subject, e.source, e.properties])).toEqual([
      ['profile_completed', null, 'server', { completion: 100 }],
      ['service_searched', null, 'server', {}],
    ]);
    expect(events[0]?.occurredAt.toISOString()).toBe(clock.now().toISOString());
  });
});

describe('seeding', () => {
  let database: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.close());

  const deps = { clock: createTestClock(), logger: createLogger({ level: 'silent' }), isProduction: false };
  const demo: Seeder = {
    name: 'demo-meta',
    async run(db) {
      await db
        .insert(appMeta)
        .values({ key: 'demo-greeting', value: 'hello', updatedAt: new Date() })
        .onConflictDoNothing();
    },
    logins: [{ role: 'user', email: 'demo@example.com', password: 'demo-password' }],
  };

  it('seeds once, records it, and can run again without duplicating anything', async () => {
    expect(await isSeeded(database.db)).toBe(false);
    await runSeeders(database.db, [demo], deps);
    expect(await isSeeded(database.db)).toBe(true);
    await runSeeders(database.db, [demo], deps);
    const rows = await database.db.select().from(appMeta).where(eq(appMeta.key, 'demo-greeting'));
    expect(rows).toHaveLength(1);
  });

  it('refuses to seed in production', async () => {
    await expect(runSeeders(database.db, [demo], { ...deps, isProduction: true })).rejects.toThrow(SeedRefusedError);
  });

  it('leaves nothing behind from a seeder that fails', async () => {
    const broken: Seeder = {
      name: 'broken',
      async run(db) {
        await db.insert(appMeta).values({ key: 'half-done', value: 1, updatedAt: new Date() });
        throw new Error('seed data invalid');
      },
    };
    await expect(runSeeders(database.db, [broken], deps)).rejects.toThrow('seed data invalid');
    expect(await database.db.select().from(appMeta).where(eq(appMeta.key, 'half-done'))).toEqual([]);
  });
});
