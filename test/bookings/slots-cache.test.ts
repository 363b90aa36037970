/**
 * Cached slot lists (src/modules/bookings/bookings.slots-cache.ts): never a taken time, never a
 * time inside the notice; stale after every write that changes them, on this instance and on
 * another one sharing the store and the database; answered from the database when the store fails.
 * Whether an answer was cached is read from `cache_requests_total{cache="slots"}`.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { freeSlots } from '../../src/modules/bookings/index.js';
import { buildTestApp, createTestClock, testRedisUrl } from '../helpers/app.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox, signInAgain } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  book,
  booked,
  createCustomer,
  createProvider,
  START,
  setUpBookings,
  type TestClock,
  type TestProvider,
  WEEKDAY_SCHEDULE,
} from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const iso = (text: string) => new Date(text).toISOString();
const HOLD_MINUTES = 2;

/** Cache look-ups of slot lists so far on this app: hits and misses. */
async function lookups(app: FastifyInstance): Promise<{ hit: number; miss: number; error: number }> {
  const values = (await app.platform.metrics.cacheRequests.get()).values.filter((v) => v.labels.cache === 'slots');
  const of = (result: string) => values.find((v) => v.labels.result === result)?.value ?? 0;
  return { hit: of('hit'), miss: of('miss'), error: of('error') };
}

/** GET /providers/:id/slots of the provider's service on `app`, anonymously: the start times. */
async function slotsOn(app: FastifyInstance, provider: TestProvider, from?: string, to?: string): Promise<string[]> {
  const query = new URLSearchParams({
    service_id: provider.serviceId,
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
  });
  const response = await app.inject({ method: 'GET', url: `/api/v1/providers/${provider.providerId}/slots?${query}` });
  if (response.statusCode !== 200) throw new Error(`slots: ${response.statusCode} ${response.body}`);
  return response.json().data.slots;
}

/** The week of START, Monday to Friday. */
const WEEK = ['2027-03-22T00:00:00Z', '2027-03-27T00:00:00Z'] as const;

/** Whether a 60-minute visit + 15-minute buffer starting at `slot` would overlap the one booked at `booked`. */
const overlaps = (slot: string, bookedAt: string) => Math.abs(Date.parse(slot) - Date.parse(bookedAt)) < 75 * MINUTE;

/**
 * Lists, checks the list is then answered from the cache, runs `write`, and checks the next list
 * is computed afresh (the write made every cached list of the provider stale). Returns the lists
 * before and after.
 */
async function acrossWrite(
  app: FastifyInstance,
  list: () => Promise<string[]>,
  write: () => Promise<unknown>,
): Promise<{ before: string[]; after: string[] }> {
  const before = await list();
  const cached = await lookups(app);
  expect(await list()).toEqual(before);
  const again = await lookups(app);
  expect(again.hit).toBe(cached.hit + 1);
  expect(again.miss).toBe(cached.miss);
  await write();
  const after = await list();
  expect((await lookups(app)).miss).toBe(again.miss + 1);
  return { before, after };
}

const expectStatus = async (response: Promise<{ statusCode: number; body: string }>, status: number) => {
  const settled = await response;
  expect(settled.statusCode, settled.body).toBe(status);
  return settled;
};

/** A store shared by two app instances; each may close it without closing it for the other. */
function sharedStore(clock: TestClock): { kv?: KeyValueStore; redisPrefix?: string } {
  if (testRedisUrl) return { redisPrefix: `test:slots:${randomBytes(4).toString('hex')}:` };
  const kv = createMemoryStore(clock);
  return { kv: { ...kv, kind: kv.kind, close: async () => {} } };
}

