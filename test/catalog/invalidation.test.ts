/**
 * Every catalog write that changes a search answer makes the cached answer stale at once, on the
 * instance that wrote (its copy in memory included) and on another instance sharing the store and
 * the database, which had the answer cached too.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/infra/db/client.js';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { buildTestApp, type TestApp, testRedisUrl } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

interface Hit {
  id: string;
  price_minor: number;
  category: { name: string };
  provider: { display_name: string; rating_average: number | null };
}

/** The same store or database for both instances: closing one instance must not close it. */
const keptOpen = <T extends { close(): Promise<void> }>(shared: T): T => ({ ...shared, close: async () => {} });

describe('cached searches go stale on every change, on both instances', () => {
  let database: Database;
  let kv: KeyValueStore | undefined;
  let a: TestApp;
  let b: TestApp;
  let admin: TestUser;
  let provider: TestUser;
  let providerId: string;
  let categoryId: string;
  // One word per test, so no test meets another's cached answers.
  const word = () => `zq${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    // Memory: one store object for both. Redis (services mode): one namespace, a client each.
    kv = testRedisUrl ? undefined : createMemoryStore({ now: () => new Date() });
    const redisPrefix = `test:${randomBytes(6).toString('hex')}:`;
    const options = { database: keptOpen(database), kv: kv && keptOpen(kv), redisPrefix };
    [a, b] = [await buildTestApp(options), await buildTestApp(options)];
    admin = await createUser(a.app, { role: 'admin' });
    categoryId = (await createCategory(a.app, admin, { name: 'Bodywork' })).id;
    ({ user: provider, providerId } = await createProvider(a.app, admin, { display_name: 'North Studio' }));
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([database?.close(), kv?.close()]);
  });

  const search = async (t: TestApp, q: string): Promise<Hit[]> => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/services/search?q=${q}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };
  const hits = async (t: TestApp) =>
    (await t.app.platform.metrics.cacheRequests.get()).values.find(
      (v) => v.labels.cache === 'search' && v.labels.result === 'hit',
    )?.value ?? 0;

  /** Both instances answer `q` from their cache before `change` (made through A), and see it right after. */
  async function staleOnBoth(q: string, seen: (answer: Hit[]) => boolean, change: () => Promise<void>) {
    for (const t of [a, b]) {
      await search(t, q);
      const before = await hits(t);
      expect(seen(await search(t, q))).toBe(false);
      expect(await hits(t), 'answered from the cache').toBe(before + 1);
    }
    await change();
    expect(seen(await search(a, q)), 'on A, which made the change').toBe(true);
    expect(seen(await search(b, q)), 'on B').toBe(true);
  }

  const ok = async (response: Promise<{ statusCode: number; body: string }>, status = 200) => {
    const res = await response;
    expect(res.statusCode, res.body).toBe(status);
  };
  const patchService = (id: string, payload: Record<string, unknown>) =>
    a.app.inject({ method: 'PATCH', url: `/api/v1/provider/services/${id}`, headers: provider.headers, payload });
  const setVerification = (id: string, payload: Record<string, unknown>) =>
    a.app.inject({ method: 'PATCH', url: `/api/v1/admin/providers/${id}`, headers: admin.headers, payload });

  it('a service created', async () => {
    const q = word();
    let id = '';
    await staleOnBoth(
      q,
      (answer) => answer.some((hit) => hit.id === id),
      async () => {
        id = (await createService(a.app, provider, { category_id: categoryId, name: `Massage ${q}` })).id;
      },
    );
  });

  it('a service edited (price) and renamed', async () => {
    const q = word();
    const { id } = await createService(a.app, provider, { category_id: categoryId, name: `Massage ${q}` });
    await staleOnBoth(
      q,
      (answer) => answer[0]?.price_minor === 7700,
      () => ok(patchService(id, { price_minor: 7700 })),
    );
    const renamed = word();
    await staleOnBoth(
      renamed,
      (answer) => answer[0]?.id === id,
      () => ok(patchService(id, { name: `Massage ${renamed}` })),
    );
  });

  it('a service deactivated', async () => {
    const q = word();
    const { id } = await createService(a.app, provider, { category_id: categoryId, name: `Massage ${q}` });
    await staleOnBoth(
      q,
      (answer) => answer.length === 0,
      () =>
        ok(a.app.inject({ method: 'DELETE', url: `/api/v1/provider/services/${id}`, headers: provider.headers }), 204),
    );
  });

  it('a provider verified, then rejected', async () => {
    const q = word();
    const pending = await createProvider(a.app, admin, { display_name: 'Pending Place' }, { verified: false });
    const { id } = await createService(a.app, pending.user, { category_id: categoryId, name: `Massage ${q}` });
    await staleOnBoth(
      q,
      (answer) => answer[0]?.id === id,
      () => ok(setVerification(pending.providerId, { verification: 'verified' })),
    );
    await staleOnBoth(
      q,
      (answer) => answer.length === 0,
      () => ok(setVerification(pending.providerId, { verification: 'rejected', reason: 'test' })),
    );
  });

  it('a category renamed', async () => {
    const q = word();
    const category = await createCategory(a.app, admin, { name: 'Before' });
    await createService(a.app, provider, { category_id: category.id, name: `Massage ${q}` });
    await staleOnBoth(
      q,
      (answer) => answer[0]?.category.name === 'After',
      () =>
        ok(
          a.app.inject({
            method: 'PATCH',
            url: `/api/v1/admin/categories/${category.id}`,
            headers: admin.headers,
            payload: { name: 'After' },
          }),
        ),
    );
  });

  it("the provider's name and rating", async () => {
    const q = word();
    await createService(a.app, provider, { category_id: categoryId, name: `Massage ${q}` });
    await staleOnBoth(
      q,
      (answer) => answer[0]?.provider.display_name === 'South Studio',
      () =>
        ok(
          a.app.inject({
            method: 'PATCH',
            url: '/api/v1/provider/profile',
            headers: provider.headers,
            payload: { display_name: 'South Studio' },
          }),
        ),
    );
    await staleOnBoth(
      q,
      (answer) => answer[0]?.provider.rating_average === 4,
      async () => {
        await a.app.platform.services.catalog.applyReview(a.app.platform.db, providerId, { add: 4 });
      },
    );
  });
});
