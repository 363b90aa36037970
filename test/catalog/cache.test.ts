import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

/** A memory store whose catalog keys fail while `down` is set; sessions and the rest keep working. */
function storeWithFailingCatalogKeys(): KeyValueStore & { down: boolean } {
  const inner = createMemoryStore({ now: () => new Date() });
  const check = (key: string) => {
    if (store.down && key.startsWith('catalog:')) throw new Error('store unreachable');
  };
  const store = {
    ...inner,
    down: false,
    async get(key: string) {
      check(key);
      return inner.get(key);
    },
    async set(key: string, value: string, ttlMs?: number) {
      check(key);
      return inner.set(key, value, ttlMs);
    },
    async increment(key: string, ttlMs: number) {
      check(key);
      return inner.increment(key, ttlMs);
    },
  };
  return store;
}

describe('catalog cache', () => {
  const kv = storeWithFailingCatalogKeys();
  let t: TestApp;
  let provider: TestUser;
  let providerId: string;
  let serviceId: string;

  beforeAll(async () => {
    t = await buildTestApp({ kv });
    const admin = await createUser(t.app, { role: 'admin' });
    const category = await createCategory(t.app, admin, { name: 'Reflexology', slug: 'reflexology' });
    ({ user: provider, providerId } = await createProvider(t.app, admin, { display_name: 'Sole Studio' }));
    serviceId = (await createService(t.app, provider, { category_id: category.id, name: 'Foot reflexology' })).id;
  });
  afterAll(() => t.close());

  const counted = async (cache: string, result: string) =>
    (await t.app.platform.metrics.cacheRequests.get()).values.find(
      (v) => v.labels.cache === cache && v.labels.result === result,
    )?.value ?? 0;
  const get = (url: string) => t.app.inject({ method: 'GET', url: `/api/v1${url}` });

  it('answers from the database when the store fails, and counts the failures', async () => {
    const before = {
      catalog: await counted('catalog', 'error'),
      categories: await counted('categories', 'error'),
      providers: await counted('providers', 'error'),
      search: await counted('search', 'error'),
    };
    kv.down = true;
    try {
      const categories = await get('/categories');
      expect(categories.statusCode, categories.body).toBe(200);
      expect(categories.json().data.map((c: { slug: string }) => c.slug)).toContain('reflexology');

      const profile = await get(`/providers/${providerId}`);
      expect(profile.statusCode, profile.body).toBe(200);
      expect(profile.json().data.display_name).toBe('Sole Studio');

      const search = await get('/services/search?q=reflexology');
      expect(search.statusCode, search.body).toBe(200);
      expect(search.json().data.map((s: { id: string }) => s.id)).toEqual([serviceId]);

      // A change whose invalidation fails is still made.
      const rename = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/provider/profile',
        headers: provider.headers,
        payload: { display_name: 'Sole Clinic' },
      });
      expect(rename.statusCode, rename.body).toBe(200);
      const [row] = await queryRows<{ display_name: string }>(
        t.app.platform.db,
        sql`select display_name from providers where id = ${providerId}`,
      );
      expect(row?.display_name).toBe('Sole Clinic');
    } finally {
      kv.down = false;
    }
    // The shared generation counter could not be read (three reads) nor moved (one rename): the
    // answers came from the database without touching a key that might hold a stale generation.
    expect(await counted('catalog', 'error')).toBe(before.catalog + 4);
    expect(await counted('categories', 'error')).toBe(before.categories);
    expect(await counted('providers', 'error')).toBe(before.providers);
    expect(await counted('search', 'error')).toBe(before.search);
  });

  it("never reads the previous release's cached search (another shape) during a rolling deploy", async () => {
    // Release 0.1.0 kept a search page as objects, under the key of the normalised query alone.
    const generation = (await kv.get('catalog:gen')) ?? '0';
    const old = JSON.stringify([{ q: 'reflexology' }, 'relevance', 20, null]);
    await kv.set(`catalog:search:${generation}:${old}`, JSON.stringify({ items: [], nextCursor: null }));
    const search = await get('/services/search?q=reflexology');
    expect(search.statusCode, search.body).toBe(200);
    expect(search.json().data.map((s: { id: string }) => s.id)).toEqual([serviceId]);
  });

  it('caches again once the store is back', async () => {
    const hits = await counted('categories', 'hit');
    await get('/categories');
    await get('/categories');
    expect(await counted('categories', 'hit')).toBe(hits + 1);
  });
});
