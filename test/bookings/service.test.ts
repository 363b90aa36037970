import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { bookings, reviews } from '../../src/modules/bookings/bookings.tables.js';
import type { TestUser } from '../helpers/users.js';
import {
  actorOf,
  type BookingsFixture,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

// The bookings service on PGlite without HTTP: providers and customers are made through the
// routes, everything else is a call of `app.platform.services.bookings`.

let f: BookingsFixture;
let provider: TestProvider;
let customer: TestUser;
const service = () => f.app.platform.services.bookings;
const bookingAt = (startsAt: string, note?: string) => ({
  service_id: provider.serviceId,
  starts_at: startsAt,
  ...(note ? { note } : {}),
});
const rowsOfProvider = () =>
  f.app.platform.db.select().from(bookings).where(eq(bookings.providerId, provider.providerId));

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock();
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
});

describe('slots', () => {
  const mondaySlots = (providerId = provider.providerId, serviceId = provider.serviceId) =>
    service().slots(null, providerId, {
      service_id: serviceId,
      from: '2027-03-22T00:00:00Z',
      to: '2027-03-23T00:00:00Z',
    });

  it('lists the free start times of the schedule, in the provider’s zone, on the 15-minute grid', async () => {
    const answer = await mondaySlots();
    expect(answer).toMatchObject({ time_zone: 'Europe/London', duration_minutes: 60 });
    expect(answer.slots[0]).toBe('2027-03-22T09:00:00.000Z');
    expect(answer.slots).toContain('2027-03-22T09:15:00.000Z');
    expect(answer.slots).not.toContain('2027-03-22T11:15:00.000Z');
    expect(answer.slots.at(-1)).toBe('2027-03-22T16:00:00.000Z');
  });

  it('leaves out the visit and buffer of a booking', async () => {
    await service().create(actorOf(customer), bookingAt('2027-03-22T09:00:00Z'));
    expect((await mondaySlots()).slots[0]).toBe('2027-03-22T10:15:00.000Z');
  });

  it('has none for a provider without a schedule', async () => {
    const unscheduled = await createProvider(f, { schedule: null });
    const answer = await mondaySlots(unscheduled.providerId, unscheduled.serviceId);
    expect(answer).toMatchObject({ time_zone: 'Europe/London', slots: [] });
  });

  it('refuses a range that ends before it starts', async () => {
    await expect(
      service().slots(null, provider.providerId, {
        service_id: provider.serviceId,
        from: '2027-03-23T00:00:00Z',
        to: '2027-03-22T00:00:00Z',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'query.to' }] });
  });
});

describe('create with an Idempotency-Key', () => {
  it('answers a replay with the first answer', async () => {
    const first = await service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00Z'), 'key-1');
    const replay = await service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00Z'), 'key-1');
    expect(first).toMatchObject({ statusCode: 201, replayed: false });
    expect(replay).toEqual({ statusCode: 201, booking: first.booking, replayed: true });
    expect(await rowsOfProvider()).toHaveLength(1);
  });

  it('takes the same request spelled another way as a replay', async () => {
    const first = await service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00Z'), 'key-1');
    const replay = await service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00.000+00:00'), 'key-1');
    expect(replay).toMatchObject({ replayed: true, booking: { id: first.booking.id } });
  });

  it('refuses the key with another body (IDEMPOTENCY_KEY_REUSED)', async () => {
    await service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00Z'), 'key-1');
    await expect(service().create(actorOf(customer), bookingAt('2027-03-25T10:30:00Z'), 'key-1')).rejects.toMatchObject(
      { code: 'IDEMPOTENCY_KEY_REUSED' },
    );
    expect(await rowsOfProvider()).toHaveLength(1);
  });

  it('makes one booking of two concurrent creations with the same key', async () => {
    const create = () => service().create(actorOf(customer), bookingAt('2027-03-25T09:00:00Z'), 'key-1');
    const answers = await Promise.all([create(), create()]);
    expect(answers.map((answer) => answer.replayed).sort()).toEqual([false, true]);
    expect(answers[0]?.booking.id).toBe(answers[1]?.booking.id);
    expect(await rowsOfProvider()).toHaveLength(1);
  });
});

describe('data map entry', () => {
  const entryOf = (module: string) => {
    const entry = f.app.platform.dataMap.entries().find((candidate) => candidate.module === module);
    if (!entry) throw new Error(`no data map entry for ${module}`);
    return entry;
  };

  // Four bookings of the customer (one with a note and an Idempotency-Key), the first of them
  // completed and reviewed 4 stars.
  beforeEach(async () => {
    const customerActor = actorOf(customer);
    const made = [];
    for (const at of ['2027-03-23T09:00:00Z', '2027-03-25T09:00:00Z', '2027-03-26T09:00:00Z']) {
      made.push((await service().create(customerActor, bookingAt(at))).booking);
    }
    await service().create(customerActor, bookingAt('2027-03-29T09:00:00Z', 'Ring twice'), 'key-1');
    const visit = made[0] as { id: string };
    await service().transition(actorOf(provider.user), visit.id, 'confirm');
    await f.moveClock(new Date('2027-03-23T10:00:00Z'));
    await service().transition(actorOf(provider.user), visit.id, 'complete');
    await service().postReview(customerActor, visit.id, { rating: 4, text: 'Lovely' });
  });

  it('exports the customer’s bookings and reviews', async () => {
    const exported = (await entryOf('bookings').export(f.app.platform.db, customer.id)) as {
      bookings: unknown[];
      reviews: unknown[];
    };
    expect(exported.bookings).toHaveLength(4);
    expect(exported.reviews).toHaveLength(1);
  });

  it('erasure keeps the provider’s history, pseudonymised, and the rating without the text', async () => {
    // Erasure runs every entry; the customer's idempotency keys are the idempotency module's.
    await f.app.platform.db.transaction(async (tx) => {
      await entryOf('bookings').erase(tx, customer.id);
      await entryOf('idempotency').erase(tx, customer.id);
    });
    const left = await f.app.platform.db.select().from(bookings).where(eq(bookings.customerId, customer.id));
    expect(left).toHaveLength(0);
    const kept = await rowsOfProvider();
    expect(kept).toHaveLength(4);
    expect(kept.every((row) => row.customerId === null && row.note === null)).toBe(true);
    const [review] = await f.app.platform.db.select().from(reviews).where(eq(reviews.providerId, provider.providerId));
    expect(review).toMatchObject({ customerId: null, text: '', rating: 4 });
    const keys = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from idempotency_keys where user_id = ${customer.id}`,
    );
    expect(keys[0]?.n).toBe(0);
  });
});
