import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { BOOKING_CONFIRM_NUDGE, BOOKING_REMIND } from '../../src/modules/bookings/bookings.messages.js';
import { renderTemplate } from '../../src/modules/notifications/notifications.templates.js';
import type { DomainEvents } from '../../src/shared/events.js';
import { outboxDrainer } from '../helpers/payments.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  START,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;
/** Confirms nothing by itself: its bookings wait as `pending`. */
let provider: TestProvider;
let customer: TestUser;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock();
  [provider, customer] = await Promise.all([createProvider(f, { autoConfirm: false }), createCustomer(f)]);
});

const drain = outboxDrainer(() => f.app);
const hours = (n: number) => n * 3_600_000;
const post = (path: string, user: TestUser, body?: object) => f.send('POST', path, user, body);

/**
 * The notifications of one template queued for `userId`, oldest first. Each test has its own
 * people, so the person is the filter: a sent notification's data is cleared on delivery.
 */
const noticesTo = (userId: string, template: string) =>
  queryRows<{ data: Record<string, string> | null; priority: boolean; urgent: boolean; status: string }>(
    f.app.platform.db,
    sql`select data, priority, urgent, status from notifications
        where template = ${template} and user_id = ${userId} order by created_at, id`,
  );

/** The booking's outbox messages of one type. */
const outboxOf = (bookingId: string, type: string) =>
  queryRows<{ payload: Record<string, string>; deliver_after: Date; status: string }>(
    f.app.platform.db,
    sql`select payload, deliver_after, status from outbox where type = ${type} and payload->>'booking_id' = ${bookingId}`,
  );

const iso = (value: Date | string) => new Date(value).toISOString();

/**
 * Runs the outbox one pass at a time until the booking's `type` message has been handled. What
 * that handler queued is then still undelivered (its delivery is the next pass), data and all.
 */
const handleDue = async (bookingId: string, type: string) => {
  for (let pass = 0; pass < 100; pass += 1) {
    const [row] = await outboxOf(bookingId, type);
    if (row?.status === 'delivered') return;
    if ((await f.app.platform.dispatcher.runOnce()) === 0) break;
  }
  throw new Error(`${type} of ${bookingId} was not handled`);
};

