import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const DAY = 86_400_000;

describe('product_events storage: monthly partitions, roll-up after 90 days', () => {
  // Far from today, so these months are this test's own.
  const clock = createTestClock(new Date('2030-01-10T09:00:00.000Z'));
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    user = await createUser(t.app);
  });
  afterAll(() => t.close());

  const partitions = async () =>
    (
      await queryRows<{ name: string }>(
        t.app.platform.db,
        sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
            join pg_class p on p.oid = i.inhparent where p.relname = 'product_events' order by 1`,
      )
    ).map((row) => row.name);
  const rowsIn = async (table: string) =>
    (await queryRows<{ n: number }>(t.app.platform.db, sql`select count(*)::int as n from ${sql.identifier(table)}`))[0]
      ?.n ?? 0;
  const track = (name: 'support_request' | 'last_login', properties: Record<string, unknown> = {}) =>
    t.app.platform.database.db.transaction((tx) => t.app.platform.track(tx, name, user.id, properties));

  it('is partitioned by month, keeps events outside the partitions in the default one, and makes months ahead', async () => {
    // The sign-up happened before this month had a partition: it waits in the default partition.
    expect(await rowsIn('product_events_default')).toBeGreaterThan(0);
    const created = await t.app.platform.services.analytics.ensurePartitions();
    // January 2030 already has rows in the default partition, so it stays there; the others are made.
    expect(created).toEqual([
      'product_events_2029_11',
      'product_events_2029_12',
      'product_events_2030_02',
      'product_events_2030_03',
    ]);
    expect(await t.app.platform.services.analytics.ensurePartitions()).toEqual([]);
    clock.set(new Date('2030-02-03T10:00:00.000Z'));
    await track('support_request', { priority: false });
    expect(await rowsIn('product_events_2030_02')).toBe(1);
    const [kind] = await queryRows<{ strategy: string }>(
      t.app.platform.db,
      sql`select partstrat as strategy from pg_partitioned_table where partrelid = 'product_events'::regclass`,
    );
    expect(kind?.strategy).toBe('r');
    expect(await partitions()).toEqual(expect.arrayContaining(['product_events_2030_02', 'product_events_default']));
  });

  it('rolls raw events older than 90 days into daily counts, then removes them (dropping whole months)', async () => {
    const analytics = t.app.platform.services.analytics;
    const before = await analytics.dailyMetrics('2030-02-03');
    expect(before).toMatchObject({ events: 1, support_requests: 1, active_users: 1 });
    const januaryBefore = await analytics.dailyMetrics('2030-01-10');
    expect(januaryBefore.signups).toBe(1);

    // 95 days after 3 February: February and January are past the raw window.
    clock.set(new Date(Date.parse('2030-02-03T10:00:00.000Z') + 95 * DAY));
    const removed = await t.app.platform.retention.runOnce();
    expect(removed['analytics.rollup']).toBeGreaterThanOrEqual(3);
    // Months wholly before the cutoff (8 February) are dropped; February is emptied up to it.
    expect(await partitions()).not.toContain('product_events_2029_11');
    expect(await partitions()).not.toContain('product_events_2029_12');
    expect(await rowsIn('product_events_2030_02')).toBe(0);
    const [left] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from product_events where occurred_at < '2030-02-05T00:00:00Z'`,
    );
    expect(left?.n).toBe(0);

    // The same numbers, now from the daily table, without any pseudonym.
    expect(await analytics.dailyMetrics('2030-02-03')).toEqual(before);
    expect(await analytics.dailyMetrics('2030-01-10')).toEqual(januaryBefore);
    const daily = await queryRows<Record<string, unknown>>(
      t.app.platform.db,
      sql`select * from product_event_daily where day = '2030-02-03' order by name`,
    );
    expect(daily).toEqual([
      { day: '2030-02-03', name: '*', source: 'server', plan: 'free', country: '', events: 1, subjects: 1 },
      {
        day: '2030-02-03',
        name: 'support_request',
        source: 'server',
        plan: 'free',
        country: '',
        events: 1,
        subjects: 1,
      },
    ]);
    // The events-per-day series still shows the rolled-up days.
    const admin = await createUser(t.app, { role: 'admin' });
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/engagement?from=2030-02-01&to=2030-02-05',
      headers: admin.headers,
    });
    expect(res.json().data.daily).toEqual([{ day: '2030-02-03', events: 1, active_subjects: 1 }]);

    // A second pass finds nothing to do.
    expect((await t.app.platform.retention.runOnce())['analytics.rollup']).toBe(0);
  });
});
