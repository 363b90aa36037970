import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  messagesOf,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;
/** A verified provider who is no party to any booking here. */
let otherProvider: TestProvider;
let provider: TestProvider;
let customer: TestUser;

beforeAll(async () => {
  f = await setUpBookings();
  otherProvider = await createProvider(f);
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(otherProvider.user);
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
});

const post = (path: string, user: TestUser, body?: object) => f.send('POST', path, user, body);

describe('POST /bookings/:id/confirm', () => {
  it('is for the booking’s provider: the customer is refused, another provider told it does not exist', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect((await post(`/bookings/${booking.id}/confirm`, customer)).statusCode).toBe(403);
    expect((await post(`/bookings/${booking.id}/confirm`, otherProvider.user)).statusCode).toBe(404);
  });

  it('confirms a pending booking and tells both parties at once (urgent)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    const confirmed = await post(`/bookings/${booking.id}/confirm`, provider.user);
    expect(confirmed.json().data.status).toBe('confirmed');
    const sent = await messagesOf(f.app, booking.id, 'booking_confirmed');
    expect(new Set(sent.map((n) => n.user_id))).toEqual(new Set([customer.id, provider.user.id]));
    expect(sent.every((n) => n.urgent)).toBe(true);
  });

  it('refuses to confirm a booking twice (409 INVALID_STATE)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    expect((await post(`/bookings/${booking.id}/confirm`, provider.user)).json().code).toBe('INVALID_STATE');
  });
});

describe('POST /bookings/:id/complete', () => {
  it('refuses before the visit has started (409)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    expect((await post(`/bookings/${booking.id}/complete`, provider.user)).statusCode).toBe(409);
  });

  it('marks a confirmed visit completed once it has started', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), provider.user);
    const done = await post(`/bookings/${booking.id}/complete`, provider.user);
    expect(done.json().data.status).toBe('completed');
  });
});

describe('POST /bookings/:id/no-show', () => {
  it('marks a confirmed visit as a no-show once it has started', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), provider.user);
    expect((await post(`/bookings/${booking.id}/no-show`, provider.user)).json().data.status).toBe('no_show');
  });
});

describe('POST /bookings/:id/cancel', () => {
  it('refuses to cancel a completed visit (409 INVALID_STATE)', async () => {
    const visit = await completedVisit(f, customer, provider, '2027-03-30T09:00:00Z');
    const res = await post(`/bookings/${visit.id}/cancel`, provider.user, { reason: 'x' });
    expect(res.json().code).toBe('INVALID_STATE');
  });

  it('refuses the customer within 24 h of the start (409 INVALID_STATE)', async () => {
    const soon = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    expect((await post(`/bookings/${soon.id}/cancel`, customer, {})).json().code).toBe('INVALID_STATE');
  });

  it('requires a reason from the provider (400)', async () => {
    const soon = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    expect((await post(`/bookings/${soon.id}/cancel`, provider.user, {})).statusCode).toBe(400);
  });

  it('lets the provider cancel at any time with a reason, telling both parties', async () => {
    const soon = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    const res = await post(`/bookings/${soon.id}/cancel`, provider.user, { reason: 'Ill' });
    expect(res.json().data).toMatchObject({ status: 'cancelled', cancelled_by: 'provider', cancel_reason: 'Ill' });
    const sent = await messagesOf(f.app, soon.id, 'booking_cancelled');
    expect(sent.map((n) => n.user_id).sort()).toEqual([customer.id, provider.user.id].sort());
  });

  it('lets the customer cancel until 24 h before the start, telling both parties', async () => {
    const far = await booked(f, customer, provider, '2027-03-26T09:00:00Z');
    const res = await post(`/bookings/${far.id}/cancel`, customer, { reason: 'Travel' });
    expect(res.json().data.status).toBe('cancelled');
    const sent = await messagesOf(f.app, far.id, 'booking_cancelled');
    expect(sent.map((n) => n.user_id).sort()).toEqual([customer.id, provider.user.id].sort());
  });
});

describe('booking reminder (the booking.remind outbox handler)', () => {
  const remind = (bookingId: string) => f.app.platform.services.bookings.remind({ booking_id: bookingId });

  it('sends nothing when the booking was cancelled in the meantime', async () => {
    const far = await booked(f, customer, provider, '2027-03-26T09:00:00Z');
    await post(`/bookings/${far.id}/cancel`, customer, { reason: 'Travel' });
    await remind(far.id);
    expect(await messagesOf(f.app, far.id, 'booking_reminder')).toHaveLength(0);
  });

  it('reminds the customer of a live booking (priority, not urgent)', async () => {
    const live = await booked(f, customer, provider, '2027-03-26T09:00:00Z');
    await remind(live.id);
    expect(await messagesOf(f.app, live.id, 'booking_reminder')).toEqual([
      { priority: true, urgent: false, user_id: customer.id },
    ]);
  });
});
