import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  completedVisit,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;
let calm: TestProvider;
let brisk: TestProvider;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
/** The three reviews in the order they were written: Ann's of Calm, Bob's of Calm, Cat's of Brisk. */
let written: string[];

interface AdminReview {
  id: string;
  booking_id: string;
  provider_id: string;
  provider_name: string;
  rating: number;
  text: string;
  visible: boolean;
  hidden_reason: string | null;
  reply: string | null;
  created_at: string;
}

beforeAll(async () => {
  f = await setUpBookings();
  [calm, brisk, ann, bob, cat] = await Promise.all([
    createProvider(f),
    createProvider(f),
    createCustomer(f),
    createCustomer(f),
    createCustomer(f),
  ]);
  const everyone = [calm.user, brisk.user, ann, bob, cat];
  written = [];
  for (const [customer, provider, startsAt, rating, text] of [
    [ann, calm, '2027-03-29T09:00:00Z', 5, 'Calm and kind'],
    [bob, calm, '2027-03-30T09:00:00Z', 2, 'Call me on 07700 900123 for cheaper sessions'],
    [cat, brisk, '2027-03-31T09:00:00Z', 4, 'Brisk but good'],
  ] as const) {
    const visit = await completedVisit(f, customer, provider, startsAt, everyone);
    const res = await f.send('POST', `/bookings/${visit.id}/review`, customer, { rating, text });
    expect(res.statusCode, res.body).toBe(201);
    written.push(res.json().data.id);
  }
  const reply = await f.send('POST', `/provider/reviews/${written[0]}/reply`, calm.user, { text: 'Thank you!' });
  expect(reply.statusCode, reply.body).toBe(200);
});

afterAll(async () => {
  await f?.close();
});

const list = async (query = '', user: TestUser = f.admin) => {
  const res = await f.send('GET', `/admin/reviews${query}`, user);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { data: AdminReview[]; meta: { next_cursor: string | null } };
};

/** The ids listed, of the reviews this file wrote (the app has no other reviews, but say so plainly). */
const idsOf = (page: { data: AdminReview[] }) =>
  page.data.map((review) => review.id).filter((id) => written.includes(id));

describe('GET /admin/reviews', () => {
  it('lists every review newest first with its provider name and reply, and nothing about the customer', async () => {
    const page = await list();
    expect(idsOf(page)).toEqual([...written].reverse());
    expect(page.meta.next_cursor).toBeNull();
    const first = page.data.find((review) => review.id === written[0]);
    const calmName = (await f.app.platform.services.catalog.findProvider(calm.providerId))?.displayName;
    expect(first).toMatchObject({
      provider_id: calm.providerId,
      provider_name: calmName,
      rating: 5,
      text: 'Calm and kind',
      visible: true,
      hidden_reason: null,
      reply: 'Thank you!',
    });
    expect(first?.provider_name).toMatch(/^Provider /);
    for (const review of page.data) {
      expect(Object.keys(review)).not.toEqual(expect.arrayContaining(['customer_id']));
      const body = JSON.stringify(review);
      for (const customer of [ann, bob, cat]) {
        expect(body).not.toContain(customer.email);
        expect(body).not.toContain(customer.id);
      }
    }
  });

  it('shows a hidden review with the reason, filters shown and hidden, and lists it again once shown', async () => {
    const [, spam] = written as [string, string, string];
    const hide = await f.send('PATCH', `/admin/reviews/${spam}`, f.admin, { visible: false, reason: 'Phone number' });
    expect(hide.statusCode, hide.body).toBe(200);
    try {
      const all = await list();
      expect(all.data.find((review) => review.id === spam)).toMatchObject({
        visible: false,
        hidden_reason: 'Phone number',
      });
      expect(idsOf(await list('?visible=false'))).toEqual([spam]);
      expect(idsOf(await list('?visible=true'))).toEqual([written[2], written[0]]);
      // The public list of the provider no longer has it; the admins' list still does.
      const publicList = (await f.send('GET', `/providers/${calm.providerId}/reviews`)).json().data as { id: string }[];
      expect(publicList.map((review) => review.id)).toEqual([written[0]]);
    } finally {
      const show = await f.send('PATCH', `/admin/reviews/${spam}`, f.admin, { visible: true });
      expect(show.statusCode, show.body).toBe(200);
    }
    const shown = (await list()).data.find((review) => review.id === spam);
    expect(shown).toMatchObject({ visible: true, hidden_reason: null });
    expect(idsOf(await list('?visible=false'))).toEqual([]);
  });

  it('lists one consistent state when two admins hide the same review at once, its rating taken out once', async () => {
    const [, , brisky] = written as [string, string, string];
    const secondAdmin = await createUser(f.app, { role: 'admin' });
    const ratingCount = async () => (await f.app.platform.services.catalog.findProvider(brisk.providerId))?.ratingCount;
    const before = await ratingCount();
    const answers = await Promise.all(
      ['Spam', 'Off topic'].map((reason, index) =>
        f.send('PATCH', `/admin/reviews/${brisky}`, index === 0 ? f.admin : secondAdmin, { visible: false, reason }),
      ),
    );
    try {
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
      const listed = (await list('?visible=false')).data;
      expect(listed.map((review) => review.id)).toEqual([brisky]);
      // The later write wins; either way the list shows what the row holds.
      expect(['Spam', 'Off topic']).toContain(listed[0]?.hidden_reason);
      expect(await ratingCount()).toBe((before ?? 0) - 1);
    } finally {
      expect((await f.send('PATCH', `/admin/reviews/${brisky}`, f.admin, { visible: true })).statusCode).toBe(200);
    }
    expect(await ratingCount()).toBe(before);
  });

  it('filters by provider, and by provider and state together', async () => {
    expect(idsOf(await list(`?provider_id=${calm.providerId}`))).toEqual([written[1], written[0]]);
    expect(idsOf(await list(`?provider_id=${brisk.providerId}`))).toEqual([written[2]]);
    expect((await list(`?provider_id=${brisk.providerId}&visible=false`)).data).toEqual([]);
    // A provider no one reviewed, or no provider at all: an empty page, not an error.
    expect((await list('?provider_id=0190b3c4-0000-7000-8000-000000000000')).data).toEqual([]);
  });

  it('pages with limit and the cursor it answers, each review once, and ends with a null cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.data.length).toBeLessThanOrEqual(1);
      seen.push(...page.data.map((review) => review.id));
      cursor = page.meta.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...written].reverse());
    expect(pages).toBe(3);
    // Two at a time within one provider.
    const firstTwo = await list(`?limit=2&provider_id=${calm.providerId}`);
    expect(idsOf(firstTwo)).toEqual([written[1], written[0]]);
    expect(firstTwo.meta.next_cursor).toBeNull();
  });

  it('refuses a malformed cursor, filter or limit with 400, never 500', async () => {
    for (const query of [
      '?cursor=not-a-cursor',
      '?visible=maybe',
      '?provider_id=42',
      '?limit=0',
      '?limit=101',
      '?customer_id=0190b3c4-0000-7000-8000-000000000000',
    ]) {
      const res = await f.send('GET', `/admin/reviews${query}`, f.admin);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code, query).toBe('VALIDATION_ERROR');
    }
  });

  it('is for admins only: 401 signed out, 403 for customers and providers, even their own reviews', async () => {
    expect((await f.send('GET', '/admin/reviews')).statusCode).toBe(401);
    for (const user of [ann, calm.user]) {
      const res = await f.send('GET', `/admin/reviews?provider_id=${calm.providerId}`, user);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('FORBIDDEN');
      expect(res.body).not.toContain('Calm and kind');
    }
  });
});