describe('cached slot lists', () => {
  const clock = createTestClock(START);
  // Two instances of one deployment: one signing key, one store, one database (A closes it).
  let a: BookingsFixture;
  let b: BookingsFixture;

  beforeAll(async () => {
    const env = { JWT_SECRET: randomBytes(32).toString('hex') };
    const store = sharedStore(clock);
    a = await setUpBookings({ clock, env, ...store });
    b = await setUpBookings({
      clock,
      env,
      ...store,
      database: { ...a.app.platform.database, close: async () => {} },
    });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  beforeEach(async () => {
    await a.resetClock();
  });

  describe('never offer a taken time', () => {
    it('drops a booked visit and its buffer from a cached list, and offers it again once cancelled', async () => {
      const provider = await createProvider(a);
      const customer = await createCustomer(a);
      const list = () => slotsOn(a.app, provider, ...WEEK);
      const startsAt = iso('2027-03-23T10:00:00Z');
      let booking: { id: string } | undefined;
      const made = await acrossWrite(a.app, list, async () => {
        booking = await booked(a, customer, provider, startsAt);
      });
      expect(made.before).toContain(startsAt);
      expect(made.after.filter((slot) => overlaps(slot, startsAt))).toEqual([]);
      expect(made.after).toEqual(made.before.filter((slot) => !overlaps(slot, startsAt)));

      const cancelled = await acrossWrite(a.app, list, () =>
        expectStatus(a.send('POST', `/bookings/${booking?.id}/cancel`, customer, {}), 200),
      );
      expect(cancelled.after).toEqual(made.before);
    });

    it('shows one instance the bookings and cancellations made on another at its next request', async () => {
      const provider = await createProvider(a);
      const customer = await createCustomer(a);
      const startsAt = iso('2027-03-25T14:00:00Z');
      const onA = () => slotsOn(a.app, provider, ...WEEK);
      const first = await onA();
      expect(await onA()).toEqual(first); // cached on A

      // Booked through B: A's next answer leaves it out.
      const booking = await booked(b, customer, provider, startsAt);
      const afterBooking = await onA();
      expect(afterBooking.filter((slot) => overlaps(slot, startsAt))).toEqual([]);
      expect(await slotsOn(b.app, provider, ...WEEK)).toEqual(afterBooking);

      // Cancelled by the provider through B: A offers it again.
      await expectStatus(
        b.send('POST', `/bookings/${booking.id}/cancel`, provider.user, { reason: 'Away that afternoon' }),
        200,
      );
      expect(await onA()).toEqual(first);

      // The schedule changed through B: A's list follows.
      const closed = {
        ...WEEKDAY_SCHEDULE,
        exceptions: [...WEEKDAY_SCHEDULE.exceptions, { date: '2027-03-25', closed: true }],
      };
      await expectStatus(b.send('PUT', '/provider/availability', provider.user, closed), 200);
      const afterClosing = await onA();
      expect(afterClosing.some((slot) => slot.startsWith('2027-03-25'))).toBe(false);
      expect(afterClosing).toEqual(first.filter((slot) => !slot.startsWith('2027-03-25')));
    });

    it('lets one of 20 concurrent requests for a slot of a cached list through, and the list drops it', async () => {
      const provider = await createProvider(a);
      const customers = await Promise.all(Array.from({ length: 4 }, () => createCustomer(a)));
      const startsAt = iso('2027-03-26T09:00:00Z');
      expect(await slotsOn(a.app, provider, ...WEEK)).toContain(startsAt);
      expect(await slotsOn(b.app, provider, ...WEEK)).toContain(startsAt);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          book(i % 2 ? a : b, customers[i % 4] as TestUser, provider, startsAt, {
            'idempotency-key': `concurrent-${provider.providerId}-${i}`,
          }),
        ),
      );
      const codes = results.map((r) => r.statusCode);
      expect(codes.filter((code) => code === 201)).toHaveLength(1);
      expect(results.filter((r) => r.statusCode === 409 && r.json().code === 'SLOT_UNAVAILABLE')).toHaveLength(19);
      expect(await slotsOn(a.app, provider, ...WEEK)).not.toContain(startsAt);
      expect(await slotsOn(b.app, provider, ...WEEK)).not.toContain(startsAt);
    });

    it('makes one booking of 10 concurrent requests with one Idempotency-Key, and answers each with it', async () => {
      const provider = await createProvider(a);
      const customer = await createCustomer(a);
      const startsAt = iso('2027-03-26T14:00:00Z');
      const key = `same-${provider.providerId}`;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          book(i % 2 ? a : b, customer, provider, startsAt, { 'idempotency-key': key }),
        ),
      );
      expect(results.map((r) => r.statusCode)).toEqual(Array(10).fill(201));
      const ids = new Set(results.map((r) => r.json().data.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(9);
      const listed = await a.send('GET', '/me/bookings', customer);
      expect(listed.json().data.filter((row: { starts_at: string }) => row.starts_at === startsAt)).toHaveLength(1);
    });
  });

  describe('goes stale with every write that changes it', () => {
    let provider: TestProvider;
    let customer: TestUser;
    const list = () => slotsOn(a.app, provider, ...WEEK);

    beforeEach(async () => {
      [provider, customer] = await Promise.all([createProvider(a, { autoConfirm: true }), createCustomer(a)]);
    });

    it('a schedule saved (hours, breaks or a date exception)', async () => {
      const closed = {
        ...WEEKDAY_SCHEDULE,
        exceptions: [...WEEKDAY_SCHEDULE.exceptions, { date: '2027-03-23', closed: true }],
      };
      const { before, after } = await acrossWrite(a.app, list, () =>
        expectStatus(a.send('PUT', '/provider/availability', provider.user, closed), 200),
      );
      expect(before.some((slot) => slot.startsWith('2027-03-23'))).toBe(true);
      expect(after).toEqual(before.filter((slot) => !slot.startsWith('2027-03-23')));
    });

    it('a booking cancelled by its provider, or by an admin', async () => {
      const first = await booked(a, customer, provider, '2027-03-23T09:00:00Z');
      const second = await booked(a, customer, provider, '2027-03-25T09:00:00Z');
      const byProvider = await acrossWrite(a.app, list, () =>
        expectStatus(a.send('POST', `/bookings/${first.id}/cancel`, provider.user, { reason: 'Ill' }), 200),
      );
      expect(byProvider.before).not.toContain(iso('2027-03-23T09:00:00Z'));
      expect(byProvider.after).toContain(iso('2027-03-23T09:00:00Z'));
      const byAdmin = await acrossWrite(a.app, list, () =>
        expectStatus(a.send('POST', `/admin/bookings/${second.id}/cancel`, a.admin, { reason: 'Provider away' }), 200),
      );
      expect(byAdmin.before).not.toContain(iso('2027-03-25T09:00:00Z'));
      expect(byAdmin.after).toContain(iso('2027-03-25T09:00:00Z'));
    });

    it('a visit completed or marked a no-show (its buffer is free again)', async () => {
      const visit = await booked(a, customer, provider, '2027-03-22T09:00:00Z');
      const other = await booked(a, customer, provider, '2027-03-22T14:00:00Z');
      // After the visits started, the provider closes them.
      await a.moveClock(new Date('2027-03-22T15:00:00Z'), provider.user, customer);
      const today = () => slotsOn(a.app, provider, '2027-03-22T00:00:00Z', '2027-03-24T00:00:00Z');
      await acrossWrite(a.app, today, () =>
        expectStatus(a.send('POST', `/bookings/${visit.id}/complete`, provider.user), 200),
      );
      await acrossWrite(a.app, today, () =>
        expectStatus(a.send('POST', `/bookings/${other.id}/no-show`, provider.user), 200),
      );
    });

    it('the service’s duration changed (the catalog’s change)', async () => {
      const { before, after } = await acrossWrite(a.app, list, () =>
        expectStatus(
          a.send('PATCH', `/provider/services/${provider.serviceId}`, provider.user, { duration_minutes: 120 }),
          200,
        ),
      );
      expect(before).toContain(iso('2027-03-23T16:00:00Z'));
      expect(after).not.toContain(iso('2027-03-23T16:00:00Z'));
      expect(after.filter((slot) => slot.startsWith('2027-03-23')).at(-1)).toBe(iso('2027-03-23T15:00:00Z'));
    });

    it('the provider no longer verified: no slots at all', async () => {
      await list();
      await expectStatus(
        a.send('PATCH', `/admin/providers/${provider.providerId}`, a.admin, {
          verification: 'rejected',
          reason: 'Expired',
        }),
        200,
      );
      const response = await a.app.inject({
        method: 'GET',
        url: `/api/v1/providers/${provider.providerId}/slots?service_id=${provider.serviceId}`,
      });
      expect(response.statusCode).toBe(404);
    });
  });

  describe('the notice and the horizon on a cached list, as the clock moves', () => {
    it('never offers a time before now + 2 h, however long ago the list was cached', async () => {
      const provider = await createProvider(a);
      const expected = (now: Date, from: string, to: string) =>
        freeSlots({
          schedule: WEEKDAY_SCHEDULE,
          from: new Date(from),
          to: new Date(to),
          now,
          durationMinutes: 60,
          bufferMinutes: 15,
          busy: [],
        }).map((slot) => slot.toISOString());
      const range = ['2027-03-22T00:00:00Z', '2027-04-10T00:00:00Z'] as const;
      clock.set(new Date('2027-03-22T08:55:00Z'));
      const first = await slotsOn(a.app, provider, ...range);
      expect(first).toEqual(expected(clock.now(), ...range));
      expect(first[0]).toBe(iso('2027-03-22T11:00:00Z'));

      // Nine minutes on, the list is the cached one, cut at 11:04: 11:00 is inside the notice now
      // (and 11:15 would run into lunch), so the first is 13:00.
      clock.set(new Date('2027-03-22T09:04:00Z'));
      const before = await lookups(a.app);
      const later = await slotsOn(a.app, provider, ...range);
      expect((await lookups(a.app)).hit).toBe(before.hit + 1);
      expect(later).toEqual(expected(clock.now(), ...range));
      expect(later[0]).toBe(iso('2027-03-22T13:00:00Z'));
      expect(later.every((slot) => Date.parse(slot) >= clock.now().getTime() + 2 * HOUR)).toBe(true);
      expect(later).toEqual(first.slice(1));

      // The next day (UTC): a new window, computed afresh.
      clock.set(new Date('2027-03-23T10:05:00Z'));
      const nextDay = await slotsOn(a.app, provider, ...range);
      expect((await lookups(a.app)).miss).toBeGreaterThan(before.miss);
      expect(nextDay).toEqual(expected(clock.now(), ...range));
      expect(nextDay[0]).toBe(iso('2027-03-23T13:00:00Z'));

      // The default range (7 days from now) and the 60-day horizon, from the same cached window.
      expect(await slotsOn(a.app, provider)).toEqual(
        expected(clock.now(), clock.now().toISOString(), new Date(clock.now().getTime() + 7 * 24 * HOUR).toISOString()),
      );
      const far = ['2027-04-20T00:00:00Z', '2027-06-01T00:00:00Z'] as const;
      const farSlots = await slotsOn(a.app, provider, ...far);
      expect(farSlots).toEqual(expected(clock.now(), ...far));
      expect(farSlots.at(-1)).toBe(iso('2027-05-21T15:00:00Z')); // Friday before the horizon: 16:00 BST
      expect(Date.parse(farSlots.at(-1) as string)).toBeLessThanOrEqual(clock.now().getTime() + 60 * 24 * HOUR);
    });
  });
});