describe('a booking waiting for the provider (booking_pending)', () => {
  it('tells the provider at once, and again after two hours with `waiting_since` when still pending', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect(booking.status).toBe('pending');
    expect(await noticesTo(provider.user.id, 'booking_pending')).toEqual([
      {
        priority: true,
        urgent: false,
        status: 'queued',
        data: { service_name: 'Back massage', starts_at: '2027-03-30T09:00:00.000Z', booking_id: booking.id },
      },
    ]);
    expect(await noticesTo(customer.id, 'booking_pending')).toEqual([]);
    const [nudge] = await outboxOf(booking.id, BOOKING_CONFIRM_NUDGE);
    expect(iso(nudge?.deliver_after as Date)).toBe(iso(new Date(START.getTime() + hours(2))));

    // A minute early: still one.
    await f.moveClock(new Date(START.getTime() + hours(2) - 60_000));
    await drain();
    expect(await noticesTo(provider.user.id, 'booking_pending')).toHaveLength(1);

    await f.moveClock(new Date(START.getTime() + hours(2)));
    await handleDue(booking.id, BOOKING_CONFIRM_NUDGE);
    const both = await noticesTo(provider.user.id, 'booking_pending');
    expect(both).toHaveLength(2);
    expect(both[1]).toEqual({
      priority: true,
      urgent: false,
      status: 'queued',
      data: {
        service_name: 'Back massage',
        starts_at: '2027-03-30T09:00:00.000Z',
        booking_id: booking.id,
        waiting_since: START.toISOString(),
      },
    });
    const rendered = renderTemplate('booking_pending', both[1]?.data ?? {}, {
      appUrl: 'https://app.example',
      timeZone: 'Europe/London',
      footer: false,
    });
    expect(rendered.subject).toBe('Still waiting: Back massage');

    // Once only.
    await f.moveClock(new Date(START.getTime() + hours(6)));
    await drain();
    expect(await noticesTo(provider.user.id, 'booking_pending')).toHaveLength(2);
  });

  it('does not remind a provider who confirmed within the two hours', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await f.moveClock(new Date(START.getTime() + hours(1)), provider.user);
    expect((await post(`/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    await f.moveClock(new Date(START.getTime() + hours(3)));
    await drain();
    expect((await outboxOf(booking.id, BOOKING_CONFIRM_NUDGE))[0]?.status).toBe('delivered');
    expect(await noticesTo(provider.user.id, 'booking_pending')).toHaveLength(1);
  });

  it('does not remind a provider whose booking was cancelled within the two hours', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect((await post(`/bookings/${booking.id}/cancel`, customer, { reason: 'Plans changed' })).statusCode).toBe(200);
    await f.moveClock(new Date(START.getTime() + hours(3)));
    await drain();
    expect((await outboxOf(booking.id, BOOKING_CONFIRM_NUDGE))[0]?.status).toBe('delivered');
    expect(await noticesTo(provider.user.id, 'booking_pending')).toHaveLength(1);
  });

  it('sends nothing to confirm for a provider who auto-confirms', async () => {
    const auto = await createProvider(f, { autoConfirm: true });
    const booking = await booked(f, customer, auto, '2027-03-30T09:00:00Z');
    expect(booking.status).toBe('confirmed');
    expect(await noticesTo(auto.user.id, 'booking_pending')).toEqual([]);
    expect(await outboxOf(booking.id, BOOKING_CONFIRM_NUDGE)).toEqual([]);
    expect(await noticesTo(auto.user.id, 'booking_confirmed')).toHaveLength(1);
    expect(await noticesTo(customer.id, 'booking_confirmed')).toHaveLength(1);
  });
});

describe('after the visit (review_request, review_posted)', () => {
  let events: DomainEvents['live.message'][];
  let unsubscribe: () => void;

  beforeEach(() => {
    events = [];
    unsubscribe = f.app.platform.events.subscribe('live.message', (message) => {
      events.push(message);
    });
  });

  afterEach(() => unsubscribe());

  it('asks the customer for a review once the visit is completed, and nobody before', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    expect(await noticesTo(customer.id, 'review_request')).toEqual([]);
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), customer, provider.user);
    expect((await post(`/bookings/${booking.id}/complete`, provider.user)).statusCode).toBe(200);
    expect(await noticesTo(provider.user.id, 'review_request')).toEqual([]);
    expect(await noticesTo(customer.id, 'review_request')).toEqual([
      {
        priority: true,
        urgent: false,
        status: 'queued',
        data: {
          service_name: 'Back massage',
          booking_id: booking.id,
          provider_name: `Provider ${provider.user.id.slice(-4)}`,
        },
      },
    ]);
  });

  it('does not ask for a review of a no-show', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), customer, provider.user);
    expect((await post(`/bookings/${booking.id}/no-show`, provider.user)).statusCode).toBe(200);
    expect(await noticesTo(customer.id, 'review_request')).toEqual([]);
  });

  it('tells the provider of the review: review_posted with the rating, and `review.posted` live', async () => {
    const visit = await completedVisit(f, customer, provider, '2027-03-30T09:00:00Z');
    events.length = 0;
    const res = await post(`/bookings/${visit.id}/review`, customer, { rating: 4, text: 'Lovely' });
    expect(res.statusCode).toBe(201);

    expect(await noticesTo(customer.id, 'review_posted')).toEqual([]);
    const posted = await noticesTo(provider.user.id, 'review_posted');
    expect(posted).toEqual([
      {
        priority: true,
        urgent: false,
        status: 'queued',
        data: { service_name: 'Back massage', booking_id: visit.id, rating: '4' },
      },
    ]);
    // The notification carries the rating, not the customer's words.
    expect(JSON.stringify(posted[0]?.data)).not.toContain('Lovely');
    expect(events.filter((event) => event.type === 'review.posted')).toEqual([
      {
        to: [provider.user.id],
        type: 'review.posted',
        data: { booking_id: visit.id, provider_id: provider.providerId, rating: 4 },
      },
    ]);
  });

  it('tells nobody of a refused review', async () => {
    const visit = await completedVisit(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${visit.id}/review`, customer, { rating: 4, text: 'Lovely' });
    expect((await post(`/bookings/${visit.id}/review`, customer, { rating: 1, text: 'again' })).statusCode).toBe(409);
    expect(await noticesTo(provider.user.id, 'review_posted')).toHaveLength(1);
  });
});

