import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from '../bookings/helpers.js';
import { createUser, type TestUser } from '../helpers/users.js';

type View = { id: string; service_name?: string; provider_name?: string; customer_name?: string | null };

describe('booking views carry the names a client shows', () => {
  let f: BookingsFixture;
  let provider: TestProvider;
  let ada: TestUser;
  let anonymous: TestUser;
  let adaBooking: string;
  let anonymousBooking: string;

  beforeAll(async () => {
    f = await setUpBookings();
    provider = await createProvider(f);
    ada = await createUser(f.app, { name: 'Ada Lovelace' });
    anonymous = await createCustomer(f);
    adaBooking = (await booked(f, ada, provider, '2027-03-23T09:00:00Z')).id;
    anonymousBooking = (await booked(f, anonymous, provider, '2027-03-23T10:15:00Z')).id;
  });
  afterAll(() => f?.close());

  const providerName = async () => (await f.send('GET', '/provider/profile', provider.user)).json().data.display_name;
  const list = async (url: string, user: TestUser): Promise<View[]> => {
    const res = await f.send('GET', url, user);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };

  it("shows the customer their bookings with the service and provider names, not other people's names", async () => {
    const [mine] = await list('/me/bookings', ada);
    expect(mine).toMatchObject({ id: adaBooking, service_name: 'Back massage', provider_name: await providerName() });
    expect(mine).not.toHaveProperty('customer_name');
    const one = await f.send('GET', `/bookings/${adaBooking}`, ada);
    expect(one.json().data).toMatchObject({ service_name: 'Back massage', provider_name: await providerName() });
    expect(one.json().data).not.toHaveProperty('customer_name');
    // The detail keeps its payment fields.
    expect(one.json().data).toHaveProperty('payment', null);
  });

  it("shows the provider each customer's display name, null for an account without one", async () => {
    const calendar = await list('/provider/bookings?from=2027-03-22T00:00:00Z', provider.user);
    expect(calendar.map((booking) => [booking.id, booking.customer_name, booking.service_name])).toEqual([
      [adaBooking, 'Ada Lovelace', 'Back massage'],
      [anonymousBooking, null, 'Back massage'],
    ]);
    const one = await f.send('GET', `/bookings/${adaBooking}`, provider.user);
    expect(one.json().data).toMatchObject({ customer_name: 'Ada Lovelace', provider_name: await providerName() });
  });

  it("shows the provider null for an erased customer's name", async () => {
    const grace = await createUser(f.app, { name: 'Grace Hopper' });
    const booking = (await booked(f, grace, provider, '2027-03-23T13:00:00Z')).id;
    const view = async () => (await f.send('GET', `/bookings/${booking}`, provider.user)).json().data;
    expect((await view()).customer_name).toBe('Grace Hopper');
    const erased = await f.send('POST', `/admin/users/${grace.id}/erase`, f.admin, { reason: 'request #1' });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(await view()).toMatchObject({ customer_id: null, customer_name: null, service_name: 'Back massage' });
  });

  it('shows the names a service and a provider have now, and keeps them for a withdrawn service', async () => {
    const renamed = await f.send('PATCH', '/provider/profile', provider.user, { display_name: 'Thames Therapy' });
    expect(renamed.statusCode).toBe(200);
    const withdrawn = await f.app.inject({
      method: 'DELETE',
      url: `/api/v1/provider/services/${provider.serviceId}`,
      headers: provider.user.headers,
    });
    expect(withdrawn.statusCode).toBe(204);
    const [mine] = await list('/me/bookings', ada);
    expect(mine).toMatchObject({ service_name: 'Back massage', provider_name: 'Thames Therapy' });
  });
});
