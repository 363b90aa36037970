/**
 * The waitlist over HTTP. The clock is at START, Monday 22 March 2027 06:00 UTC; providers work
 * weekdays 09:00–17:00 London time (GMT until the 28th, so UTC), lunch 12:00–13:00, closed on
 * Wednesday 24th; the service is 60 minutes plus a 15-minute buffer.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { bookings, waitlistEntries } from '../../src/modules/bookings/bookings.tables.js';
import { WAITLIST_OFFER_MINUTES } from '../../src/modules/bookings/index.js';
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
} from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

const DAY = '2027-03-25'; // Thursday
const TEN = '2027-03-25T10:00:00.000Z';

const join = (user: TestUser | undefined, provider: TestProvider, day = DAY, serviceId = provider.serviceId) =>
  f.send('POST', '/waitlist', user, { provider_id: provider.providerId, service_id: serviceId, day });

const joined = async (user: TestUser, provider: TestProvider, day = DAY, serviceId = provider.serviceId) => {
  const res = await join(user, provider, day, serviceId);
  if (res.statusCode !== 201) throw new Error(`join: ${res.statusCode} ${res.body}`);
  return res.json().data as { id: string; status: string };
};

const accept = (user: TestUser, id: string, headers: Record<string, string> = {}) =>
  f.send('POST', `/waitlist/${id}/accept`, user, {}, headers);

// DELETE is not one of the fixture's methods.
const leave = (user: TestUser, id: string) =>
  f.app.inject({ method: 'DELETE', url: `/api/v1/waitlist/${id}`, headers: user.headers });

const entryOf = async (id: string) => {
  const [row] = await f.app.platform.db.select().from(waitlistEntries).where(eq(waitlistEntries.id, id));
  return row;
};

// By person: a notification's data is cleared once it is delivered.
const offersTo = (user: TestUser) =>
  queryRows<{ id: string }>(
    f.app.platform.db,
    sql`select id from notifications where template = 'waitlist_offer' and user_id = ${user.id}`,
  );

const slotsOn = async (provider: TestProvider, day = DAY) => {
  const res = await f.send(
    'GET',
    `/providers/${provider.providerId}/slots?service_id=${provider.serviceId}&from=${day}T00:00:00Z&to=${day}T23:59:00Z`,
  );
  return res.json().data.slots as string[];
};

const bookingsOf = (user: TestUser) =>
  f.app.platform.db.select().from(bookings).where(eq(bookings.customerId, user.id));

/** A booking at 10:00 on Thursday, cancelled by its customer, and the freed-time message delivered. */
const freeTen = async (provider: TestProvider) => {
  const holder = await createCustomer(f);
  const booking = await booked(f, holder, provider, TEN);
  const cancelled = await f.send('POST', `/bookings/${booking.id}/cancel`, holder, {});
  expect(cancelled.statusCode).toBe(200);
  // Free to all until the waitlist offers it (and the slot list is cached meanwhile).
  expect(await slotsOn(provider)).toContain(TEN);
  await drainOutbox(f);
  return booking;
};

