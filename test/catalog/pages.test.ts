import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

describe('provider and service pages, money-aware search', () => {
  let t: TestApp;
  let admin: TestUser;
  let london: { user: TestUser; providerId: string };
  let nairobi: { user: TestUser; providerId: string };
  let pending: { user: TestUser; providerId: string };
  const clock = createTestClock();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
    const massage = await createCategory(t.app, admin, { name: 'Massage', slug: 'massage' });
    london = await createProvider(t.app, admin, { display_name: 'Thames Therapy', city: 'London', country: 'GB' });
    nairobi = await createProvider(t.app, admin, { display_name: 'Savannah Spa', city: 'Nairobi' });
    pending = await createProvider(t.app, admin, { display_name: 'Hidden Hands' }, { verified: false });
    const add = async (key: string, user: TestUser, body: Record<string, unknown>) => {
      clock.advance(60_000);
      ids[key] = (await createService(t.app, user, { category_id: massage.id, ...body })).id;
    };
    await add('relax', london.user, { name: 'Relaxation massage', price_minor: 7000, free_cancel_hours: 12 });
    await add('deep', london.user, { name: 'Deep tissue massage', price_minor: 9000 });
    await add('retired', london.user, { name: 'Retired massage', price_minor: 1000, is_active: false });
    await add('stone', nairobi.user, { name: 'Hot stone massage', price_minor: 150000, currency: 'KES' });
    await add('hidden', pending.user, { name: 'Secret massage', price_minor: 1000 });
    await t.app.platform.services.catalog.applyReview(t.app.platform.db, london.providerId, { add: 4 });
  });
  afterAll(() => t.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url: `/api/v1${url}` });
  const searchIds = async (query: string) => {
    const res = await get(`/services/search${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().data as { id: string }[]).map((hit) => hit.id);
  };

  it('shows a bookable service with its terms and its provider to anyone', async () => {
    const res = await get(`/services/${ids.relax}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({
      id: ids.relax,
      name: 'Relaxation massage',
      price_minor: 7000,
      currency: 'GBP',
      duration_minutes: 60,
      payment: 'at_visit',
      free_cancel_hours: 12,
      category: { slug: 'massage', name: 'Massage' },
      provider: {
        id: london.providerId,
        display_name: 'Thames Therapy',
        city: 'London',
        rating_average: 4,
        rating_count: 1,
      },
    });
  });

  it('answers 404 for an inactive service, one of an unverified provider, or none; 400 for a malformed id', async () => {
    for (const id of [ids.retired, ids.hidden, '01900000-0000-7000-8000-000000000000']) {
      const res = await get(`/services/${id}`);
      expect(res.statusCode, id).toBe(404);
      expect(res.json().code).toBe('NOT_FOUND');
    }
    expect((await get('/services/not-a-uuid')).statusCode).toBe(400);
  });

  it('shows a change to a service on its page at once (the catalog cache is invalidated)', async () => {
    expect((await get(`/services/${ids.deep}`)).json().data.price_minor).toBe(9000);
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/provider/services/${ids.deep}`,
      headers: london.user.headers,
      payload: { price_minor: 9500 },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    expect((await get(`/services/${ids.deep}`)).json().data.price_minor).toBe(9500);
  });

  it("lists a provider's active services on the provider's page, newest first, keeping the profile", async () => {
    const res = await get(`/providers/${london.providerId}`);
    expect(res.statusCode, res.body).toBe(200);
    const page = res.json().data;
    expect(page).toMatchObject({ id: london.providerId, display_name: 'Thames Therapy', rating_average: 4 });
    expect(page.services.map((service: { id: string }) => service.id)).toEqual([ids.deep, ids.relax]);
    expect(page.services[1]).toMatchObject({ name: 'Relaxation massage', price_minor: 7000, currency: 'GBP' });
    expect((await get(`/providers/${pending.providerId}`)).statusCode).toBe(404);
  });

  it('shows a new service on the provider page at once', async () => {
    expect((await get(`/providers/${nairobi.providerId}`)).json().data.services).toHaveLength(1);
    clock.advance(60_000);
    const category = await createCategory(t.app, admin, { name: 'Yoga' });
    const yoga = await createService(t.app, nairobi.user, { category_id: category.id, name: 'Sunrise yoga' });
    const page = (await get(`/providers/${nairobi.providerId}`)).json().data;
    expect(page.services.map((service: { id: string }) => service.id)).toEqual([yoga.id, ids.stone]);
  });

  it('filters search by provider and by currency (any case)', async () => {
    expect(await searchIds(`?q=massage&provider_id=${london.providerId}`)).toEqual(
      expect.arrayContaining([ids.relax, ids.deep]),
    );
    expect(await searchIds(`?q=massage&provider_id=${london.providerId}`)).toHaveLength(2);
    expect(await searchIds(`?q=massage&provider_id=${pending.providerId}`)).toEqual([]);
    expect(await searchIds('?q=massage&currency=kes')).toEqual([ids.stone]);
    const bad = await get('/services/search?currency=POUND');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details[0].field).toBe('query.currency');
  });

  it('compares prices within one currency: sorted and filtered with `currency`, else 400 naming it', async () => {
    expect(await searchIds('?q=massage&sort=price&currency=GBP')).toEqual([ids.relax, ids.deep]);
    expect(await searchIds('?q=massage&max_price=8000&currency=GBP')).toEqual([ids.relax]);
    for (const query of ['?q=massage&sort=price', '?min_price=100', '?q=massage&max_price=8000']) {
      const res = await get(`/services/search${query}`);
      expect(res.statusCode, query).toBe(400);
      const [detail] = res.json().details;
      expect(detail.field).toBe('query.currency');
      expect(detail.message).toContain('GBP, KES');
    }
    // Matches in one currency need none: the comparison is already like with like.
    expect(await searchIds(`?sort=price&provider_id=${london.providerId}`)).toEqual([ids.relax, ids.deep]);
  });
});
