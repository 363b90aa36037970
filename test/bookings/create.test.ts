import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { bookings } from '../../src/modules/bookings/bookings.tables.js';
import { BOOKING_REMIND } from '../../src/modules/bookings/index.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  book,
  booked,
  createCustomer,
  createProvider,
  messagesOf,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

describe('POST /bookings', () => {
  let provider: TestProvider;
  let customer: TestUser;
  const bookingsOfProvider = () =>
    f.app.platform.db.select().from(bookings).where(eq(bookings.providerId, provider.providerId));

  beforeEach(async () => {
    await f.resetClock();
    [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  });

  it('needs a signed-in customer', async () => {
    const anonymous = await f.send('POST', '/bookings', undefined, {
      service_id: provider.serviceId,
      starts_at: '2027-03-25T09:00:00Z',
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('books a free slot: pending, at the service price, blocking the visit and its buffer', async () => {
    const res = await book(f, customer, provider, '2027-03-25T09:00:00Z');
    expect(res.statusCode).toBe(201);
    const booking = res.json().data;
    expect(booking).toMatchObject({ status: 'pending', price_minor: 5000, payment_status: null });
    expect(booking.blocks_until).toBe('2027-03-25T10:15:00.000Z');
  });

  it('confirms at once, telling both parties, when the provider auto-confirms', async () => {
    const auto = await createProvider(f, { autoConfirm: true });
    const booking = await booked(f, customer, auto, '2027-03-25T09:00:00Z');
    expect(booking.status).toBe('confirmed');
    const sent = await messagesOf(f.app, booking.id, 'booking_confirmed');
    expect(new Set(sent.map((n) => n.user_id))).toEqual(new Set([customer.id, auto.user.id]));
  });

  it('answers a replay of the same Idempotency-Key and body with the first booking', async () => {
    const key = { 'idempotency-key': 'abc-1' };
    const first = await book(f, customer, provider, '2027-03-25T09:00:00Z', key);
    expect(first.statusCode).toBe(201);
    const replay = await book(f, customer, provider, '2027-03-25T09:00:00Z', key);
    expect(replay.statusCode).toBe(201);
    expect(replay.json().data.id).toBe(first.json().data.id);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await bookingsOfProvider()).toHaveLength(1);
  });

  it('refuses the same Idempotency-Key with another body (409 IDEMPOTENCY_KEY_REUSED)', async () => {
    const key = { 'idempotency-key': 'abc-1' };
    expect((await book(f, customer, provider, '2027-03-25T09:00:00Z', key)).statusCode).toBe(201);
    const reused = await book(f, customer, provider, '2027-03-25T10:30:00Z', key);
    expect(reused.statusCode).toBe(409);
    expect(reused.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('refuses times that are not free (409 SLOT_UNAVAILABLE) and stores nothing for them', async () => {
    await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    // Overlaps the buffer (until 10:15), off the grid, in lunch, in the past.
    for (const at of ['2027-03-25T10:00:00Z', '2027-03-25T09:10:00Z', '2027-03-25T12:00:00Z', '2027-03-22T05:00:00Z']) {
      const res = await book(f, customer, provider, at);
      expect(res.statusCode, at).toBe(409);
      expect(res.json().code).toBe('SLOT_UNAVAILABLE');
    }
    expect(await bookingsOfProvider()).toHaveLength(1);
  });

  it('takes the booked visit and its buffer out of the free slots', async () => {
    await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const slots = await f.send(
      'GET',
      `/providers/${provider.providerId}/slots?service_id=${provider.serviceId}&from=2027-03-25T00:00:00Z&to=2027-03-26T00:00:00Z`,
    );
    expect(slots.json().data.slots[0]).toBe('2027-03-25T10:15:00.000Z');
  });

  it('lets exactly one of 100 concurrent requests for one slot through', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, () => book(f, customer, provider, '2027-03-26T09:00:00Z')),
    );
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
    const results = await Promise.all(starts.map((s) => book(f, customer, provider, s.toISOString())));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 409 && r.json().code === 'SLOT_UNAVAILABLE')).toHaveLength(99);
    const active = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from bookings where provider_id = ${provider.providerId} and starts_at::date = '2027-03-29'`,
    );
    expect(active[0]?.n).toBe(1);
  });

  it('queues the reminder 24 h before the start, and 2 h before when the booking is made less than a day ahead', async () => {
    const far = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const soon = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    const reminders = await queryRows<{ payload: { booking_id: string }; deliver_after: Date }>(
      f.app.platform.db,
      sql`select payload, deliver_after from outbox where type = ${BOOKING_REMIND}`,
    );
    const farReminder = reminders.find((r) => r.payload.booking_id === far.id);
    expect(new Date(farReminder?.deliver_after as Date).toISOString()).toBe('2027-03-24T09:00:00.000Z');
    const soonReminder = reminders.find((r) => r.payload.booking_id === soon.id);
    expect(new Date(soonReminder?.deliver_after as Date).toISOString()).toBe('2027-03-22T12:00:00.000Z');
  });
});
