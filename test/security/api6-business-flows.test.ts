/**
 * OWASP API6:2023 Unrestricted Access to Sensitive Business Flows. The flows worth abusing are
 * closed to abuse: a provider cannot book their own service, nor review it through a second
 * account that pays with their card (403 OWN_SERVICE); a slot sold to several people at once is
 * sold once (the rest 409 SLOT_UNAVAILABLE); a paid booking cancelled twice at once is refunded
 * once; the free trial is had once per email, also after erasing the account and signing up again
 * (409 TRIAL_ALREADY_USED); and a flood of identical anonymous views from one device counts once
 * in the content report and never outranks what signed-in people read.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { simulatedCardToken } from '../../src/modules/payments/gateways/index.js';
import {
  type BookingsFixture,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from '../bookings/helpers.js';
import { drainOutbox } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** Two test cards, as two different people would pay with. */
const PROVIDERS_CARD = '4000056655665556';

let f: BookingsFixture;
let provider: TestProvider & { paidServiceId: string };
let elsewhere: TestProvider & { paidServiceId: string };
/** The provider's second account. */
let puppet: TestUser;
let customer: TestUser;
const shared: TestUser[] = [];

const expectStatus = (response: { statusCode: number; body: string }, status: number) => {
  expect(response.statusCode, response.body).toBe(status);
  return response.body ? JSON.parse(response.body) : undefined;
};

const count = async (query: ReturnType<typeof sql>) => (await queryRows<{ n: number }>(f.app.platform.db, query))[0]?.n;

/** A verified provider who also sells a service paid online (payouts ready on the simulated gateway). */
async function paidProvider(): Promise<TestProvider & { paidServiceId: string }> {
  const made = await createProvider(f);
  expectStatus(await f.send('POST', '/provider/payouts/onboarding', made.user), 200);
  await drainOutbox(f);
  const service = expectStatus(
    await f.send('POST', '/provider/services', made.user, {
      name: 'Sports massage',
      category_id: f.categoryId,
      duration_minutes: 60,
      price_minor: 6000,
      currency: 'EUR',
      payment: 'required',
    }),
    201,
  ).data;
  return { ...made, paidServiceId: service.id };
}

beforeAll(async () => {
  f = await setUpBookings();
  provider = await paidProvider();
  elsewhere = await paidProvider();
  [puppet, customer] = await Promise.all([createCustomer(f), createCustomer(f)]);
  shared.push(provider.user, elsewhere.user, puppet, customer);
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(...shared);
});

describe('a provider and their own service', () => {
  it('cannot book it (403 OWN_SERVICE), at the visit or paid online, and nothing is made', async () => {
    const bookingsBefore = await count(
      sql`select count(*)::int as n from bookings where provider_id = ${provider.providerId}`,
    );
    for (const body of [
      { service_id: provider.serviceId, starts_at: '2027-03-24T09:00:00Z' },
      { service_id: provider.paidServiceId, starts_at: '2027-03-25T09:00:00Z', payment_token: 'sim_success' },
    ]) {
      const response = await f.send('POST', '/bookings', provider.user, body);
      expect(expectStatus(response, 403).code).toBe('OWN_SERVICE');
    }
    expect(await count(sql`select count(*)::int as n from bookings where provider_id = ${provider.providerId}`)).toBe(
      bookingsBefore,
    );
    expect(await count(sql`select count(*)::int as n from payments where payer_id = ${provider.user.id}`)).toBe(0);
  });

  it('cannot review it through a second account paying with the provider’s own card', async () => {
    // The provider's account pays someone else with its card: the card is now known as theirs.
    expectStatus(
      await f.send('POST', '/bookings', provider.user, {
        service_id: elsewhere.paidServiceId,
        starts_at: '2027-03-23T09:00:00Z',
        payment_token: simulatedCardToken(PROVIDERS_CARD),
      }),
      201,
    );
    const startsAt = '2027-03-26T09:00:00Z';
    const visit = expectStatus(
      await f.send('POST', '/bookings', puppet, {
        service_id: provider.paidServiceId,
        starts_at: startsAt,
        payment_token: simulatedCardToken(PROVIDERS_CARD),
      }),
      201,
    ).data;
    await drainOutbox(f);
    expectStatus(await f.send('POST', `/bookings/${visit.id}/confirm`, provider.user), 200);
    await f.moveClock(new Date(Date.parse(startsAt) + 3_600_000), ...shared);
    expectStatus(await f.send('POST', `/bookings/${visit.id}/complete`, provider.user), 200);

    const review = await f.send('POST', `/bookings/${visit.id}/review`, puppet, { rating: 5, text: 'The best!' });
    expect(expectStatus(review, 403).code).toBe('OWN_SERVICE');
    expect(await count(sql`select count(*)::int as n from reviews where provider_id = ${provider.providerId}`)).toBe(0);
    const [page] = await queryRows<{ rating_count: number }>(
      f.app.platform.db,
      sql`select rating_count from providers where id = ${provider.providerId}`,
    );
    expect(page?.rating_count).toBe(0);
  });
});

