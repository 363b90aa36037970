/**
 * Finding 11: a provider with a second account could book, complete and review their own service.
 * The provider's own account can neither book nor review its service (403 OWN_SERVICE), and a
 * review is refused when the visit was paid with a card (the gateway's card fingerprint) that the
 * provider's own account has also paid with. Everything over HTTP on the simulated gateway, the
 * database checked afterwards.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { simulatedCard, simulatedCardToken } from '../../src/modules/payments/gateways/index.js';
import { drainOutbox } from '../helpers/payments.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

/** Stripe's test cards: two different cards, as two different people would pay with. */
const PROVIDERS_CARD = '4000056655665556';
const OTHER_CARD = '5555555555554444';

let f: BookingsFixture;
/** Users several tests use: signed in again whenever the clock goes back. */
const shared: TestUser[] = [];

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(...shared);
});

const expectStatus = (response: { statusCode: number; body: string }, status: number) => {
  expect(response.statusCode, response.body).toBe(status);
  return JSON.parse(response.body);
};

/** A provider who sells a service paid online (payouts onboarded on the simulated gateway). */
async function paidProvider(): Promise<TestProvider & { paidServiceId: string }> {
  const provider = await createProvider(f);
  expectStatus(await f.send('POST', '/provider/payouts/onboarding', provider.user), 200);
  // The account's readiness comes back as a gateway event, applied by the outbox.
  await drainOutbox(f);
  const service = expectStatus(
    await f.send('POST', '/provider/services', provider.user, {
      name: 'Sports massage',
      category_id: f.categoryId,
      duration_minutes: 60,
      buffer_minutes: 15,
      price_minor: 6000,
      currency: 'EUR',
      payment: 'required',
    }),
    201,
  ).data;
  return { ...provider, paidServiceId: service.id };
}

/** Books the provider's paid service, paid at once with the test card `cardNumber`. */
async function paidBooking(customer: TestUser, provider: { paidServiceId: string }, startsAt: string, card: string) {
  const booking = expectStatus(
    await f.send('POST', '/bookings', customer, {
      service_id: provider.paidServiceId,
      starts_at: startsAt,
      payment_token: simulatedCardToken(card),
    }),
    201,
  ).data;
  expect(booking.payment).toMatchObject({ status: 'succeeded', card_last4: card.slice(-4) });
  return booking as { id: string; payment: { id: string } };
}

/** Confirmed by the provider, the clock past its start, completed. */
async function complete(bookingId: string, startsAt: string, provider: TestProvider, ...others: TestUser[]) {
  expectStatus(await f.send('POST', `/bookings/${bookingId}/confirm`, provider.user), 200);
  await f.moveClock(new Date(Date.parse(startsAt) + 3_600_000), provider.user, ...others);
  expectStatus(await f.send('POST', `/bookings/${bookingId}/complete`, provider.user), 200);
}

const review = (customer: TestUser, bookingId: string, rating = 5) =>
  f.send('POST', `/bookings/${bookingId}/review`, customer, { rating, text: 'Wonderful, highly recommended' });

