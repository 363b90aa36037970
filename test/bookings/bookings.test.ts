import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { availability, bookings, reviews } from '../../src/modules/bookings/bookings.tables.js';
import { bookingsSeeder } from '../../src/modules/bookings/index.js';
import { categories, providers, services } from '../../src/modules/catalog/catalog.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

// Monday 22 March 2027, 06:00 UTC (GMT in London).
const START = new Date('2027-03-22T06:00:00Z');

describe('bookings', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let providerUser: TestUser;
  let otherProvider: TestUser;
  let customer: TestUser;
  let stranger: TestUser;
  let admin: TestUser;
  let providerId: string;
  let serviceId: string;

  const inject = (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    user?: TestUser,
    payload?: object,
    headers = {},
  ) => t.app.inject({ method, url: `/api/v1${url}`, headers: { ...user?.headers, ...headers }, payload });

  const book = (startsAt: string, user = customer, headers = {}) =>
    inject('POST', '/bookings', user, { service_id: serviceId, starts_at: startsAt }, headers);

  /** Moves the clock; access tokens expire with it, so everyone signs in again. */
  const moveClock = async (to: Date) => {
    clock.set(to);
    for (const user of [providerUser, otherProvider, customer, stranger, admin]) {
      const login = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: user.password },
      });
      user.headers = { authorization: `Bearer ${login.json().data.access_token}` };
    }
  };

  const insertProvider = async (userId: string, autoConfirm: boolean) => {
    const now = clock.now();
    const id = uuidv7();
    await t.database.db.insert(providers).values({
      id,
      userId,
      displayName: `Provider ${id.slice(-4)}`,
      languages: ['en'],
      timeZone: 'Europe/London',
      verification: 'verified',
      autoConfirm,
      createdAt: now,
      updatedAt: now,
    });
    return id;
  };

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    [providerUser, otherProvider, customer, stranger, admin] = await Promise.all([
      createUser(t.app, { role: 'provider' }),
      createUser(t.app, { role: 'provider' }),
      createUser(t.app),
      createUser(t.app),
      createUser(t.app, { role: 'admin' }),
    ]);
    const now = clock.now();
    const categoryId = uuidv7();
    await t.database.db
      .insert(categories)
      .values({ id: categoryId, slug: `massage-${categoryId}`, name: 'Massage', createdAt: now, updatedAt: now });
    providerId = await insertProvider(providerUser.id, false);
    await insertProvider(otherProvider.id, true);
    serviceId = uuidv7();
    await t.database.db.insert(services).values({
      id: serviceId,
      providerId,
      categoryId,
      name: 'Back massage',
      durationMinutes: 60,
      bufferMinutes: 15,
      priceMinor: 5000,
      currency: 'EUR',
      createdAt: now,
      updatedAt: now,
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('validates and stores the weekly schedule; only providers manage it', async () => {
    const bad = await inject('PUT', '/provider/availability', providerUser, {
      time_zone: 'Europe/London',
      weekly: [
        { day_of_week: 1, start: '09:00', end: '12:00' },
        { day_of_week: 1, start: '11:00', end: '13:00' },
      ],
      breaks: [],
      exceptions: [],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details[0].field).toBe('body.weekly.1');
    const badTime = await inject('PUT', '/provider/availability', providerUser, {
      time_zone: 'Europe/London',
      weekly: [{ day_of_week: 8, start: '9:00', end: '17:00' }],
      breaks: [],
      exceptions: [],
    });
    expect(badTime.statusCode).toBe(400);
    expect((await inject('PUT', '/provider/availability', customer, {})).statusCode).toBe(403);
    expect((await inject('GET', '/provider/availability')).statusCode).toBe(401);

    const schedule = {
      time_zone: 'Europe/London',
      weekly: [1, 2, 3, 4, 5].map((day) => ({ day_of_week: day, start: '09:00', end: '17:00' })),
      breaks: [1, 2, 3, 4, 5].map((day) => ({ day_of_week: day, start: '12:00', end: '13:00' })),
      exceptions: [{ date: '2027-03-24', closed: true }],
    };
    const put = await inject('PUT', '/provider/availability', providerUser, schedule);
    expect(put.statusCode).toBe(200);
    const got = await inject('GET', '/provider/availability', providerUser);
    expect(got.json().data).toMatchObject(schedule);
  });

  it('lists free slots publicly: notice, breaks, closed days, and records slot_viewed', async () => {
    const res = await inject(
      'GET',
      `/providers/${providerId}/slots?service_id=${serviceId}&from=2027-03-22T00:00:00Z&to=2027-03-25T00:00:00Z`,
    );
    expect(res.statusCode).toBe(200);
    const slots: string[] = res.json().data.slots;
    // 06:00 now + 2 h notice → 09:00 local (GMT) is the first; lunch 12–13; Wednesday closed.
    expect(slots[0]).toBe('2027-03-22T09:00:00.000Z');
    expect(slots).not.toContain('2027-03-22T11:15:00.000Z'); // would run into lunch
    expect(slots).toContain('2027-03-22T11:00:00.000Z');
    expect(slots.some((s) => s.startsWith('2027-03-24'))).toBe(false);
    expect(slots.at(-1)).toBe('2027-03-23T16:00:00.000Z');
    const events = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from product_events where name = 'slot_viewed'`,
    );
    expect(events[0]?.n).toBeGreaterThan(0);
    const wrong = await inject('GET', `/providers/${uuidv7()}/slots?service_id=${serviceId}`);
    expect(wrong.statusCode).toBe(404);
    const tooLong = await inject(
      'GET',
      `/providers/${providerId}/slots?service_id=${serviceId}&from=2027-03-22T00:00:00Z&to=2027-06-22T00:00:00Z`,
    );
    expect(tooLong.statusCode).toBe(400);
  });

  it('books a slot with an idempotency key: replay, reuse and unavailable times', async () => {
    const anonymous = await inject('POST', '/bookings', undefined, {
      service_id: serviceId,
      starts_at: '2027-03-25T09:00:00Z',
    });
    expect(anonymous.statusCode).toBe(401);
    const key = { 'idempotency-key': 'abc-1' };
    const first = await book('2027-03-25T09:00:00Z', customer, key);
    expect(first.statusCode).toBe(201);
    const booking = first.json().data;
    expect(booking).toMatchObject({ status: 'pending', price_minor: 5000, payment_status: null });
    expect(booking.blocks_until).toBe('2027-03-25T10:15:00.000Z');
    const replay = await book('2027-03-25T09:00:00Z', customer, key);
    expect(replay.statusCode).toBe(201);
    expect(replay.json().data.id).toBe(booking.id);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const reused = await book('2027-03-25T10:30:00Z', customer, key);
    expect(reused.statusCode).toBe(409);
    expect(reused.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    // Overlaps the buffer (until 10:15), off the grid, in lunch, in the past.
    for (const at of ['2027-03-25T10:00:00Z', '2027-03-25T09:10:00Z', '2027-03-25T12:00:00Z', '2027-03-22T05:00:00Z']) {
      const res = await book(at);
      expect(res.statusCode, at).toBe(409);
      expect(res.json().code).toBe('SLOT_UNAVAILABLE');
    }
    const rows = await t.database.db.select().from(bookings).where(eq(bookings.providerId, providerId));
    expect(rows).toHaveLength(1);
    const slots = await inject(
      'GET',
      `/providers/${providerId}/slots?service_id=${serviceId}&from=2027-03-25T00:00:00Z&to=2027-03-26T00:00:00Z`,
    );
    expect(slots.json().data.slots[0]).toBe('2027-03-25T10:15:00.000Z');
  });

  it('lets exactly one of 100 concurrent requests for one slot through', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => book('2027-03-26T09:00:00Z')));
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(99);
    expect(results.every((r) => r.statusCode === 201 || r.json().code === 'SLOT_UNAVAILABLE')).toBe(true);
  });

  it('lets exactly one of 100 concurrent overlapping requests through', async () => {
    // Starts 09:00 … 10:00 on Monday 29th: every pair overlaps (60-minute visit + 15-minute buffer).
    const starts = Array.from(
      { length: 100 },
      (_, i) => new Date(Date.parse('2027-03-29T09:00:00Z') + (i % 5) * 15 * 60_000),
    );
    const results = await Promise.all(starts.map((s) => book(s.toISOString())));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 409 && r.json().code === 'SLOT_UNAVAILABLE')).toHaveLength(99);
    const active = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from bookings where provider_id = ${providerId} and starts_at::date = '2027-03-29'`,
    );
    expect(active[0]?.n).toBe(1);
  });

  it('runs the life cycle: confirm, complete, review once, reply once, hide and show', async () => {
    const created = (await book('2027-03-30T09:00:00Z')).json().data;
    // Only the provider of this booking confirms; strangers do not see it.
    expect((await inject('POST', `/bookings/${created.id}/confirm`, customer)).statusCode).toBe(403);
    expect((await inject('POST', `/bookings/${created.id}/confirm`, otherProvider)).statusCode).toBe(404);
    expect((await inject('GET', `/bookings/${created.id}`, stranger)).statusCode).toBe(404);
    expect((await inject('GET', `/bookings/${created.id}`, providerUser)).statusCode).toBe(200);
    const confirmed = await inject('POST', `/bookings/${created.id}/confirm`, providerUser);
    expect(confirmed.json().data.status).toBe('confirmed');
    const sent = await queryRows<{ user_id: string; urgent: boolean }>(
      t.database.db,
      sql`select user_id, urgent from notifications where template = 'booking_confirmed'`,
    );
    expect(new Set(sent.map((n) => n.user_id))).toEqual(new Set([customer.id, providerUser.id]));
    expect(sent.every((n) => n.urgent)).toBe(true);
    expect((await inject('POST', `/bookings/${created.id}/confirm`, providerUser)).json().code).toBe('INVALID_STATE');
    const early = await inject('POST', `/bookings/${created.id}/complete`, providerUser);
    expect(early.statusCode).toBe(409);
    expect(
      (await inject('POST', `/bookings/${created.id}/review`, customer, { rating: 5, text: 'x' })).statusCode,
    ).toBe(409);

    await moveClock(new Date('2027-03-30T10:00:00Z'));
    const done = await inject('POST', `/bookings/${created.id}/complete`, providerUser);
    expect(done.json().data.status).toBe('completed');
    expect((await inject('POST', `/bookings/${created.id}/cancel`, providerUser, { reason: 'x' })).json().code).toBe(
      'INVALID_STATE',
    );

    expect(
      (await inject('POST', `/bookings/${created.id}/review`, stranger, { rating: 5, text: 'x' })).statusCode,
    ).toBe(404);
    const review = await inject('POST', `/bookings/${created.id}/review`, customer, { rating: 4, text: 'Lovely' });
    expect(review.statusCode).toBe(201);
    const reviewId = review.json().data.id;
    expect(
      (await inject('POST', `/bookings/${created.id}/review`, customer, { rating: 5, text: 'again' })).statusCode,
    ).toBe(409);
    const rating = async () => (await t.database.db.select().from(providers).where(eq(providers.id, providerId)))[0];
    expect(await rating()).toMatchObject({ ratingCount: 1, ratingAverage: 4 });

    expect(
      (await inject('POST', `/provider/reviews/${reviewId}/reply`, otherProvider, { text: 'hi' })).statusCode,
    ).toBe(404);
    expect(
      (await inject('POST', `/provider/reviews/${reviewId}/reply`, providerUser, { text: 'Thanks!' })).statusCode,
    ).toBe(200);
    expect(
      (await inject('POST', `/provider/reviews/${reviewId}/reply`, providerUser, { text: 'Again' })).statusCode,
    ).toBe(409);

    const listed = await inject('GET', `/providers/${providerId}/reviews`);
    expect(listed.json().data).toHaveLength(1);
    expect(listed.json().data[0]).toMatchObject({ rating: 4, text: 'Lovely', reply: 'Thanks!' });

    expect(
      (await inject('PATCH', `/admin/reviews/${reviewId}`, customer, { visible: false, reason: 'x' })).statusCode,
    ).toBe(403);
    expect((await inject('PATCH', `/admin/reviews/${reviewId}`, admin, { visible: false })).statusCode).toBe(400);
    const hidden = await inject('PATCH', `/admin/reviews/${reviewId}`, admin, {
      visible: false,
      reason: 'Personal data',
    });
    expect(hidden.json().data).toMatchObject({ visible: false, hidden_reason: 'Personal data' });
    expect(await rating()).toMatchObject({ ratingCount: 0, ratingAverage: null });
    expect((await inject('GET', `/providers/${providerId}/reviews`)).json().data).toHaveLength(0);
    await inject('PATCH', `/admin/reviews/${reviewId}`, admin, { visible: true });
    expect(await rating()).toMatchObject({ ratingCount: 1, ratingAverage: 4 });

    const dashboard = await inject('GET', '/provider/dashboard', providerUser);
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.json().data.by_status.completed).toBe(1);
    expect(dashboard.json().data.completion_rate).toBe(1);
    expect(dashboard.json().data.rating).toEqual({ average: 4, count: 1 });
  });

  it('cancels: customer before the 24 h cutoff, provider any time with a reason; the reminder is not sent', async () => {
    await moveClock(new Date('2027-04-01T06:00:00Z'));
    const far = (await book('2027-04-05T09:00:00Z')).json().data;
    const soon = (await book('2027-04-01T14:00:00Z')).json().data;
    const reminders = await queryRows<{ payload: { booking_id: string }; deliver_after: Date }>(
      t.database.db,
      sql`select payload, deliver_after from outbox where type = 'booking.remind'`,
    );
    const farReminder = reminders.find((r) => r.payload.booking_id === far.id);
    expect(new Date(farReminder?.deliver_after as Date).toISOString()).toBe('2027-04-04T09:00:00.000Z');
    expect(reminders.some((r) => r.payload.booking_id === soon.id)).toBe(false);

    const late = await inject('POST', `/bookings/${soon.id}/cancel`, customer, {});
    expect(late.json().code).toBe('INVALID_STATE');
    expect((await inject('POST', `/bookings/${soon.id}/cancel`, providerUser, {})).statusCode).toBe(400);
    const byProvider = await inject('POST', `/bookings/${soon.id}/cancel`, providerUser, { reason: 'Ill' });
    expect(byProvider.json().data).toMatchObject({
      status: 'cancelled',
      cancelled_by: 'provider',
      cancel_reason: 'Ill',
    });

    const ok = await inject('POST', `/bookings/${far.id}/cancel`, customer, { reason: 'Travel' });
    expect(ok.json().data.status).toBe('cancelled');
    const cancelMails = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from notifications where template = 'booking_cancelled'`,
    );
    expect(cancelMails[0]?.n).toBe(4);
    // The queued reminder fires and finds the booking cancelled.
    await t.app.platform.services.bookings.remind({ booking_id: far.id });
    const remindersSent = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from notifications where template = 'booking_reminder'`,
    );
    expect(remindersSent[0]?.n).toBe(0);
    // A live booking gets its reminder (priority, not urgent).
    const live = (await book('2027-04-06T09:00:00Z')).json().data;
    await t.app.platform.services.bookings.remind({ booking_id: live.id });
    const live1 = await queryRows<{ priority: boolean; urgent: boolean; user_id: string }>(
      t.database.db,
      sql`select priority, urgent, user_id from notifications where template = 'booking_reminder'`,
    );
    expect(live1).toEqual([{ priority: true, urgent: false, user_id: customer.id }]);
  });

  it('lists with cursors: mine, the provider calendar, admin', async () => {
    const first = await inject('GET', '/me/bookings?limit=2', customer);
    expect(first.json().data).toHaveLength(2);
    const cursor = first.json().meta.next_cursor;
    expect(cursor).toBeTruthy();
    const second = await inject('GET', `/me/bookings?limit=2&cursor=${cursor}`, customer);
    const ids = [...first.json().data, ...second.json().data].map((b: { id: string }) => b.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect((await inject('GET', '/me/bookings', stranger)).json().data).toHaveLength(0);
    const calendar = await inject(
      'GET',
      '/provider/bookings?from=2027-03-01T00:00:00Z&to=2027-05-01T00:00:00Z',
      providerUser,
    );
    const starts = calendar.json().data.map((b: { starts_at: string }) => b.starts_at);
    expect(starts).toEqual([...starts].sort());
    expect((await inject('GET', '/admin/bookings', providerUser)).statusCode).toBe(403);
    const all = await inject('GET', `/admin/bookings?provider_id=${providerId}&status=cancelled`, admin);
    expect(all.json().data).toHaveLength(2);
    expect((await inject('GET', '/me/bookings?cursor=nonsense', customer)).statusCode).toBe(400);
  });

  it('erasure keeps the provider history pseudonymised', async () => {
    const entry = t.app.platform.dataMap.entries().find((e) => e.module === 'bookings');
    const exported = (await entry?.export(t.database.db, customer.id)) as { bookings: unknown[]; reviews: unknown[] };
    expect(exported.bookings.length).toBeGreaterThan(3);
    expect(exported.reviews).toHaveLength(1);
    // Erasure runs every entry; the customer's idempotency keys are the idempotency module's.
    const keysEntry = t.app.platform.dataMap.entries().find((e) => e.module === 'idempotency');
    await t.database.db.transaction(async (tx) => {
      await entry?.erase(tx, customer.id);
      await keysEntry?.erase(tx, customer.id);
    });
    const left = await t.database.db.select().from(bookings).where(eq(bookings.customerId, customer.id));
    expect(left).toHaveLength(0);
    const [review] = await t.database.db
      .select()
      .from(reviews)
      .where(and(eq(reviews.providerId, providerId)));
    expect(review).toMatchObject({ customerId: null, text: '', rating: 4 });
    const keys = await queryRows<{ n: number }>(
      t.database.db,
      sql`select count(*)::int as n from idempotency_keys where user_id = ${customer.id}`,
    );
    expect(keys[0]?.n).toBe(0);
  });

  it('seeds a schedule for verified providers without one, once', async () => {
    await bookingsSeeder.run(t.database.db);
    await bookingsSeeder.run(t.database.db);
    const rows = await t.database.db.select().from(availability);
    expect(rows).toHaveLength(2);
    const own = rows.find((r) => r.providerId === providerId);
    expect(own?.exceptions).toEqual([{ date: '2027-03-24', closed: true }]);
  });
});