describe('scarce things are sold once', () => {
  it('one slot booked by three people at the same moment: one 201, the others 409 SLOT_UNAVAILABLE', async () => {
    const startsAt = '2027-03-23T10:00:00Z';
    const buyers = [customer, puppet, elsewhere.user];
    const answers = await Promise.all(
      buyers.map((buyer) =>
        f.send('POST', '/bookings', buyer, { service_id: provider.serviceId, starts_at: startsAt }),
      ),
    );
    const statuses = answers.map((response) => response.statusCode).sort();
    expect(statuses, answers.map((response) => response.body).join('\n')).toEqual([201, 409, 409]);
    for (const response of answers.filter((answer) => answer.statusCode === 409)) {
      expect(response.json().code).toBe('SLOT_UNAVAILABLE');
    }
    const active = await count(
      sql`select count(*)::int as n from bookings
          where service_id = ${provider.serviceId} and starts_at = ${startsAt} and status not in ('cancelled')`,
    );
    expect(active).toBe(1);
  });

  it('a paid booking cancelled twice at the same moment is cancelled and refunded once', async () => {
    const booking = expectStatus(
      await f.send('POST', '/bookings', customer, {
        service_id: provider.paidServiceId,
        starts_at: '2027-03-30T09:00:00Z',
        payment_token: 'sim_success',
      }),
      201,
    ).data;
    await drainOutbox(f);
    const answers = await Promise.all([
      f.send('POST', `/bookings/${booking.id}/cancel`, customer, {}),
      f.send('POST', `/bookings/${booking.id}/cancel`, customer, {}),
    ]);
    expect(answers.map((response) => response.statusCode).sort()).toEqual([200, 409]);
    await drainOutbox(f);
    const refunds = await queryRows<{ amount_minor: number }>(
      f.app.platform.db,
      sql`select amount_minor::int from refunds where payment_id = ${booking.payment.id}`,
    );
    expect(refunds).toHaveLength(1);
    expect(refunds[0]?.amount_minor).toBeLessThanOrEqual(6000);
  });
});

describe('the free trial', () => {
  it('is had once per email: again after DELETE /me and a new sign-up it is 409 TRIAL_ALREADY_USED', async () => {
    const first = await createUser(f.app);
    expectStatus(await f.send('POST', '/me/trial', first), 201);
    expect(expectStatus(await f.send('POST', '/me/trial', first), 409).code).toBe('TRIAL_ALREADY_USED');

    const erased = await f.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: first.headers,
      payload: { password: first.password },
    });
    expect(erased.statusCode, erased.body).toBe(200);

    // The same person, the same email (in other letters' case), a new account.
    const again = await createUser(f.app, { email: first.email.toUpperCase(), password: first.password });
    const trial = await f.send('POST', '/me/trial', again);
    expect(expectStatus(trial, 409).code).toBe('TRIAL_ALREADY_USED');
    const me = expectStatus(await f.send('GET', '/me', again), 200).data;
    expect(me.plan).toBe('free');
    expect(me.trial_expires_at).toBeNull();
  });
});

describe('anonymous analytics', () => {
  it('500 identical anonymous views from one device count once, and never outrank signed-in reading', async () => {
    await f.app.platform.services.analytics.ensurePartitions();
    const flooded = randomUUID();
    const read = randomUUID();
    const time = f.clock.now().toISOString();
    const view = (device: string, contentId: string) => ({
      name: 'content_viewed',
      time,
      device_id: device,
      properties: { content_id: contentId },
    });
    const flood = await f.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: { events: Array.from({ length: 500 }, () => view('one-bot-device', flooded)) },
      remoteAddress: '198.51.100.60',
    });
    expect(flood.statusCode, flood.body).toBe(202);

    // One signed-in reader, with analytics consent, reads the other item once.
    expectStatus(await f.send('PUT', '/me/consents/analytics', customer, { granted: true }), 200);
    expectStatus(await f.send('POST', '/events', customer, { events: [view('reader-phone', read)] }), 202);

    const day = time.slice(0, 10);
    const report = expectStatus(await f.send('GET', `/admin/analytics/content?from=${day}&to=${day}`, f.admin), 200)
      .data as { items: { content_id: string; views: number; anonymous_views: number; rank: number }[] };
    const byId = new Map(report.items.map((item) => [item.content_id, item]));
    expect(byId.get(flooded)).toMatchObject({ views: 0, anonymous_views: 1 });
    expect(byId.get(read)).toMatchObject({ views: 1, anonymous_views: 0 });
    expect((byId.get(read)?.rank ?? 0) < (byId.get(flooded)?.rank ?? Number.POSITIVE_INFINITY)).toBe(true);
  });
});