const reviewsOf = async (bookingId: string) =>
  (
    await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from reviews where booking_id = ${bookingId}`,
    )
  )[0]?.n;

const ratingOf = async (providerId: string) =>
  (
    await queryRows<{ rating_count: number }>(
      f.app.platform.db,
      sql`select rating_count from providers where id = ${providerId}`,
    )
  )[0]?.rating_count;

const expectOwnService = (response: { statusCode: number; body: string }) => {
  const body = expectStatus(response, 403);
  expect(body).toMatchObject({ success: false, code: 'OWN_SERVICE' });
};

describe('the provider’s own account', () => {
  it('cannot book its own service (403 OWN_SERVICE), and nothing is made', async () => {
    const provider = await createProvider(f);
    const before = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from bookings where provider_id = ${provider.providerId}`,
    );
    expectOwnService(
      await f.send('POST', '/bookings', provider.user, {
        service_id: provider.serviceId,
        starts_at: '2027-03-23T09:00:00Z',
      }),
    );
    const after = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from bookings where provider_id = ${provider.providerId}`,
    );
    expect(after).toEqual(before);
    // The slot is still free for anyone else.
    await booked(f, await createCustomer(f), provider, '2027-03-23T09:00:00Z');
  });

  it('cannot book its own service paid online either: no payment is started', async () => {
    const provider = await paidProvider();
    expectOwnService(
      await f.send('POST', '/bookings', provider.user, {
        service_id: provider.paidServiceId,
        starts_at: '2027-03-23T09:00:00Z',
        payment_token: simulatedCardToken(PROVIDERS_CARD),
      }),
    );
    const payments = await queryRows<{ n: number }>(
      f.app.platform.db,
      sql`select count(*)::int as n from payments where provider_id = ${provider.providerId}`,
    );
    expect(payments[0]?.n).toBe(0);
  });

  it('with an Idempotency-Key, is refused the same way and the key stores nothing', async () => {
    const provider = await createProvider(f);
    const body = { service_id: provider.serviceId, starts_at: '2027-03-23T10:00:00Z' };
    const headers = { 'idempotency-key': `own-${provider.providerId}` };
    expectOwnService(await f.send('POST', '/bookings', provider.user, body, headers));
    expectOwnService(await f.send('POST', '/bookings', provider.user, body, headers));
  });

  it('cannot review its own service (a booking made before booking it was refused)', async () => {
    const provider = await createProvider(f);
    const customer = await createCustomer(f);
    const booking = await completedVisit(f, customer, provider, '2027-03-23T09:00:00Z');
    // As a booking of the provider's own account, made before the refusal at booking existed.
    await f.app.platform.db.execute(
      sql`update bookings set customer_id = ${provider.user.id} where id = ${booking.id}`,
    );

    expectOwnService(await review(provider.user, booking.id));
    expect(await reviewsOf(booking.id)).toBe(0);
    expect(await ratingOf(provider.providerId)).toBe(0);
  });
});

describe('a second account paying with the provider’s card', () => {
  let provider: TestProvider & { paidServiceId: string };
  let elsewhere: TestProvider & { paidServiceId: string };

  beforeAll(async () => {
    // An earlier test may have left the clock at its visit.
    await f.resetClock(...shared);
    [provider, elsewhere] = [await paidProvider(), await paidProvider()];
    shared.push(provider.user, elsewhere.user);
    // The provider's own account pays another provider with its card: that card is now known as theirs.
    await paidBooking(provider.user, elsewhere, '2027-03-23T09:00:00Z', PROVIDERS_CARD);
  });

  it('stores the gateway’s fingerprint of the card with the payment, and nothing of the number', async () => {
    const customer = await createCustomer(f);
    const booking = await paidBooking(customer, provider, '2027-03-26T14:00:00Z', OTHER_CARD);
    const [row] = await queryRows<{ card_fingerprint: string | null; card_brand: string; card_last4: string }>(
      f.app.platform.db,
      sql`select card_fingerprint, card_brand, card_last4 from payments where id = ${booking.payment.id}`,
    );
    expect(row).toEqual({
      card_fingerprint: simulatedCard(OTHER_CARD).fingerprint,
      card_brand: 'mastercard',
      card_last4: '4444',
    });
    expect(row?.card_fingerprint).not.toContain(OTHER_CARD.slice(0, 8));
    // The same card gives the same fingerprint, another card another one.
    expect(simulatedCard(OTHER_CARD).fingerprint).toBe(simulatedCard(OTHER_CARD).fingerprint);
    expect(simulatedCard(PROVIDERS_CARD).fingerprint).not.toBe(simulatedCard(OTHER_CARD).fingerprint);
  });

  it('cannot review the provider (403 OWN_SERVICE): no review, the rating unchanged', async () => {
    const second = await createCustomer(f);
    const startsAt = '2027-03-25T09:00:00Z';
    const booking = await paidBooking(second, provider, startsAt, PROVIDERS_CARD);
    const ratingBefore = await ratingOf(provider.providerId);
    await complete(booking.id, startsAt, provider, second);

    expectOwnService(await review(second, booking.id));
    expect(await reviewsOf(booking.id)).toBe(0);
    expect(await ratingOf(provider.providerId)).toBe(ratingBefore);
  });

  it('a customer paying with a different card reviews the provider as usual', async () => {
    const customer = await createCustomer(f);
    const startsAt = '2027-03-25T14:00:00Z';
    const booking = await paidBooking(customer, provider, startsAt, OTHER_CARD);
    const ratingBefore = (await ratingOf(provider.providerId)) ?? 0;
    await complete(booking.id, startsAt, provider, customer);

    const posted = expectStatus(await review(customer, booking.id, 4), 201).data;
    expect(posted).toMatchObject({ booking_id: booking.id, rating: 4 });
    expect(await reviewsOf(booking.id)).toBe(1);
    expect(await ratingOf(provider.providerId)).toBe(ratingBefore + 1);
  });

  it('the same card reviewing a provider whose account never paid with it is a normal review', async () => {
    // The provider's own account is an ordinary customer of `elsewhere`: its card is not elsewhere's.
    const customer = await createCustomer(f);
    const startsAt = '2027-03-26T09:00:00Z';
    const booking = await paidBooking(customer, elsewhere, startsAt, PROVIDERS_CARD);
    await complete(booking.id, startsAt, elsewhere, customer);
    expectStatus(await review(customer, booking.id), 201);
  });
});

describe('reviews of visits paid at the visit', () => {
  it('are unaffected: the customer reviews once, another person’s booking is still 404', async () => {
    const provider = await createProvider(f);
    const [customer, stranger] = [await createCustomer(f), await createCustomer(f)];
    const booking = await completedVisit(f, customer, provider, '2027-03-23T09:00:00Z', [stranger]);
    expect((await review(stranger, booking.id)).statusCode).toBe(404);
    expectStatus(await review(customer, booking.id), 201);
    expect((await review(customer, booking.id)).statusCode).toBe(409);
    expect(await reviewsOf(booking.id)).toBe(1);
    expect(await ratingOf(provider.providerId)).toBe(1);
  });
});

describe('the API document', () => {
  it('names OWN_SERVICE among the answers of booking and reviewing', async () => {
    const document = (await f.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const operations = Object.values(document.paths as Record<string, Record<string, { operationId?: string }>>)
      .flatMap((methods) => Object.values(methods))
      .filter((operation) => typeof operation === 'object' && operation.operationId);
    for (const id of ['bookings.postReview', 'bookings.createBooking']) {
      const operation = operations.find((candidate) => candidate.operationId === id) as {
        responses: Record<string, unknown>;
      };
      expect(JSON.stringify(operation.responses['403']), id).toContain('OWN_SERVICE');
    }
  });
});
