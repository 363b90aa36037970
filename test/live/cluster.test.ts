import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { LIVE_CLOSE_CODES } from '../../src/modules/live/index.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  type Send,
  START,
  signIn,
} from '../bookings/helpers.js';
import { buildTestApp, createTestClock, type TestApp, testRedisUrl } from '../helpers/app.js';
import { servicesMode } from '../helpers/database.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { type LiveClient, type LiveMessage, liveClients, liveUrl, publishLive, tokenOf } from './helpers.js';

/**
 * Two app instances on one PostgreSQL database and one Redis (npm run test:services): what one
 * instance publishes reaches sockets on the other through Redis pub/sub, once.
 */
describe.skipIf(!servicesMode || !testRedisUrl)('live updates across two instances (PostgreSQL and Redis)', () => {
  const clock = createTestClock(START);
  let a: TestApp;
  let b: TestApp;
  let f: BookingsFixture;
  let urlA: string;
  let urlB: string;
  const clients = liveClients();

  /** Instance A's bookings fixture: an admin and a category, the clock both instances share. */
  async function bookingsOn(app: FastifyInstance): Promise<BookingsFixture> {
    const send: Send = (method, url, user, payload, headers = {}) =>
      app.inject({ method, url: `/api/v1${url}`, headers: { ...user?.headers, ...headers }, payload });
    const admin = await createUser(app, { role: 'admin' });
    const category = await send('POST', '/admin/categories', admin, { slug: `massage-${admin.id}`, name: 'Massage' });
    if (category.statusCode !== 201) throw new Error(`category: ${category.statusCode} ${category.body}`);
    return {
      app,
      clock,
      send,
      admin,
      categoryId: category.json().data.id,
      async moveClock(to, ...users) {
        clock.set(to);
        await signIn(app, admin, ...users);
      },
      async resetClock() {},
      close: async () => {},
    };
  }

  beforeAll(async () => {
    // One signing key, one Redis prefix and one database (only A closes it): two instances of one deployment.
    // Small outbox batches, so both instances' dispatchers claim rows in the same passes.
    const env = { JWT_SECRET: randomBytes(32).toString('hex'), OUTBOX_BATCH_SIZE: '2' };
    const redisPrefix = `test:live:${randomBytes(4).toString('hex')}:`;
    a = await buildTestApp({ env, clock, redisPrefix });
    b = await buildTestApp({ env, clock, redisPrefix, database: { ...a.database, close: async () => {} } });
    [urlA, urlB] = await Promise.all([liveUrl(a.app), liveUrl(b.app)]);
    f = await bookingsOn(a.app);
  });

  afterAll(async () => {
    clients.closeAll();
    await b?.close();
    await a?.close();
  });

  afterEach(() => clients.closeAll());

  /** How many messages of `type` the socket got for `bookingId`, once a marker sent after them has arrived. */
  async function countOf(client: LiveClient, app: FastifyInstance, user: TestUser, match: (m: LiveMessage) => boolean) {
    const marker = randomUUID();
    await publishLive(app, [user.id], { marker });
    await client.waitFor((message) => message.data.marker === marker);
    return client.messages.filter(match);
  }

  it('delivers a booking confirmed through A to sockets on B, once per socket', async () => {
    const [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
    const customerOnB = await clients.ready(urlB, tokenOf(customer));
    const providerOnA = await clients.ready(urlA, tokenOf(provider.user));
    const providerOnB = await clients.ready(urlB, tokenOf(provider.user));

    const booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
    const confirm = await f.send('POST', `/bookings/${booking.id}/confirm`, provider.user);
    expect(confirm.statusCode).toBe(200);
    const confirmed = (message: LiveMessage) =>
      message.type === 'booking.confirmed' && message.data.booking_id === booking.id;

    const toCustomer = await countOf(customerOnB, b.app, customer, confirmed);
    expect(toCustomer).toHaveLength(1);
    expect(toCustomer[0]?.data).toMatchObject({ booking_id: booking.id, status: 'confirmed' });
    const toProviderOnA = await countOf(providerOnA, a.app, provider.user, confirmed);
    const toProviderOnB = await countOf(providerOnB, b.app, provider.user, confirmed);
    expect(toProviderOnA).toHaveLength(1);
    expect(toProviderOnB).toHaveLength(1);
    // One stored message per person: both of the provider's sockets got the same one.
    expect(toProviderOnB[0]?.id).toBe(toProviderOnA[0]?.id);
    const [stored] = await queryRows<{ count: number }>(
      a.app.platform.db,
      sql`select count(*)::int as count from live_events
          where type = 'booking.confirmed' and data->>'booking_id' = ${booking.id}`,
    );
    expect(stored?.count).toBe(2);
  });

  it('delivers a message published on B to a socket on A once', async () => {
    const user = await createUser(a.app);
    const onA = await clients.ready(urlA, user.accessToken);
    const onB = await clients.ready(urlB, user.accessToken);
    await publishLive(b.app, [user.id], { step: 'from B' });
    const fromB = (message: LiveMessage) => message.data.step === 'from B';
    const [gotOnA, gotOnB] = [await countOf(onA, a.app, user, fromB), await countOf(onB, b.app, user, fromB)];
    expect(gotOnA).toHaveLength(1);
    expect(gotOnB).toHaveLength(1);
    expect(gotOnA[0]?.id).toBe(gotOnB[0]?.id);
  });

  it('closes the socket on B of a session signed out through A within a second and a half (4002)', async () => {
    const user = await createUser(a.app);
    const onB = await clients.ready(urlB, user.accessToken);
    const started = Date.now();
    const logout = await a.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers });
    expect(logout.statusCode).toBe(200);
    const closed = await onB.waitClosed(1500);
    expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.SESSION_REVOKED, reason: 'session revoked' });
    expect(closed.at - started).toBeLessThan(1500);
  });

  it('sends each queued notification once while both instances drain the outbox together', async () => {
    const [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
    for (const day of ['2027-03-29', '2027-03-30', '2027-04-01', '2027-04-02']) {
      const booking = await booked(f, customer, provider, `${day}T09:00:00Z`);
      expect((await f.send('POST', `/bookings/${booking.id}/confirm`, provider.user)).statusCode).toBe(200);
    }

    const sentBy = async (app: FastifyInstance) =>
      (await app.platform.metrics.notificationsSent.get()).values.reduce((sum, value) => sum + value.value, 0);
    const [beforeA, beforeB] = [await sentBy(a.app), await sentBy(b.app)];
    const [sentBefore] = await queryRows<{ count: number }>(
      a.app.platform.db,
      sql`select count(*)::int as count from notifications where status = 'sent'`,
    );
    for (let pass = 0; pass < 50; pass += 1) {
      const claimed = await Promise.all([a.app.platform.dispatcher.runOnce(), b.app.platform.dispatcher.runOnce()]);
      if (claimed[0] === 0 && claimed[1] === 0) break;
    }

    // Delivered notifications drop their data: find them through the booking's parties.
    const parties = await queryRows<{ user_id: string; status: string }>(
      a.app.platform.db,
      sql`select user_id, status from notifications
          where template = 'booking_confirmed' and user_id in (${customer.id}, ${provider.user.id})`,
    );
    expect(parties).toHaveLength(8);
    expect(parties.filter((row) => row.status === 'sent')).toHaveLength(8);
    expect(new Set(parties.map((row) => row.user_id))).toEqual(new Set([customer.id, provider.user.id]));
    // Every notification marked sent was handed to a channel exactly once, by one instance or the other.
    const [sentAfter] = await queryRows<{ count: number }>(
      a.app.platform.db,
      sql`select count(*)::int as count from notifications where status = 'sent'`,
    );
    const [byA, byB] = [(await sentBy(a.app)) - beforeA, (await sentBy(b.app)) - beforeB];
    expect(byA + byB).toBe((sentAfter?.count ?? 0) - (sentBefore?.count ?? 0));
    // Both instances did part of the work.
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    const [pending] = await queryRows<{ count: number }>(
      a.app.platform.db,
      sql`select count(*)::int as count from outbox where status = 'processing'`,
    );
    expect(pending?.count).toBe(0);
  });
});
