import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

let f: BookingsFixture;
/** Neither party to any booking here: a signed-in user and a verified provider. */
let stranger: TestUser;
let otherProvider: TestProvider;
let provider: TestProvider;
let customer: TestUser;
/** The customer's visit with the provider, completed at 10:00 on 30 March. */
let visit: { id: string };

beforeAll(async () => {
  f = await setUpBookings();
  [otherProvider, stranger] = await Promise.all([createProvider(f), createCustomer(f)]);
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(stranger, otherProvider.user);
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  visit = await completedVisit(f, customer, provider, '2027-03-30T09:00:00Z', [stranger, otherProvider.user]);
});

/** The provider's rating as the catalog keeps it. */
const ratingOf = async (providerId: string) => {
  const row = await f.app.platform.services.catalog.findProvider(providerId);
  return { ratingCount: row?.ratingCount, ratingAverage: row?.ratingAverage };
};

const review = (bookingId: string, user: TestUser, body: { rating: number; text: string }) =>
  f.send('POST', `/bookings/${bookingId}/review`, user, body);

/** The customer's review of the visit: 4 stars, "Lovely". */
const postReview = async () => {
  const res = await review(visit.id, customer, { rating: 4, text: 'Lovely' });
  expect(res.statusCode).toBe(201);
  return res.json().data.id as string;
};

describe('POST /bookings/:id/review', () => {
  it('refuses a visit that is not completed (409)', async () => {
    const upcoming = await booked(f, customer, provider, '2027-04-06T09:00:00Z');
    await f.send('POST', `/bookings/${upcoming.id}/confirm`, provider.user);
    expect((await review(upcoming.id, customer, { rating: 5, text: 'x' })).statusCode).toBe(409);
  });

  it('tells anyone but the customer that the booking does not exist', async () => {
    expect((await review(visit.id, stranger, { rating: 5, text: 'x' })).statusCode).toBe(404);
  });

  it('takes the customer’s review and counts it in the provider’s rating', async () => {
    const res = await review(visit.id, customer, { rating: 4, text: 'Lovely' });
    expect(res.statusCode).toBe(201);
    expect(await ratingOf(provider.providerId)).toMatchObject({ ratingCount: 1, ratingAverage: 4 });
  });

  it('takes one review per visit (409 the second time)', async () => {
    await postReview();
    expect((await review(visit.id, customer, { rating: 5, text: 'again' })).statusCode).toBe(409);
  });
});

describe('POST /provider/reviews/:id/reply', () => {
  it('tells another provider the review does not exist', async () => {
    const reviewId = await postReview();
    const res = await f.send('POST', `/provider/reviews/${reviewId}/reply`, otherProvider.user, { text: 'hi' });
    expect(res.statusCode).toBe(404);
  });

  it('lets the provider reply once', async () => {
    const reviewId = await postReview();
    const reply = (text: string) => f.send('POST', `/provider/reviews/${reviewId}/reply`, provider.user, { text });
    expect((await reply('Thanks!')).statusCode).toBe(200);
    expect((await reply('Again')).statusCode).toBe(409);
  });
});

describe('GET /providers/:id/reviews', () => {
  it('lists the provider’s visible reviews with the replies, publicly', async () => {
    const reviewId = await postReview();
    await f.send('POST', `/provider/reviews/${reviewId}/reply`, provider.user, { text: 'Thanks!' });
    const listed = await f.send('GET', `/providers/${provider.providerId}/reviews`);
    expect(listed.json().data).toHaveLength(1);
    expect(listed.json().data[0]).toMatchObject({ rating: 4, text: 'Lovely', reply: 'Thanks!' });
  });
});

describe('PATCH /admin/reviews/:id', () => {
  const moderate = (reviewId: string, user: TestUser, body: { visible: boolean; reason?: string }) =>
    f.send('PATCH', `/admin/reviews/${reviewId}`, user, body);

  it('is for admins only', async () => {
    const reviewId = await postReview();
    expect((await moderate(reviewId, customer, { visible: false, reason: 'x' })).statusCode).toBe(403);
  });

  it('requires a reason to hide a review (400)', async () => {
    const reviewId = await postReview();
    expect((await moderate(reviewId, f.admin, { visible: false })).statusCode).toBe(400);
  });

  it('hides a review with a reason: out of the list and out of the rating', async () => {
    const reviewId = await postReview();
    const hidden = await moderate(reviewId, f.admin, { visible: false, reason: 'Personal data' });
    expect(hidden.json().data).toMatchObject({ visible: false, hidden_reason: 'Personal data' });
    expect(await ratingOf(provider.providerId)).toMatchObject({ ratingCount: 0, ratingAverage: null });
    expect((await f.send('GET', `/providers/${provider.providerId}/reviews`)).json().data).toHaveLength(0);
  });

  it('shows a hidden review again, back in the rating', async () => {
    const reviewId = await postReview();
    await moderate(reviewId, f.admin, { visible: false, reason: 'Personal data' });
    await moderate(reviewId, f.admin, { visible: true });
    expect(await ratingOf(provider.providerId)).toMatchObject({ ratingCount: 1, ratingAverage: 4 });
  });
});
