import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
/** A signed-in user with no bookings. */
let stranger: TestUser;
let provider: TestProvider;
let customer: TestUser;
/** The customer's three bookings with the provider, made out of time order. */
let made: { id: string; starts_at: string }[];

beforeAll(async () => {
  f = await setUpBookings();
  stranger = await createCustomer(f);
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(stranger);
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  made = [];
  for (const at of ['2027-03-26T09:00:00Z', '2027-03-23T09:00:00Z', '2027-03-25T09:00:00Z']) {
    made.push(await booked(f, customer, provider, at));
  }
});

describe('GET /bookings/:id', () => {
  it('shows the booking to its customer and its provider', async () => {
    const booking = made[0]!;
    expect((await f.send('GET', `/bookings/${booking.id}`, customer)).statusCode).toBe(200);
    expect((await f.send('GET', `/bookings/${booking.id}`, provider.user)).statusCode).toBe(200);
  });

  it('tells anyone else it does not exist', async () => {
    const booking = made[0]!;
    expect((await f.send('GET', `/bookings/${booking.id}`, stranger)).statusCode).toBe(404);
  });
});

describe('GET /me/bookings', () => {
  it('pages the customer’s bookings with a cursor', async () => {
    const first = await f.send('GET', '/me/bookings?limit=2', customer);
    expect(first.json().data).toHaveLength(2);
    const cursor = first.json().meta.next_cursor;
    expect(cursor).toBeTruthy();
    const second = await f.send('GET', `/me/bookings?limit=2&cursor=${cursor}`, customer);
    const ids = [...first.json().data, ...second.json().data].map((b: { id: string }) => b.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(made.map((b) => b.id)));
  });

  it('shows no one else’s bookings', async () => {
    expect((await f.send('GET', '/me/bookings', stranger)).json().data).toHaveLength(0);
  });

  it('refuses a cursor it did not write (400)', async () => {
    expect((await f.send('GET', '/me/bookings?cursor=nonsense', customer)).statusCode).toBe(400);
  });
});

describe('GET /provider/bookings', () => {
  it('lists the provider’s calendar earliest first', async () => {
    const calendar = await f.send(
      'GET',
      '/provider/bookings?from=2027-03-01T00:00:00Z&to=2027-05-01T00:00:00Z',
      provider.user,
    );
    const starts = calendar.json().data.map((b: { starts_at: string }) => b.starts_at);
    expect(starts).toHaveLength(made.length);
    expect(starts).toEqual([...starts].sort());
  });
});

describe('GET /admin/bookings', () => {
  it('is for admins only', async () => {
    expect((await f.send('GET', '/admin/bookings', provider.user)).statusCode).toBe(403);
  });

  it('filters by provider and status', async () => {
    for (const booking of made.slice(0, 2)) {
      await f.send('POST', `/bookings/${booking.id}/cancel`, provider.user, { reason: 'Ill' });
    }
    const all = await f.send('GET', `/admin/bookings?provider_id=${provider.providerId}&status=cancelled`, f.admin);
    expect(all.json().data).toHaveLength(2);
  });
});