describe('cached slot lists of a service paid at booking', () => {
  const clock = createTestClock(START);
  let app: FastifyInstance;
  let close: () => Promise<void>;
  let demo: Awaited<ReturnType<typeof seedDemoData>>;
  const list = async () => {
    const response = await app.inject({
      method: 'GET',
      url: `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.paidServiceId}`,
    });
    return response.json().data.slots as string[];
  };
  const bookPaid = (customer: TestUser, startsAt: string, token?: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/bookings',
      headers: customer.headers,
      payload: { service_id: demo.paidServiceId, starts_at: startsAt, ...(token ? { payment_token: token } : {}) },
    });

  beforeAll(async () => {
    // A hold shorter than a cached list lives: only the release can make the list stale.
    const t = await buildTestApp({ clock, env: { PAYMENT_HOLD_MINUTES: String(HOLD_MINUTES) } });
    app = t.app;
    close = t.close;
    demo = await seedDemoData(app);
  });
  afterAll(() => close?.());

  it('a declined card releases the slot at once', async () => {
    const customer = await createUser(app);
    const [startsAt] = await list();
    const declined = await bookPaid(customer, startsAt as string, 'sim_decline');
    expect(declined.statusCode, declined.body).toBe(402);
    expect(await list()).toContain(startsAt);
  });

  it('an unpaid booking holds its slot until its hold runs out, then a cached list offers it again', async () => {
    const customer = await createUser(app);
    const [startsAt] = await list();
    const held = await bookPaid(customer, startsAt as string);
    expect(held.statusCode, held.body).toBe(201);
    try {
      const { before, after } = await acrossWrite(app, list, async () => {
        clock.advance(HOLD_MINUTES * MINUTE + 1000);
        await signInAgain({ app }, customer);
        expect(await app.platform.jobs.bookingHolds.runOnce()).toBeGreaterThanOrEqual(1);
        await drainOutbox({ app });
      });
      expect(before).not.toContain(startsAt);
      expect(after).toContain(startsAt);
    } finally {
      clock.set(START);
    }
  });
});

