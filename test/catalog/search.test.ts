import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { etagOf } from '../../src/shared/etag.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

type Hit = {
  id: string;
  name: string;
  price_minor: number;
  provider: { display_name: string; rating_average: number | null };
};

describe('service search', () => {
  let t: TestApp;
  let admin: TestUser;
  const clock = createTestClock();
  const ids: Record<string, string> = {};
  let londonUser: TestUser;
  let massageId: string;
  let sportsId: string;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
    const massage = await createCategory(t.app, admin, { name: 'Massage', slug: 'massage' });
    const sports = await createCategory(t.app, admin, {
      name: 'Sports massage',
      slug: 'sports-massage',
      parent_id: massage.id,
    });
    const yoga = await createCategory(t.app, admin, { name: 'Yoga', slug: 'yoga' });
    massageId = massage.id;
    sportsId = sports.id;
    const london = await createProvider(t.app, admin, { display_name: 'Thames Therapy', city: 'London' });
    const nairobi = await createProvider(t.app, admin, { display_name: 'Savannah Spa', city: 'Nairobi' });
    const pending = await createProvider(
      t.app,
      admin,
      { display_name: 'Hidden Hands', city: 'London' },
      { verified: false },
    );
    londonUser = london.user;
    const add = async (key: string, user: TestUser, body: Record<string, unknown> & { category_id: string }) => {
      clock.advance(60_000);
      ids[key] = (await createService(t.app, user, body)).id;
    };
    await add('relax', london.user, { category_id: massage.id, name: 'Relaxation massage', price_minor: 6000 });
    await add('sports', london.user, { category_id: sports.id, name: 'Deep sports recovery', price_minor: 8000 });
    await add('yoga', nairobi.user, {
      category_id: yoga.id,
      name: 'Sunrise yoga',
      price_minor: 150000,
      currency: 'KES',
    });
    await add('hot', nairobi.user, {
      category_id: massage.id,
      name: 'Hot stone massage',
      price_minor: 400000,
      currency: 'KES',
    });
    await add('hidden', pending.user, { category_id: massage.id, name: 'Secret massage', price_minor: 1000 });
    await add('inactive', london.user, {
      category_id: massage.id,
      name: 'Retired massage',
      price_minor: 1000,
      is_active: false,
    });
    const catalog = t.app.platform.services.catalog;
    await catalog.applyReview(t.app.platform.db, nairobi.providerId, { add: 5 });
    await catalog.applyReview(t.app.platform.db, london.providerId, { add: 3 });
  });
  afterAll(() => t.close());

  const search = async (query: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/services/search${query}` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    return { hits: body.data as Hit[], next: body.meta.next_cursor as string | null };
  };
  const idsOf = (hits: Hit[]) => hits.map((h) => h.id);

  it('finds by full text, only active services of verified providers, and tracks without the query', async () => {
    const { hits } = await search('?q=massage');
    expect(new Set(idsOf(hits))).toEqual(new Set([ids.relax, ids.sports, ids.hot]));
    // Searches are recorded after the answer, batched.
    await t.app.platform.track.flush();
    const events = await queryRows<{ properties: Record<string, unknown> }>(
      t.app.platform.db,
      sql`select properties from product_events where name = 'service_searched'`,
    );
    expect(events.at(-1)?.properties).toEqual({ results: 3, has_query: true });
  });

  it('falls back to the typo fallback for a misspelt word', async () => {
    const { hits } = await search('?q=masage');
    expect(idsOf(hits)).toEqual(expect.arrayContaining([ids.relax, ids.hot]));
    expect(idsOf(hits)).not.toContain(ids.hidden);
    expect(idsOf(hits)).not.toContain(ids.yoga);
  });

  it('combines filters: category with descendants, city (any case), price range, rating', async () => {
    expect(new Set(idsOf((await search('?category=massage')).hits))).toEqual(new Set([ids.relax, ids.sports, ids.hot]));
    expect(idsOf((await search(`?category=${sportsId}`)).hits)).toEqual([ids.sports]);
    expect(new Set(idsOf((await search(`?category=${massageId}&city=LONDON`)).hits))).toEqual(
      new Set([ids.relax, ids.sports]),
    );
    expect(idsOf((await search('?min_price=7000&max_price=100000&currency=GBP')).hits)).toEqual([ids.sports]);
    expect(new Set(idsOf((await search('?min_rating=4')).hits))).toEqual(new Set([ids.yoga, ids.hot]));
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?min_price=10&max_price=5' });
    expect(bad.statusCode).toBe(400);
  });

  it('sorts by price, rating, newest and relevance', async () => {
    expect(idsOf((await search('?sort=price&currency=gbp')).hits)).toEqual([ids.relax, ids.sports]);
    expect(idsOf((await search('?sort=price&currency=KES')).hits)).toEqual([ids.yoga, ids.hot]);
    expect(idsOf((await search('?sort=newest')).hits)).toEqual([ids.hot, ids.yoga, ids.sports, ids.relax]);
    const byRating = idsOf((await search('?sort=rating')).hits);
    expect(new Set(byRating.slice(0, 2))).toEqual(new Set([ids.yoga, ids.hot]));
    const relevance = (await search('?q=sports%20massage&sort=relevance')).hits;
    expect(relevance[0]?.id).toBe(ids.sports);
  });

  it('pages with a cursor without duplicates or skips when a service is inserted between pages', async () => {
    // One currency for every sort, so that price compares like with like (every service here is GBP or KES).
    for (const sort of ['price', 'newest', 'rating', 'relevance']) {
      const first = await search(`?sort=${sort}&limit=2&currency=GBP`);
      expect(first.hits).toHaveLength(2);
      clock.advance(60_000);
      const extra = await createService(t.app, londonUser, {
        category_id: massageId,
        name: `Extra ${sort}`,
        price_minor: 1,
      });
      const rest: Hit[] = [];
      let cursor = first.next;
      while (cursor) {
        const page = await search(`?sort=${sort}&limit=2&currency=GBP&cursor=${cursor}`);
        rest.push(...page.hits);
        cursor = page.next;
      }
      const all = [...idsOf(first.hits), ...idsOf(rest)].filter((id) => id !== extra.id);
      expect(new Set(all).size, sort).toBe(all.length);
      expect(new Set(all), sort).toEqual(new Set([ids.relax, ids.sports, ...Object.values(extras)]));
      extras[sort] = extra.id;
    }
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?cursor=nonsense' });
    expect(bad.statusCode).toBe(400);
  });
  const extras: Record<string, string> = {};

  it('sends a cached answer as JSON with its ETag, and 304 for a client that has it', async () => {
    const url = '/api/v1/services/search?q=massage&sort=price&currency=GBP';
    const first = await t.app.inject({ method: 'GET', url });
    const cached = await t.app.inject({ method: 'GET', url });
    expect(cached.statusCode).toBe(200);
    expect(cached.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(cached.body).toBe(first.body);
    expect(cached.headers.etag).toBe(first.headers.etag);
    // The tag kept with the cached bytes is the tag of those bytes.
    expect(cached.headers.etag).toBe(etagOf(cached.body));
    expect(cached.json()).toMatchObject({ success: true, meta: { next_cursor: null } });
    const again = await t.app.inject({ method: 'GET', url, headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('caches a repeated search and shows a service update or provider rename at once', async () => {
    const metric = async (result: 'hit' | 'miss') =>
      (await t.app.platform.metrics.cacheRequests.get()).values.find(
        (v) => v.labels.cache === 'search' && v.labels.result === result,
      )?.value ?? 0;
    const hits0 = await metric('hit');
    const first = await search('?q=relaxation');
    const second = await search('?q=relaxation');
    expect(second).toEqual(first);
    expect(await metric('hit')).toBe(hits0 + 1);

    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/provider/services/${ids.relax}`,
      headers: londonUser.headers,
      payload: { price_minor: 6500 },
    });
    expect((await search('?q=relaxation')).hits[0]?.price_minor).toBe(6500);

    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/provider/profile',
      headers: londonUser.headers,
      payload: { display_name: 'Riverside Rooms' },
    });
    expect((await search('?q=relaxation')).hits[0]?.provider.display_name).toBe('Riverside Rooms');
    expect(idsOf((await search('?q=riverside')).hits)).toContain(ids.relax);
    expect((await search('?q=thames')).hits).toHaveLength(0);
  });
});