describe('waitlist', () => {
  let provider: TestProvider;
  let first: TestUser;
  let second: TestUser;

  beforeEach(async () => {
    await f.resetClock();
    [provider, first, second] = await Promise.all([createProvider(f), createCustomer(f), createCustomer(f)]);
  });

  it('joins once per provider and day, and refuses what cannot be waited for', async () => {
    const res = await join(first, provider);
    expect(res.statusCode).toBe(201);
    expect(res.json().data).toMatchObject({
      provider_id: provider.providerId,
      service_id: provider.serviceId,
      day: DAY,
      status: 'waiting',
      service_name: 'Back massage',
      offer_starts_at: null,
      booking_id: null,
    });

    const again = await join(first, provider);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('CONFLICT');

    expect((await join(undefined, provider)).statusCode).toBe(401);
    const past = await join(second, provider, '2027-03-21');
    expect(past.statusCode).toBe(400);
    expect(past.json().details[0].field).toBe('body.day');
    expect((await join(second, provider, '2027-05-22')).statusCode).toBe(400);
    expect((await join(second, provider, '2027-02-30')).statusCode).toBe(400);
    const other = await createProvider(f);
    const foreign = await join(second, provider, DAY, other.serviceId);
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().details[0].field).toBe('body.service_id');
    const own = await join(provider.user, provider);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe('OWN_SERVICE');
    const extra = await f.send('POST', '/waitlist', second, {
      provider_id: provider.providerId,
      service_id: provider.serviceId,
      day: DAY,
      status: 'offered',
    });
    expect(extra.statusCode).toBe(400);

    // Today (local) and the 60th day ahead are fine.
    expect((await join(second, provider, '2027-03-22')).statusCode).toBe(201);
    expect((await join(second, provider, '2027-05-21')).statusCode).toBe(201);

    const mine = await f.send('GET', '/me/waitlist?limit=1', second);
    expect(mine.statusCode).toBe(200);
    expect(mine.json().data).toHaveLength(1);
    expect(mine.json().data[0].day).toBe('2027-05-21');
    const next = await f.send('GET', `/me/waitlist?limit=1&cursor=${mine.json().meta.next_cursor}`, second);
    expect(next.json().data[0].day).toBe('2027-03-22');
    expect(next.json().meta.next_cursor).toBeNull();
    expect((await f.send('GET', '/me/waitlist', first)).json().data).toHaveLength(1);
  });

  it('offers a cancelled time to the first waiter only, notifies them, and holds it from everyone else', async () => {
    const firstEntry = await joined(first, provider);
    const secondEntry = await joined(second, provider);
    await freeTen(provider);

    const offered = await entryOf(firstEntry.id);
    expect(offered?.status).toBe('offered');
    expect(offered?.offerStartsAt?.toISOString()).toBe(TEN);
    expect(offered?.offerEndsAt?.toISOString()).toBe('2027-03-25T11:00:00.000Z');
    expect(offered?.offerExpiresAt?.getTime()).toBe(f.clock.now().getTime() + WAITLIST_OFFER_MINUTES * 60_000);
    expect((await entryOf(secondEntry.id))?.status).toBe('waiting');

    expect(await offersTo(first)).toHaveLength(1);
    expect(await offersTo(second)).toHaveLength(0);

    // Held: not a free slot, and no one else can book it or a time overlapping it.
    expect(await slotsOn(provider)).not.toContain(TEN);
    for (const at of [TEN, '2027-03-25T10:15:00Z', '2027-03-25T09:00:00Z']) {
      const res = await book(f, second, provider, at);
      expect(res.statusCode, at).toBe(409);
      expect(res.json().details[0].reason).toBe('taken');
    }
    expect(await slotsOn(provider)).toContain('2027-03-25T13:00:00.000Z');

    const mine = await f.send('GET', '/me/waitlist', first);
    expect(mine.json().data[0]).toMatchObject({ status: 'offered', offer_starts_at: TEN });

    // Accepting books it for the waiter.
    const res = await accept(first, firstEntry.id);
    expect(res.statusCode).toBe(201);
    expect(res.json().data).toMatchObject({ starts_at: TEN, service_id: provider.serviceId, status: 'pending' });
    const entry = await entryOf(firstEntry.id);
    expect(entry?.status).toBe('booked');
    expect(entry?.bookingId).toBe(res.json().data.id);
    expect(await slotsOn(provider)).not.toContain(TEN);
    // Nobody else's place, and a second accept is refused.
    expect((await accept(second, firstEntry.id)).statusCode).toBe(404);
    const again = await accept(first, firstEntry.id);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('INVALID_STATE');
    expect(await bookingsOf(first)).toHaveLength(1);
  });

  it('books an offer accepted twice at once exactly once', async () => {
    const entry = await joined(first, provider);
    await freeTen(provider);
    const answers = await Promise.all([accept(first, entry.id), accept(first, entry.id)]);
    expect(answers.map((res) => res.statusCode).sort()).toEqual([201, 409]);
    expect(answers.find((res) => res.statusCode === 409)?.json().code).toBe('INVALID_STATE');
    const rows = await bookingsOf(first);
    expect(rows).toHaveLength(1);
    expect((await entryOf(entry.id))?.bookingId).toBe(rows[0]?.id);
  });

  it('answers a retry with the same Idempotency-Key with the first booking', async () => {
    const entry = await joined(first, provider);
    await freeTen(provider);
    const headers = { 'idempotency-key': `accept-${entry.id}` };
    const answers = await Promise.all([accept(first, entry.id, headers), accept(first, entry.id, headers)]);
    expect(answers.map((res) => res.statusCode)).toEqual([201, 201]);
    expect(answers.filter((res) => res.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
    expect(answers[0]?.json().data.id).toBe(answers[1]?.json().data.id);
    expect(await bookingsOf(first)).toHaveLength(1);
  });

  it('passes an expired offer to the next waiter', async () => {
    const firstEntry = await joined(first, provider);
    const secondEntry = await joined(second, provider);
    await freeTen(provider);
    await f.moveClock(new Date(START_PLUS(WAITLIST_OFFER_MINUTES + 1)), first, second);

    // Expired, even before the sweep has run.
    const late = await accept(first, firstEntry.id);
    expect(late.statusCode).toBe(409);
    expect(late.json().message).toMatch(/expired/);

    // Earlier tests' offers expire with it.
    expect(await f.app.platform.jobs.waitlistOffers.runOnce()).toBeGreaterThanOrEqual(1);
    expect((await entryOf(firstEntry.id))?.status).toBe('expired');
    const next = await entryOf(secondEntry.id);
    expect(next?.status).toBe('offered');
    expect(next?.offerStartsAt?.toISOString()).toBe(TEN);
    expect(await offersTo(second)).toHaveLength(1);
    expect(await f.app.platform.jobs.waitlistOffers.runOnce()).toBe(0);
    expect((await accept(first, firstEntry.id)).statusCode).toBe(409);
    expect((await accept(second, secondEntry.id)).statusCode).toBe(201);
  });

  it('gives a left offer to the next waiter at once, and frees the time when nobody waits', async () => {
    const firstEntry = await joined(first, provider);
    const secondEntry = await joined(second, provider);
    await freeTen(provider);
    expect((await leave(second, firstEntry.id)).statusCode).toBe(404);

    const left = await leave(first, firstEntry.id);
    expect(left.statusCode).toBe(200);
    expect(left.json().data.status).toBe('cancelled');
    expect((await entryOf(secondEntry.id))?.status).toBe('offered');
    expect(await offersTo(second)).toHaveLength(1);
    expect((await leave(first, firstEntry.id)).statusCode).toBe(409);
    // Rejoining the day is allowed once the place is left.
    expect((await join(first, provider)).statusCode).toBe(201);

    expect((await leave(second, secondEntry.id)).statusCode).toBe(200);
    // The first waiter rejoined after the second: they are offered it now.
    const rejoined = await f.send('GET', '/me/waitlist?limit=1', first);
    expect(rejoined.json().data[0].status).toBe('offered');
    expect((await leave(first, rejoined.json().data[0].id)).statusCode).toBe(200);
    // Nobody waits: the time is free to all again.
    expect(await slotsOn(provider)).toContain(TEN);
    expect((await book(f, second, provider, TEN)).statusCode).toBe(201);
  });

  it('passes over a waiter whose service does not fit the freed time, and offers nothing when none fits', async () => {
    const long = await f.send('POST', '/provider/services', provider.user, {
      name: 'Long treatment',
      category_id: f.categoryId,
      duration_minutes: 180,
      buffer_minutes: 0,
      price_minor: 9000,
      currency: 'EUR',
    });
    expect(long.statusCode).toBe(201);
    // 10:00 + 3 hours runs into lunch: the long service does not fit there.
    const longEntry = await joined(first, provider, DAY, long.json().data.id);
    const shortEntry = await joined(second, provider);
    const other = await createCustomer(f);
    const otherDay = await joined(other, provider, '2027-03-26');
    await freeTen(provider);
    expect((await entryOf(longEntry.id))?.status).toBe('waiting');
    expect((await entryOf(shortEntry.id))?.status).toBe('offered');
    expect((await entryOf(otherDay.id))?.status).toBe('waiting');
  });

  it('refuses a series or a move into a held time, and never lets an offer and a booking share a time', async () => {
    const entry = await joined(first, provider);
    await freeTen(provider);
    const series = await f.send('POST', '/bookings/series', second, {
      service_id: provider.serviceId,
      starts_at: TEN,
      weeks: 2,
    });
    expect(series.statusCode).toBe(409);
    expect(series.json().details[0].reason).toBe('taken');
    const mover = await booked(f, second, provider, '2027-03-25T14:00:00Z');
    const moved = await f.send('POST', `/bookings/${mover.id}/reschedule`, second, { starts_at: TEN });
    expect(moved.statusCode).toBe(409);
    expect(moved.json().details[0].reason).toBe('taken');
    expect((await entryOf(entry.id))?.status).toBe('offered');

    // A time freed while someone books it: either the booking or the offer gets it, never both.
    const racer = await createCustomer(f);
    const late = await joined(racer, provider, '2027-03-26');
    const other = await createCustomer(f);
    const friday = await booked(f, other, provider, '2027-03-26T10:00:00Z');
    expect((await f.send('POST', `/bookings/${friday.id}/cancel`, other, {})).statusCode).toBe(200);
    const [res] = await Promise.all([book(f, second, provider, '2027-03-26T10:00:00Z'), drainOutbox(f)]);
    const offered = (await entryOf(late.id))?.status === 'offered';
    expect(res.statusCode === 201).toBe(!offered);
  });

  it('offers the time a booking was moved away from', async () => {
    const entry = await joined(first, provider);
    const holder = await createCustomer(f);
    const booking = await booked(f, holder, provider, TEN);
    const moved = await f.send('POST', `/bookings/${booking.id}/reschedule`, holder, {
      starts_at: '2027-03-25T14:00:00Z',
    });
    expect(moved.statusCode).toBe(200);
    await drainOutbox(f);
    const offered = await entryOf(entry.id);
    expect(offered?.status).toBe('offered');
    expect(offered?.offerStartsAt?.toISOString()).toBe(TEN);
  });

  it('exports the places and erases them with the person, passing a held time on', async () => {
    const firstEntry = await joined(first, provider);
    const secondEntry = await joined(second, provider);
    await freeTen(provider);
    const erased = await f.send('POST', `/admin/users/${first.id}/erase`, f.admin, { reason: 'request' });
    expect(erased.statusCode).toBe(200);
    expect(await entryOf(firstEntry.id)).toBeUndefined();
    await drainOutbox(f);
    expect((await entryOf(secondEntry.id))?.status).toBe('offered');

    const exported = await f.app.platform.dataMap
      .entries()
      .find((entry) => entry.module === 'bookings')
      ?.export(f.app.platform.db, second.id);
    expect((exported as { waitlist: { id: string }[] }).waitlist.map((row) => row.id)).toEqual([secondEntry.id]);
  });
});

function START_PLUS(minutes: number) {
  return Date.parse('2027-03-22T06:00:00Z') + minutes * 60_000;
}
