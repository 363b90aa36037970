import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { liveEvents } from '../../src/modules/live/live.tables.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  messagesOf,
  setUpBookings,
  type TestProvider,
} from '../bookings/helpers.js';
import type { TestUser } from '../helpers/users.js';
import { type LiveClient, type LiveMessage, liveClients, liveUrl, publishLive, tokenOf } from './helpers.js';

let f: BookingsFixture;
let url: string;
let provider: TestProvider;
let customer: TestUser;
const clients = liveClients();

beforeAll(async () => {
  f = await setUpBookings();
  url = await liveUrl(f.app);
});

afterAll(async () => {
  clients.closeAll();
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock();
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
});

afterEach(() => clients.closeAll());

const post = (path: string, user: TestUser, body?: object) => f.send('POST', path, user, body);
const connect = (user: TestUser) => clients.ready(url, tokenOf(user));
const ofType = (type: string, bookingId: string) => (message: LiveMessage) =>
  message.type === type && message.data.booking_id === bookingId;

/**
 * Everything the socket got, by type: a marker published to its person last has arrived, so any
 * earlier message for them has too (one person's messages arrive in order).
 */
async function everythingFor(client: LiveClient, user: TestUser): Promise<string[]> {
  const marker = randomUUID();
  await publishLive(f.app, [user.id], { marker });
  await client.waitFor((message) => message.data.marker === marker);
  return client.messages.filter((message) => message.data.marker !== marker).map((message) => message.type);
}

const notificationIdOf = async (userId: string, bookingId: string, template: string) => {
  const [row] = await queryRows<{ id: string }>(
    f.app.platform.db,
    sql`select id from notifications where user_id = ${userId} and template = ${template}
        and data->>'booking_id' = ${bookingId}`,
  );
  return row?.id;
};

