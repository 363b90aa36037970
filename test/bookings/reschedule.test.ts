/**
 * POST /bookings/:id/reschedule over HTTP. The clock is at START, Monday 22 March 2027 06:00 UTC;
 * providers work weekdays 09:00–17:00 London time (GMT until the 28th), lunch 12:00–13:00, closed
 * on Wednesday 24th; the service is 60 minutes plus a 15-minute buffer, free cancellation until
 * 24 hours before the start.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { bookings } from '../../src/modules/bookings/bookings.tables.js';
import { simulatedCardToken } from '../../src/modules/payments/gateways/index.js';
import { drainOutbox } from '../helpers/payments.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
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

const reschedule = (user: TestUser | undefined, id: string, startsAt: string, headers: Record<string, string> = {}) =>
  f.send('POST', `/bookings/${id}/reschedule`, user, { starts_at: startsAt }, headers);

const rowOf = async (id: string) => {
  const [row] = await f.app.platform.db.select().from(bookings).where(eq(bookings.id, id));
  return row;
};

// By person: a notification's data (its booking id) is cleared once it is delivered.
const remindersTo = (user: TestUser) =>
  queryRows<{ id: string }>(
    f.app.platform.db,
    sql`select id from notifications where template = 'booking_reminder' and user_id = ${user.id}`,
  );

const slotsOn = async (provider: TestProvider, day: string) => {
  const res = await f.send(
    'GET',
    `/providers/${provider.providerId}/slots?service_id=${provider.serviceId}&from=${day}T00:00:00Z&to=${day}T23:59:00Z`,
  );
  return res.json().data.slots as string[];
};

describe('POST /bookings/:id/reschedule', () => {
  let provider: TestProvider;
  let customer: TestUser;

  beforeEach(async () => {
    await f.resetClock();
    [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  });

  it('needs a signed-in caller, and answers 404 to anyone but its customer and provider', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    expect((await reschedule(undefined, booking.id, '2027-03-25T14:00:00Z')).statusCode).toBe(401);
    const stranger = await createCustomer(f);
    const otherProvider = await createProvider(f);
    for (const who of [stranger, otherProvider.user]) {
      const res = await reschedule(who, booking.id, '2027-03-25T14:00:00Z');
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('NOT_FOUND');
    }
    expect((await rowOf(booking.id))?.startsAt.toISOString()).toBe('2027-03-25T09:00:00.000Z');
  });

  it('moves the booking in place: same id and price, new visit and buffer, old slot free and new one taken', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    // Read once before the move, so a cached slot list must change with it.
    expect(await slotsOn(provider, '2027-03-25')).not.toContain('2027-03-25T09:00:00.000Z');
    expect(await slotsOn(provider, '2027-03-25')).toContain('2027-03-25T14:00:00.000Z');

    const res = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({
      id: booking.id,
      status: 'pending',
      starts_at: '2027-03-25T14:00:00.000Z',
      ends_at: '2027-03-25T15:00:00.000Z',
      blocks_until: '2027-03-25T15:15:00.000Z',
      price_minor: 5000,
      payment: null,
    });
    const rows = await f.app.platform.db.select().from(bookings).where(eq(bookings.providerId, provider.providerId));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.blocksFrom.toISOString()).toBe('2027-03-25T14:00:00.000Z');
    const slots = await slotsOn(provider, '2027-03-25');
    expect(slots).toContain('2027-03-25T09:00:00.000Z');
    expect(slots).not.toContain('2027-03-25T14:00:00.000Z');
  });

  it('refuses a time the booking rules refuse with SLOT_UNAVAILABLE and its reason, keeping the old time', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    await booked(f, await createCustomer(f), provider, '2027-03-26T10:00:00Z');
    for (const [at, reason] of [
      ['2027-03-25T14:10:00Z', 'off_grid'],
      ['2027-03-25T12:00:00Z', 'outside_hours'],
      ['2027-03-22T07:00:00Z', 'notice'],
      ['2027-03-26T10:30:00Z', 'taken'],
    ] as const) {
      const res = await reschedule(customer, booking.id, at);
      expect(res.statusCode, `${at}: ${res.body}`).toBe(409);
      expect(res.json()).toMatchObject({ code: 'SLOT_UNAVAILABLE', details: [{ field: 'body.starts_at', reason }] });
    }
    expect((await rowOf(booking.id))?.startsAt.toISOString()).toBe('2027-03-25T09:00:00.000Z');
  });

  it('may move into time its own old visit overlaps', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const res = await reschedule(customer, booking.id, '2027-03-25T09:30:00Z');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.starts_at).toBe('2027-03-25T09:30:00.000Z');
  });

  it('refuses the time the booking already has (400 naming body.starts_at)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const res = await reschedule(customer, booking.id, '2027-03-25T09:00:00Z');
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0].field).toBe('body.starts_at');
  });

  it('lets the customer reschedule until the free-cancellation window (24 h), the provider until the start', async () => {
    const booking = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    const late = await reschedule(customer, booking.id, '2027-03-22T15:00:00Z');
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ code: 'INVALID_STATE' });
    expect(late.json().message).toMatch(/until 24 hours before the start/);
    expect((await rowOf(booking.id))?.startsAt.toISOString()).toBe('2027-03-22T14:00:00.000Z');
    const byProvider = await reschedule(provider.user, booking.id, '2027-03-22T15:00:00Z');
    expect(byProvider.statusCode, byProvider.body).toBe(200);
    expect((await rowOf(booking.id))?.startsAt.toISOString()).toBe('2027-03-22T15:00:00.000Z');
  });

  it('moves only pending and confirmed bookings', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    expect((await f.send('POST', `/bookings/${booking.id}/cancel`, customer, {})).statusCode).toBe(200);
    const res = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z');
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'INVALID_STATE' });
    expect(res.json().message).toMatch(/cancelled booking cannot be rescheduled/);
  });

  it("a customer's move of a confirmed visit waits for the provider again; the provider is told", async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    expect((await f.send('POST', `/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    const res = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z');
    expect(res.json().data.status).toBe('pending');
    const pending = await queryRows<{ user_id: string; starts_at: string }>(
      f.app.platform.db,
      sql`select user_id, data->>'starts_at' as starts_at from notifications
          where template = 'booking_pending' and data->>'booking_id' = ${booking.id}`,
    );
    expect(pending.map((n) => [n.user_id, n.starts_at])).toContainEqual([provider.user.id, '2027-03-25T14:00:00.000Z']);
  });

  it('keeps an auto-confirming provider’s booking confirmed and tells the provider it moved', async () => {
    const auto = await createProvider(f, { autoConfirm: true });
    const booking = await booked(f, customer, auto, '2027-03-25T09:00:00Z');
    const res = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z');
    expect(res.json().data.status).toBe('confirmed');
    const sent = await queryRows<{ user_id: string; data: Record<string, string> }>(
      f.app.platform.db,
      sql`select user_id, data from notifications where template = 'booking_rescheduled'
          and data->>'booking_id' = ${booking.id}`,
    );
    expect(sent).toEqual([
      {
        user_id: auto.user.id,
        data: expect.objectContaining({
          starts_at: '2027-03-25T14:00:00.000Z',
          previous_starts_at: '2027-03-25T09:00:00.000Z',
          moved_by: 'customer',
          status: 'confirmed',
        }),
      },
    ]);
  });

  it('tells the customer when the provider moves their booking, pending or confirmed', async () => {
    const pending = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const confirmed = await booked(f, customer, provider, '2027-03-26T09:00:00Z');
    expect((await f.send('POST', `/bookings/${confirmed.id}/confirm`, provider.user)).statusCode).toBe(200);
    expect((await reschedule(provider.user, pending.id, '2027-03-25T14:00:00Z')).json().data.status).toBe('pending');
    expect((await reschedule(provider.user, confirmed.id, '2027-03-26T14:00:00Z')).json().data.status).toBe(
      'confirmed',
    );
    const sent = await queryRows<{ user_id: string; booking_id: string; moved_by: string; status: string }>(
      f.app.platform.db,
      sql`select user_id, data->>'booking_id' as booking_id, data->>'moved_by' as moved_by, data->>'status' as status
          from notifications where template = 'booking_rescheduled'
          and data->>'booking_id' in (${pending.id}, ${confirmed.id}) order by data->>'starts_at'`,
    );
    expect(sent).toEqual([
      { user_id: customer.id, booking_id: pending.id, moved_by: 'provider', status: 'pending' },
      { user_id: customer.id, booking_id: confirmed.id, moved_by: 'provider', status: 'confirmed' },
    ]);
  });

  it('answers a replay of the same Idempotency-Key with the booking, and another body with 409', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const key = { 'idempotency-key': `move-${booking.id}` };
    const first = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z', key);
    expect(first.statusCode).toBe(200);
    const replay = await reschedule(customer, booking.id, '2027-03-25T14:00:00Z', key);
    expect(replay.statusCode).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json().data.starts_at).toBe('2027-03-25T14:00:00.000Z');
    const other = await reschedule(customer, booking.id, '2027-03-25T15:00:00Z', key);
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await rowOf(booking.id))?.startsAt.toISOString()).toBe('2027-03-25T14:00:00.000Z');
  });

  it('sends the reminder for the new time only', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    expect((await reschedule(customer, booking.id, '2027-03-26T14:00:00Z')).statusCode).toBe(200);
    // The old reminder falls due (24 h before the old start): it is dropped.
    await f.moveClock(new Date('2027-03-24T09:01:00Z'));
    await drainOutbox(f);
    expect(await remindersTo(customer)).toEqual([]);
    await f.moveClock(new Date('2027-03-25T14:01:00Z'));
    await drainOutbox(f);
    expect(await remindersTo(customer)).toHaveLength(1);
  });

  it('keeps the payment of a paid booking: no new charge', async () => {
    expect((await f.send('POST', '/provider/payouts/onboarding', provider.user)).statusCode).toBe(200);
    await drainOutbox(f);
    const service = await f.send('POST', '/provider/services', provider.user, {
      name: 'Sports massage',
      category_id: f.categoryId,
      duration_minutes: 60,
      buffer_minutes: 15,
      price_minor: 6000,
      currency: 'EUR',
      payment: 'required',
    });
    const paid = await f.send('POST', '/bookings', customer, {
      service_id: service.json().data.id,
      starts_at: '2027-03-25T09:00:00Z',
      payment_token: simulatedCardToken('4242424242424242'),
    });
    expect(paid.statusCode, paid.body).toBe(201);
    const paymentId = paid.json().data.payment.id;
    const res = await reschedule(customer, paid.json().data.id, '2027-03-25T14:00:00Z');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.payment).toMatchObject({ id: paymentId, status: 'succeeded' });
    const payments = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from payments where booking_id = ${paid.json().data.id}`,
    );
    expect(payments[0]?.n).toBe(1);
  });

  it('lets exactly one of two customers rescheduling into the same free slot at once win', async () => {
    const other = await createCustomer(f);
    const mine = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const theirs = await booked(f, other, provider, '2027-03-26T09:00:00Z');
    const results = await Promise.all([
      reschedule(customer, mine.id, '2027-03-29T10:00:00Z'),
      reschedule(other, theirs.id, '2027-03-29T10:00:00Z'),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.statusCode === 409);
    expect(loser?.json()).toMatchObject({ code: 'SLOT_UNAVAILABLE', details: [{ reason: 'taken' }] });
    const starts = [(await rowOf(mine.id))?.startsAt.toISOString(), (await rowOf(theirs.id))?.startsAt.toISOString()];
    expect(starts.filter((s) => s === '2027-03-29T10:00:00.000Z')).toHaveLength(1);
    expect(starts).toContain(results[0]?.statusCode === 200 ? '2027-03-26T09:00:00.000Z' : '2027-03-25T09:00:00.000Z');
  });
});