describe('the customer’s reminder (booking.remind)', () => {
  const render = (data: Record<string, string>) =>
    renderTemplate('booking_reminder', data, {
      appUrl: 'https://app.example',
      timeZone: 'Europe/London',
      footer: true,
    });

  it('is due 24 h before the start of a booking made more than a day ahead, and says "tomorrow"', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    const reminders = await outboxOf(booking.id, BOOKING_REMIND);
    expect(reminders).toHaveLength(1);
    expect(iso(reminders[0]?.deliver_after as Date)).toBe('2027-03-24T09:00:00.000Z');

    await f.moveClock(new Date('2027-03-24T08:59:00Z'));
    await drain();
    expect(await noticesTo(customer.id, 'booking_reminder')).toEqual([]);
    await f.moveClock(new Date('2027-03-24T09:00:00Z'));
    await handleDue(booking.id, BOOKING_REMIND);
    const [sent, ...more] = await noticesTo(customer.id, 'booking_reminder');
    expect(more).toEqual([]);
    expect(sent?.data).toMatchObject({ booking_id: booking.id, starts_at: '2027-03-25T09:00:00.000Z' });
    expect(sent?.data?.when).toBeUndefined();
    expect(render(sent?.data ?? {}).subject).toBe('Reminder: Back massage tomorrow');
  });

  it('is due 2 h before the start of a booking made 10 h ahead, and says "soon"', async () => {
    // Made at 06:00 for 16:00 the same day.
    const booking = await booked(f, customer, provider, '2027-03-22T16:00:00Z');
    const reminders = await outboxOf(booking.id, BOOKING_REMIND);
    expect(reminders).toHaveLength(1);
    expect(iso(reminders[0]?.deliver_after as Date)).toBe('2027-03-22T14:00:00.000Z');

    await f.moveClock(new Date('2027-03-22T14:00:00Z'));
    await handleDue(booking.id, BOOKING_REMIND);
    const [sent, ...more] = await noticesTo(customer.id, 'booking_reminder');
    expect(more).toEqual([]);
    expect(sent?.data).toMatchObject({ booking_id: booking.id, when: 'soon' });
    expect(render(sent?.data ?? {}).subject).toBe('Reminder: Back massage soon');
  });

  it('is not queued for a booking made 2 h ahead (the confirmation is reminder enough)', async () => {
    await f.moveClock(new Date('2027-03-22T07:00:00Z'), customer, provider.user);
    const booking = await booked(f, customer, provider, '2027-03-22T09:00:00Z');
    expect(await outboxOf(booking.id, BOOKING_REMIND)).toEqual([]);
  });

  it('is queued 2 h before for a booking made 3 h ahead (an hour of lead is enough)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-22T09:00:00Z');
    const reminders = await outboxOf(booking.id, BOOKING_REMIND);
    expect(reminders.map((row) => iso(row.deliver_after))).toEqual(['2027-03-22T07:00:00.000Z']);
  });

  it('sends nothing when due for a booking cancelled in the meantime', async () => {
    const booking = await booked(f, customer, provider, '2027-03-25T09:00:00Z');
    await post(`/bookings/${booking.id}/cancel`, customer, { reason: 'Plans changed' });
    await f.moveClock(new Date('2027-03-24T09:00:00Z'));
    await drain();
    expect((await outboxOf(booking.id, BOOKING_REMIND))[0]?.status).toBe('delivered');
    expect(await noticesTo(customer.id, 'booking_reminder')).toEqual([]);
  });
});

describe('live messages of a booking’s life', () => {
  let events: DomainEvents['live.message'][];
  let unsubscribe: () => void;

  beforeEach(() => {
    events = [];
    unsubscribe = f.app.platform.events.subscribe('live.message', (message) => {
      events.push(message);
    });
  });

  afterEach(() => unsubscribe());

  /** The booking's live messages other than notification.created: type and recipients, in order. */
  const lifeOf = (bookingId: string) =>
    events
      .filter((event) => event.type.startsWith('booking.') && event.data.booking_id === bookingId)
      .map((event) => ({ type: event.type, to: [...event.to].sort(), status: event.data.status }));

  it('sends booking.created, booking.confirmed and booking.completed to both the customer and the provider', async () => {
    const both = [customer.id, provider.user.id].sort();
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    await post(`/bookings/${booking.id}/confirm`, provider.user);
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), customer, provider.user);
    await post(`/bookings/${booking.id}/complete`, provider.user);
    expect(lifeOf(booking.id)).toEqual([
      { type: 'booking.created', to: both, status: 'pending' },
      { type: 'booking.confirmed', to: both, status: 'confirmed' },
      { type: 'booking.completed', to: both, status: 'completed' },
    ]);
  });

  it.each([
    ['the customer', () => customer, {}],
    ['the provider', () => provider.user, { reason: 'Ill' }],
  ])('sends booking.cancelled to both parties when %s cancels', async (_, who, body) => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    events.length = 0;
    expect((await post(`/bookings/${booking.id}/cancel`, who(), body)).statusCode).toBe(200);
    expect(lifeOf(booking.id)).toEqual([
      { type: 'booking.cancelled', to: [customer.id, provider.user.id].sort(), status: 'cancelled' },
    ]);
  });

  it('sends booking.created then booking.confirmed for a provider who auto-confirms', async () => {
    const auto = await createProvider(f, { autoConfirm: true });
    const booking = await booked(f, customer, auto, '2027-03-30T09:00:00Z');
    const both = [customer.id, auto.user.id].sort();
    expect(lifeOf(booking.id)).toEqual([
      { type: 'booking.created', to: both, status: 'confirmed' },
      { type: 'booking.confirmed', to: both, status: 'confirmed' },
    ]);
  });
});

describe('the customer’s late cancellation', () => {
  it('is refused within 24 h of the start with a message pointing to the booking’s chat', async () => {
    const soon = await booked(f, customer, provider, '2027-03-22T14:00:00Z');
    const res = await post(`/bookings/${soon.id}/cancel`, customer, {});
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('INVALID_STATE');
    expect(res.json().message).toContain(`POST /api/v1/bookings/${soon.id}/messages`);
    // And that route does take the customer's message.
    expect((await post(`/bookings/${soon.id}/messages`, customer, { text: 'Running late' })).statusCode).toBe(201);
  });
});
