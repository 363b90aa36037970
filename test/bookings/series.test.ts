/**
 * POST /bookings/series over HTTP. The clock is at START, Monday 22 March 2027 06:00 UTC; providers
 * work weekdays 09:00–17:00 London time, lunch 12:00–13:00, closed on Wednesday 24 March; London
 * moves to BST on 28 March, so a series at 10:00 local is 10:00 UTC the first week, 09:00 UTC after.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { bookings } from '../../src/modules/bookings/bookings.tables.js';
import { drainOutbox } from '../helpers/payments.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  book,
  booked,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
  WEEKDAY_SCHEDULE,
} from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

describe('POST /bookings/series', () => {
  let provider: TestProvider;
  let customer: TestUser;

  beforeEach(async () => {
    await f.resetClock();
    [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  });

  const series = (user: TestUser | undefined, body: object) => f.send('POST', '/bookings/series', user, body);
  const bookingsOf = (of: TestProvider) =>
    f.app.platform.db.select().from(bookings).where(eq(bookings.providerId, of.providerId));

  it('needs a signed-in customer', async () => {
    const res = await series(undefined, {
      service_id: provider.serviceId,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 2,
    });
    expect(res.statusCode).toBe(401);
  });

  it('books the same local time each week, across the change to summer time', async () => {
    const res = await series(customer, {
      service_id: provider.serviceId,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 4,
      note: 'Physiotherapy',
    });
    expect(res.statusCode, res.body).toBe(201);
    const made = res.json().data as { id: string; starts_at: string; status: string; note: string }[];
    expect(made.map((b) => b.starts_at)).toEqual([
      '2027-03-23T10:00:00.000Z',
      '2027-03-30T09:00:00.000Z',
      '2027-04-06T09:00:00.000Z',
      '2027-04-13T09:00:00.000Z',
    ]);
    expect(new Set(made.map((b) => b.id)).size).toBe(4);
    expect(made.every((b) => b.status === 'pending' && b.note === 'Physiotherapy')).toBe(true);
    const rows = await bookingsOf(provider);
    expect(rows.map((row) => row.customerId)).toEqual([customer.id, customer.id, customer.id, customer.id]);
  });

  it('books nothing when any week is not free, and lists every conflicting week with its reason', async () => {
    // Week 2 is taken by someone else; week 3 falls on a day the provider closed.
    await booked(f, await createCustomer(f), provider, '2027-03-30T09:30:00Z');
    const closed = { ...WEEKDAY_SCHEDULE, exceptions: [{ date: '2027-04-06', closed: true as const }] };
    expect((await f.send('PUT', '/provider/availability', provider.user, closed)).statusCode).toBe(200);
    const before = (await bookingsOf(provider)).length;

    const res = await series(customer, { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks: 4 });
    expect(res.statusCode, res.body).toBe(409);
    const body = res.json();
    expect(body.code).toBe('SLOT_UNAVAILABLE');
    expect(body.message).toMatch(/Nothing was booked: week 2, 3/);
    expect(body.details).toEqual([
      expect.objectContaining({ field: 'body.starts_at', reason: 'taken' }),
      expect.objectContaining({ field: 'body.starts_at', reason: 'outside_hours' }),
    ]);
    expect(body.details[0].message).toMatch(/^week 2 \(2027-03-30T09:00:00.000Z\)/);
    expect(body.details[1].message).toMatch(/^week 3 \(2027-04-06T09:00:00.000Z\)/);
    expect(await bookingsOf(provider)).toHaveLength(before);
  });

  it('checks each week as a booking: the horizon (60 days) refuses the weeks beyond it', async () => {
    const res = await series(customer, {
      service_id: provider.serviceId,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 12,
    });
    expect(res.statusCode).toBe(409);
    const reasons = res.json().details.map((d: { reason: string }) => d.reason);
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons.every((reason: string) => reason === 'beyond_horizon')).toBe(true);
    expect(await bookingsOf(provider)).toHaveLength(0);
  });

  it('takes 2 to 12 weeks (400 naming body.weeks) and refuses unknown fields', async () => {
    for (const weeks of [1, 13]) {
      const res = await series(customer, { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks });
      expect(res.statusCode).toBe(400);
      expect(res.json().details[0].field).toBe('body.weeks');
    }
    const extra = await series(customer, {
      service_id: provider.serviceId,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 2,
      price_minor: 1,
    });
    expect(extra.statusCode).toBe(400);
  });

  it('refuses an unknown service (404), the provider’s own service (403) and a service paid at booking (400)', async () => {
    const unknown = await series(customer, {
      service_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e5f',
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 2,
    });
    expect(unknown.statusCode).toBe(404);
    const own = await series(provider.user, {
      service_id: provider.serviceId,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 2,
    });
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe('OWN_SERVICE');
    // A paid service needs the provider's payout account, ready once its gateway event is applied.
    expect((await f.send('POST', '/provider/payouts/onboarding', provider.user)).statusCode).toBe(200);
    await drainOutbox(f);
    const paid = await f.send('POST', '/provider/services', provider.user, {
      name: 'Sports massage',
      category_id: f.categoryId,
      duration_minutes: 60,
      price_minor: 6000,
      currency: 'EUR',
      payment: 'required',
    });
    const res = await series(customer, {
      service_id: paid.json().data.id,
      starts_at: '2027-03-23T10:00:00Z',
      weeks: 2,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0]).toMatchObject({ field: 'body.service_id' });
    expect(res.json().details[0].message).toMatch(/POST \/api\/v1\/bookings/);
    expect(await bookingsOf(provider)).toHaveLength(0);
  });

  it('loses whole to a booking made at the same moment for one of its weeks', async () => {
    const other = await createCustomer(f);
    const [seriesAnswer, single] = await Promise.all([
      series(customer, { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks: 3 }),
      book(f, other, provider, '2027-03-30T09:00:00Z'),
    ]);
    expect([seriesAnswer.statusCode, single.statusCode].sort()).toEqual([201, 409]);
    const rows = await bookingsOf(provider);
    if (seriesAnswer.statusCode === 409) {
      expect(seriesAnswer.json().details).toEqual([expect.objectContaining({ reason: 'taken' })]);
      expect(rows.map((row) => row.customerId)).toEqual([other.id]);
    } else {
      expect(rows.map((row) => row.customerId)).toEqual([customer.id, customer.id, customer.id]);
    }
  });

  it('takes every week out of the free slots', async () => {
    expect(
      (await series(customer, { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks: 2 }))
        .statusCode,
    ).toBe(201);
    const slots = await f.send(
      'GET',
      `/providers/${provider.providerId}/slots?service_id=${provider.serviceId}&from=2027-03-30T00:00:00Z&to=2027-03-31T00:00:00Z`,
    );
    expect(slots.json().data.slots).not.toContain('2027-03-30T09:00:00.000Z');
  });
  it('tells each party once for the whole series, not once a visit', async () => {
    const res = await series(customer, { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks: 4 });
    expect(res.statusCode, res.body).toBe(201);
    const ids = res.json().data.map((booking: { id: string }) => booking.id);
    const sent = await queryRows<{ user_id: string; template: string; data: Record<string, string> }>(
      f.app.platform.db,
      sql`select user_id, template, data from notifications
          where user_id in (${customer.id}, ${provider.user.id}) and template like 'booking%'`,
    );
    expect(sent.map((n) => n.template)).toEqual(['booking_series_created', 'booking_series_created']);
    expect(new Set(sent.map((n) => n.user_id))).toEqual(new Set([customer.id, provider.user.id]));
    expect(sent[0]?.data).toMatchObject({
      count: '4',
      starts_at: '2027-03-23T10:00:00.000Z',
      last_starts_at: '2027-04-13T09:00:00.000Z',
      status: 'pending',
    });
    // One reminder to confirm, for the first visit, if it still waits two hours later.
    await f.moveClock(new Date('2027-03-22T08:01:00Z'));
    await drainOutbox(f);
    // (A delivered notification's data is cleared, so the nudge is counted, not read.)
    const nudges = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from notifications
          where user_id = ${provider.user.id} and template = 'booking_pending'`,
    );
    expect(nudges).toEqual([{ n: 1 }]);
    expect(ids).toHaveLength(4);
  });

  it('answers a replay of the same Idempotency-Key with the same bookings, and another body with 409', async () => {
    const body = { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z', weeks: 3 };
    const key = { 'idempotency-key': `series-${customer.id}` };
    const first = await f.send('POST', '/bookings/series', customer, body, key);
    expect(first.statusCode, first.body).toBe(201);
    const ids = first.json().data.map((booking: { id: string }) => booking.id);
    // The provider confirms the first visit meanwhile: the replay shows the bookings as they are now.
    expect((await f.send('POST', `/bookings/${ids[0]}/confirm`, provider.user)).statusCode).toBe(200);
    const [replay, concurrent] = await Promise.all([
      f.send('POST', '/bookings/series', customer, body, key),
      f.send('POST', '/bookings/series', customer, body, key),
    ]);
    for (const answer of [replay, concurrent]) {
      expect(answer.statusCode, answer.body).toBe(201);
      expect(answer.headers['idempotent-replayed']).toBe('true');
      expect(answer.json().data.map((booking: { id: string }) => booking.id)).toEqual(ids);
      expect(answer.json().data[0].status).toBe('confirmed');
    }
    expect(await bookingsOf(provider)).toHaveLength(3);
    const other = await f.send('POST', '/bookings/series', customer, { ...body, weeks: 2 }, key);
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await bookingsOf(provider)).toHaveLength(3);
  });
});