describe('slot lists while the store fails', () => {
  it('answers from the database, the same list, and counts the failures', async () => {
    const clock = createTestClock(START);
    const inner = createMemoryStore(clock);
    let down = false;
    /** `run`, unless the store is down and `key` is a slot list's or a slot generation's. */
    const unless = <T>(key: string, run: () => Promise<T>) =>
      down && key.startsWith('bookings:slots') ? Promise.reject(new Error('store unreachable')) : run();
    const kv: KeyValueStore = {
      ...inner,
      kind: inner.kind,
      get: (key) => unless(key, () => inner.get(key)),
      set: (key, value, ttlMs) => unless(key, () => inner.set(key, value, ttlMs)),
      increment: (key, ttlMs, by) => unless(key, () => inner.increment(key, ttlMs, by)),
    };
    const f = await setUpBookings({ clock, kv });
    try {
      const provider = await createProvider(f);
      const customer = await createCustomer(f);
      const healthy = await slotsOn(f.app, provider, ...WEEK);
      down = true;
      expect(await slotsOn(f.app, provider, ...WEEK)).toEqual(healthy);
      // A booking whose invalidation fails is still made, and the list (from the database) leaves it out.
      await booked(f, customer, provider, '2027-03-23T10:00:00Z');
      const during = await slotsOn(f.app, provider, ...WEEK);
      expect(during.filter((slot) => overlaps(slot, '2027-03-23T10:00:00Z'))).toEqual([]);
      expect((await lookups(f.app)).error).toBeGreaterThan(0);
    } finally {
      down = false;
      await f.close();
    }
  });
});
