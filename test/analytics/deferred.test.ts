/**
 * Events recorded with `track.later` (searches): stored after the answer, batched, with the time
 * they happened; every one stored by a flush or when the app closes; kept and retried while the
 * database refuses them, up to a bound past which they are dropped and counted.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, type Db, queryRows } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics, type Metrics } from '../../src/infra/metrics.js';
import { createAnalyticsRepository, createTracker, type DeferredOptions } from '../../src/modules/analytics/index.js';
import { consentGrantedFor } from '../../src/modules/consent/index.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import { planOfUser } from '../../src/modules/identity/index.js';
import { countryOfUser } from '../../src/modules/profiles/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

interface StoredEvent {
  id: string;
  name: string;
  subject: string | null;
  occurred_at: Date | string;
  properties: Record<string, unknown>;
}

const eventsIn = (db: Db, name: string) =>
  queryRows<StoredEvent>(db, sql`select * from product_events where name = ${name} order by occurred_at, id`);

const counted = async (metrics: Metrics, outcome: string) =>
  (await metrics.analyticsEvents.get()).values.find((v) => v.labels.source === 'server' && v.labels.outcome === outcome)
    ?.value ?? 0;

/** The database's handle, refusing every statement while `down` is set (a database that went away). */
function refusingWhileDown(db: Db): { db: Db; down: boolean } {
  const state = { down: false, db };
  state.db = new Proxy(db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new Error('connection refused'));
        return value.apply(target, args);
      };
    },
  });
  return state;
}

describe('deferred server events (track.later)', () => {
  const clock = createTestClock();
  let database: Database;
  let metrics: Metrics;
  const logLines: string[] = [];

  const tracker = (options: DeferredOptions = {}) =>
    createTracker({
      repository: createAnalyticsRepository(),
      clock,
      ids: uuidv7,
      metrics,
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => logLines.push(line) } }),
      of: { consentGranted: consentGrantedFor, plan: planOfUser, country: countryOfUser },
      strict: true,
      deferred: { flushMs: 60_000, ...options },
    });

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.close());

  it('stores nothing until a flush, then every event with the time it was recorded, in one insert per person', async () => {
    metrics = createMetrics();
    const { track } = tracker();
    const db = database.db;
    const person = uuidv7();
    const now = clock.now();
    await db.insert(users).values({
      id: person,
      email: `${person}@example.test`,
      passwordHash: 'unused',
      name: 'Deferred',
      role: 'user',
      passwordChangedAt: now,
      createdAt: now,
      updatedAt: now,
    });
    const recordedAt = clock.now();
    track.later(db, 'slot_viewed', null, { provider_id: person, slots: 1 });
    track.later(db, 'slot_viewed', null, { provider_id: person, slots: 2 });
    track.later(db, 'slot_viewed', person, { provider_id: person, slots: 3 });
    expect(await eventsIn(db, 'slot_viewed')).toEqual([]);

    clock.advance(5_000);
    await track.flush();
    const events = await eventsIn(db, 'slot_viewed');
    expect(events.map((e) => e.properties.slots)).toEqual([1, 2, 3]);
    for (const event of events) expect(new Date(event.occurred_at).toISOString()).toBe(recordedAt.toISOString());
    // Anonymous events carry no subject; the person's carries a pseudonym, never the id.
    expect(events.map((e) => e.subject === null)).toEqual([true, true, false]);
    expect(events[2]?.subject).not.toBe(person);
    // The two anonymous events went in one statement: ids of one batch share its first 28 hex digits.
    const batchOf = (id: string) => id.replaceAll('-', '').slice(0, 28);
    expect(batchOf(events[0]?.id as string)).toBe(batchOf(events[1]?.id as string));
    expect(await counted(metrics, 'stored')).toBe(3);
  });

  it('refuses properties outside the catalogue when recording (strict), as track does', () => {
    metrics = createMetrics();
    const { track } = tracker();
    expect(() => track.later(database.db, 'service_searched', null, { results: -1 })).toThrow(/catalogue/);
  });

  it('flushes on its own after flushMs, and as soon as batchSize events wait', async () => {
    metrics = createMetrics();
    const db = database.db;
    const before = (await eventsIn(db, 'content_viewed')).length;
    const timed = tracker({ flushMs: 20 }).track;
    timed.later(db, 'content_viewed', null, { content_id: uuidv7() });
    await expect.poll(async () => (await eventsIn(db, 'content_viewed')).length).toBe(before + 1);

    const batched = tracker({ batchSize: 3 }).track;
    for (let i = 0; i < 3; i++) batched.later(db, 'content_viewed', null, { content_id: uuidv7() });
    await expect.poll(async () => (await eventsIn(db, 'content_viewed')).length).toBe(before + 4);
  });

  it('keeps events the database refuses and stores them once it is back; over the bound, drops and counts', async () => {
    metrics = createMetrics();
    const handle = refusingWhileDown(database.db);
    const { track } = tracker({ maxPending: 3 });
    const before = (await eventsIn(database.db, 'diet_plan_viewed')).length;
    handle.down = true;
    for (let i = 0; i < 2; i++) track.later(handle.db, 'diet_plan_viewed', null, { items: i });
    await track.flush();
    expect(await counted(metrics, 'stored')).toBe(0);
    expect(logLines.some((line) => line.includes('deferred events not stored'))).toBe(true);
    // Two wait again; the bound is three, so of three more one is kept and two are dropped.
    for (let i = 2; i < 5; i++) track.later(handle.db, 'diet_plan_viewed', null, { items: i });
    expect(await counted(metrics, 'dropped_overflow')).toBe(2);

    handle.down = false;
    await track.flush();
    const stored = await eventsIn(database.db, 'diet_plan_viewed');
    expect(stored.slice(before).map((e) => e.properties.items)).toEqual([0, 1, 2]);
    expect(await counted(metrics, 'stored')).toBe(3);
  });

  it('closing stores what waits, and an event recorded after closing is stored at once', async () => {
    metrics = createMetrics();
    const made = tracker();
    const db = database.db;
    const before = (await eventsIn(db, 'protection_plan_viewed')).length;
    made.track.later(db, 'protection_plan_viewed', null, { items: 1 });
    await made.close();
    expect((await eventsIn(db, 'protection_plan_viewed')).length).toBe(before + 1);
    made.track.later(db, 'protection_plan_viewed', null, { items: 2 });
    await expect.poll(async () => (await eventsIn(db, 'protection_plan_viewed')).length).toBe(before + 2);
  });

  it('drops an event the database refuses maxAttempts times, counted as lost', async () => {
    metrics = createMetrics();
    const handle = refusingWhileDown(database.db);
    const { track } = tracker({ maxAttempts: 2 });
    handle.down = true;
    track.later(handle.db, 'content_viewed', null, { content_id: uuidv7() });
    await track.flush();
    expect(await counted(metrics, 'lost')).toBe(0);
    await track.flush();
    expect(await counted(metrics, 'lost')).toBe(1);
    handle.down = false;
    await track.flush();
    expect(await counted(metrics, 'stored')).toBe(0);
  });

  it('closing while the database refuses loses what waits, logged and counted as lost', async () => {
    metrics = createMetrics();
    const handle = refusingWhileDown(database.db);
    const made = tracker();
    handle.down = true;
    made.track.later(handle.db, 'content_viewed', null, { content_id: uuidv7() });
    await made.close();
    expect(await counted(metrics, 'lost')).toBe(1);
    expect(logLines.some((line) => line.includes('not stored at shutdown'))).toBe(true);
  });
});