describe('booking changes on /api/v1/live', () => {
  it('tells the customer and the provider of a new booking (booking.created), and no one else', async () => {
    const stranger = await createCustomer(f);
    const [forCustomer, forProvider, forStranger] = await Promise.all([
      connect(customer),
      connect(provider.user),
      connect(stranger),
    ]);
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    const expected = {
      booking_id: booking.id,
      status: 'pending',
      payment_status: null,
      starts_at: '2027-03-30T09:00:00.000Z',
      provider_id: provider.providerId,
      service_id: provider.serviceId,
    };
    const toCustomer = await forCustomer.waitFor(ofType('booking.created', booking.id));
    const toProvider = await forProvider.waitFor(ofType('booking.created', booking.id));
    expect(toCustomer).toMatchObject({ at: f.clock.now().toISOString(), data: expected });
    expect(toProvider).toMatchObject({ at: f.clock.now().toISOString(), data: expected });
    expect(toProvider.id).not.toBe(toCustomer.id);

    // The provider is also told of the notification asking them to confirm.
    const notice = await forProvider.waitFor(
      (message) => message.type === 'notification.created' && message.data.template === 'booking_pending',
    );
    expect(notice.data).toEqual({
      notification_id: await notificationIdOf(provider.user.id, booking.id, 'booking_pending'),
      template: 'booking_pending',
      purpose: 'booking',
    });

    expect(await everythingFor(forCustomer, customer)).toEqual(['ready', 'booking.created']);
    expect(await everythingFor(forProvider, provider.user)).toEqual([
      'ready',
      'booking.created',
      'notification.created',
    ]);
    expect(await everythingFor(forStranger, stranger)).toEqual(['ready']);

    // One stored message per recipient, with the id its socket got.
    const rows = await f.app.platform.db
      .select()
      .from(liveEvents)
      .where(sql`${liveEvents.data}->>'booking_id' = ${booking.id} and ${liveEvents.type} = 'booking.created'`);
    expect(rows.map((row) => [row.userId, row.id]).sort()).toEqual(
      [
        [customer.id, toCustomer.id],
        [provider.user.id, toProvider.id],
      ].sort(),
    );
    for (const row of rows) expect(row.data).toEqual(expected);
  });

  it('tells both parties when the provider confirms (booking.confirmed) and when the booking is cancelled', async () => {
    const [forCustomer, forProvider] = await Promise.all([connect(customer), connect(provider.user)]);
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect((await post(`/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    for (const [client, person] of [
      [forCustomer, customer],
      [forProvider, provider.user],
    ] as const) {
      const confirmed = await client.waitFor(ofType('booking.confirmed', booking.id));
      expect(confirmed.data).toMatchObject({ booking_id: booking.id, status: 'confirmed' });
      const notice = await client.waitFor(
        (message) => message.type === 'notification.created' && message.data.template === 'booking_confirmed',
      );
      expect(notice.data.notification_id).toBe(await notificationIdOf(person.id, booking.id, 'booking_confirmed'));
    }

    const cancelled = await post(`/bookings/${booking.id}/cancel`, customer, { reason: 'Travel' });
    expect(cancelled.statusCode).toBe(200);
    for (const client of [forCustomer, forProvider]) {
      const message = await client.waitFor(ofType('booking.cancelled', booking.id));
      expect(message.data).toMatchObject({ booking_id: booking.id, status: 'cancelled' });
    }
  });

  it('tells both parties the visit was completed, and the provider of the review (review.posted)', async () => {
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect((await post(`/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    // The visit has started; everyone signs in again (their tokens expired with the clock).
    await f.moveClock(new Date('2027-03-30T10:00:00Z'), customer, provider.user);
    const [forCustomer, forProvider] = await Promise.all([connect(customer), connect(provider.user)]);

    expect((await post(`/bookings/${booking.id}/complete`, provider.user)).statusCode).toBe(200);
    for (const client of [forCustomer, forProvider]) {
      const completed = await client.waitFor(ofType('booking.completed', booking.id));
      expect(completed.data).toMatchObject({ booking_id: booking.id, status: 'completed' });
    }

    const review = await post(`/bookings/${booking.id}/review`, customer, { rating: 5, text: 'Lovely' });
    expect(review.statusCode).toBe(201);
    const posted = await forProvider.waitFor(ofType('review.posted', booking.id));
    expect(posted.data).toEqual({ booking_id: booking.id, provider_id: provider.providerId, rating: 5 });
    expect(await everythingFor(forCustomer, customer)).not.toContain('review.posted');
  });
});

describe('chat on /api/v1/live', () => {
  it('delivers a message to both parties; a recipient with the app open gets no other announcement', async () => {
    const [forCustomer, forProvider] = await Promise.all([connect(customer), connect(provider.user)]);
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    const sent = await post(`/bookings/${booking.id}/messages`, customer, { text: 'See you at nine' });
    expect(sent.statusCode).toBe(201);
    const messageId = sent.json().data.id as string;
    const expected = {
      booking_id: booking.id,
      message_id: messageId,
      sender: 'customer',
      text: 'See you at nine',
      created_at: f.clock.now().toISOString(),
    };
    expect((await forCustomer.waitFor(ofType('chat.message', booking.id))).data).toEqual(expected);
    expect((await forProvider.waitFor(ofType('chat.message', booking.id))).data).toEqual(expected);
    expect(await messagesOf(f.app, booking.id, 'chat_message')).toEqual([]);
    // The text goes to open apps only: the copies kept for resume (one per party) have none.
    const stored = await f.app.platform.db
      .select()
      .from(liveEvents)
      .where(sql`${liveEvents.type} = 'chat.message' and ${liveEvents.data}->>'booking_id' = ${booking.id}`);
    expect(stored.map((row) => row.userId).sort()).toEqual([customer.id, provider.user.id].sort());
    const { text: _text, ...withoutText } = expected;
    for (const row of stored) expect(row.data).toEqual(withoutText);

    const read = await post(`/bookings/${booking.id}/messages/read`, provider.user, {});
    expect(read.statusCode).toBe(200);
    for (const client of [forCustomer, forProvider]) {
      const receipt = await client.waitFor(ofType('chat.read', booking.id));
      expect(receipt.data).toEqual({
        booking_id: booking.id,
        reader: 'provider',
        message_ids: [messageId],
        read_at: f.clock.now().toISOString(),
      });
    }
  });

  it('announces a message on the channels of a recipient without the app open', async () => {
    const forCustomer = await connect(customer);
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    const sent = await post(`/bookings/${booking.id}/messages`, customer, { text: 'Running late' });
    expect(sent.statusCode).toBe(201);
    await forCustomer.waitFor(ofType('chat.message', booking.id));
    expect((await messagesOf(f.app, booking.id, 'chat_message')).map((row) => row.user_id)).toEqual([provider.user.id]);
  });
});

describe("the live module's privacy data map entry", () => {
  it('exports exactly what the person’s sockets were sent, and erasure deletes only their messages', async () => {
    const forCustomer = await connect(customer);
    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    expect((await post(`/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    await forCustomer.waitFor(ofType('booking.confirmed', booking.id));
    await forCustomer.waitFor((message) => message.type === 'notification.created');
    const providerRows = async () =>
      (await f.app.platform.db.select().from(liveEvents).where(eq(liveEvents.userId, provider.user.id))).length;
    const providerBefore = await providerRows();
    expect(providerBefore).toBeGreaterThan(0);

    const entry = f.app.platform.dataMap.entries().find((candidate) => candidate.module === 'live');
    expect(entry).toMatchObject({ tables: ['live_events'], retention: '24 hours' });
    const exported = await entry?.export(f.app.platform.db, customer.id);
    const sentToSocket = forCustomer.messages.slice(1).map(({ id, type, data, at }) => ({ id, type, data, at }));
    expect(sentToSocket.map((message) => message.type)).toEqual([
      'booking.created',
      'booking.confirmed',
      'notification.created',
    ]);
    expect(exported).toEqual(sentToSocket);

    const outcome = await f.app.platform.db.transaction((tx) => entry?.erase(tx, customer.id) as Promise<unknown>);
    expect(outcome).toEqual({ action: 'deleted', rows: 3 });
    expect(await entry?.export(f.app.platform.db, customer.id)).toEqual([]);
    expect(await providerRows()).toBe(providerBefore);
  });
});

// The gap is decided from what is stored, not from the time inside an id (ids come from the wall
// clock, the window from the platform clock; this file's clock is in 2027).
it('reports no gap when a client resumes right after the last message it got', async () => {
  const forCustomer = await connect(customer);
  await publishLive(f.app, [customer.id], { step: 'seen' });
  const seen = await forCustomer.waitFor((message) => message.data.step === 'seen');
  forCustomer.socket.close();
  await forCustomer.waitClosed();
  const again = await clients.open(url);
  const ready = await again.auth(tokenOf(customer), seen.id);
  expect(ready.data).toMatchObject({ resumed: 0, gap: false });
});