describe('searches are recorded after the answer, and count in reports as before', () => {
  const clock = createTestClock(new Date('2026-09-10T10:00:00.000Z'));
  let shared: Database;
  let t: TestApp;
  let admin: TestUser;
  let person: TestUser;
  let closed = false;

  beforeAll(async () => {
    shared = await createTestDatabase();
    // The app closes its database when it closes; this one outlives it, to be read afterwards.
    t = await buildTestApp({ clock, database: { ...shared, close: async () => {} } });
    admin = await createUser(t.app, { role: 'admin' });
    person = await createUser(t.app);
  });
  afterAll(async () => {
    if (!closed) await t.close();
    await shared.close();
  });

  const search = async (headers: Record<string, string> = {}) => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?q=anything', headers });
    expect(res.statusCode, res.body).toBe(200);
  };

  it("stores a signed-in person's search under the pseudonym, and the marketplace funnel counts it", async () => {
    await search(person.headers);
    await search(person.headers);
    await t.app.platform.track.flush();
    const events = await eventsIn(shared.db, 'service_searched');
    expect(events).toHaveLength(2);
    for (const event of events) {
      expect(event.subject).toBe(await subjectOf(t.app, person.id));
      expect(event.properties).toEqual({ results: 0, has_query: true });
      expect(new Date(event.occurred_at).toISOString()).toBe(clock.now().toISOString());
    }
    const funnel = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/funnel?journey=marketplace&from=2026-09-07&to=2026-09-20',
      headers: admin.headers,
    });
    expect(funnel.statusCode, funnel.body).toBe(200);
    expect(funnel.json().data.steps[0]).toMatchObject({ step: 'searched', count: 1 });
  });

  it('stores the searches still waiting when the app closes', async () => {
    const before = (await eventsIn(shared.db, 'service_searched')).length;
    await search();
    await search(person.headers);
    closed = true;
    await t.close();
    const events = await eventsIn(shared.db, 'service_searched');
    expect(events).toHaveLength(before + 2);
    expect(events.slice(before).map((e) => e.subject === null)).toEqual([true, false]);
  });
});
