import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService, searchTextOf } from './helpers.js';

describe('catalog management', () => {
  let t: TestApp;
  let admin: TestUser;
  let user: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    [admin, user] = await Promise.all([createUser(t.app, { role: 'admin' }), createUser(t.app)]);
  });
  afterAll(() => t.close());

  const db = () => t.app.platform.db;
  const count = async (table: string) =>
    Number((await queryRows<{ n: number }>(db(), sql.raw(`select count(*)::int as n from ${table}`)))[0]?.n);

  describe('categories', () => {
    it('creates a tree, lists active ones flat with parent_id, refuses duplicates, cycles, and non-admins', async () => {
      const parent = await createCategory(t.app, admin, { name: 'Massage', slug: 'massage' });
      const child = await createCategory(t.app, admin, {
        name: 'Sports massage',
        slug: 'sports-massage',
        parent_id: parent.id,
      });
      const grandchild = await createCategory(t.app, admin, {
        name: 'Deep tissue',
        slug: 'deep-tissue',
        parent_id: child.id,
      });
      await createCategory(t.app, admin, { name: 'Hidden', slug: 'hidden', active: false });

      const list = await t.app.inject({ method: 'GET', url: '/api/v1/categories' });
      expect(list.statusCode).toBe(200);
      const data = list.json().data as { slug: string; parent_id: string | null }[];
      expect(data.find((c) => c.slug === 'sports-massage')?.parent_id).toBe(parent.id);
      expect(data.some((c) => c.slug === 'hidden')).toBe(false);

      const dup = await t.app.inject({
        method: 'POST',
        url: '/api/v1/admin/categories',
        headers: admin.headers,
        payload: { slug: 'massage', name: 'Again' },
      });
      expect(dup.statusCode).toBe(409);

      for (const parentId of [grandchild.id, parent.id]) {
        const cycle = await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/admin/categories/${parent.id}`,
          headers: admin.headers,
          payload: { parent_id: parentId },
        });
        expect(cycle.statusCode, cycle.body).toBe(400);
      }
      const [row] = await queryRows<{ parent_id: string | null }>(
        db(),
        sql`select parent_id from categories where id = ${parent.id}`,
      );
      expect(row?.parent_id).toBeNull();

      for (const who of [user, undefined]) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/admin/categories',
          ...(who ? { headers: who.headers } : {}),
          payload: { slug: 'nope', name: 'Nope' },
        });
        expect(res.statusCode).toBe(who ? 403 : 401);
      }
      expect((await queryRows(db(), sql`select 1 from categories where slug = 'nope'`)).length).toBe(0);
    });

    it('deletes a leaf, answers 409 for a category with children or services, 404 for an unknown one', async () => {
      const top = await createCategory(t.app, admin, { name: 'Top' });
      const leaf = await createCategory(t.app, admin, { name: 'Leaf', parent_id: top.id });
      const withService = await createCategory(t.app, admin, { name: 'Used' });
      const { user: provider } = await createProvider(t.app, admin);
      await createService(t.app, provider, { category_id: withService.id });

      for (const id of [top.id, withService.id]) {
        const res = await t.app.inject({
          method: 'DELETE',
          url: `/api/v1/admin/categories/${id}`,
          headers: admin.headers,
        });
        expect(res.statusCode, res.body).toBe(409);
        expect(res.json().code).toBe('CONFLICT');
      }
      const gone = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/admin/categories/${leaf.id}`,
        headers: admin.headers,
      });
      expect(gone.statusCode).toBe(204);
      const missing = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/admin/categories/${randomUUID()}`,
        headers: admin.headers,
      });
      expect(missing.statusCode).toBe(404);
      const rows = await queryRows<{ id: string }>(
        db(),
        sql`select id from categories where id in (${top.id}, ${leaf.id}, ${withService.id})`,
      );
      expect(rows.map((r) => r.id).sort()).toEqual([top.id, withService.id].sort());
    });

    it('a rename rewrites the search text of its services and shows in search at once', async () => {
      const cat = await createCategory(t.app, admin, { name: 'Aromatherapy' });
      const { user: provider } = await createProvider(t.app, admin, { display_name: 'Rose Studio' });
      const svc = await createService(t.app, provider, { category_id: cat.id, name: 'Lavender session' });
      expect(await searchTextOf(t.app, svc.id)).toContain('Aromatherapy');
      const before = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?q=fragrance' });
      expect(before.json().data).toHaveLength(0);
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/categories/${cat.id}`,
        headers: admin.headers,
        payload: { name: 'Fragrance therapy' },
      });
      expect(res.statusCode).toBe(200);
      expect(await searchTextOf(t.app, svc.id)).toBe('Lavender session Fragrance therapy Rose Studio');
      const after = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?q=fragrance' });
      expect(after.json().data.map((s: { id: string }) => s.id)).toEqual([svc.id]);
    });

    it('the names of every category above are in the document: a rename or a move above rewrites it', async () => {
      const search = async (q: string) =>
        (await t.app.inject({ method: 'GET', url: `/api/v1/services/search?q=${q}` }))
          .json()
          .data.map((s: { id: string }) => s.id);
      const top = await createCategory(t.app, admin, { name: 'Movement' });
      const middle = await createCategory(t.app, admin, { name: 'Stretching', parent_id: top.id });
      const leaf = await createCategory(t.app, admin, { name: 'Partner work', parent_id: middle.id });
      const { user: provider } = await createProvider(t.app, admin, { display_name: 'Oak Hall' });
      const svc = await createService(t.app, provider, { category_id: leaf.id, name: 'Duo class' });
      expect(await searchTextOf(t.app, svc.id)).toBe('Duo class Movement Stretching Partner work Oak Hall');
      expect(await search('movement')).toEqual([svc.id]);

      const rename = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/categories/${top.id}`,
        headers: admin.headers,
        payload: { name: 'Mobility' },
      });
      expect(rename.statusCode, rename.body).toBe(200);
      expect(await search('mobility')).toEqual([svc.id]);
      expect(await search('movement')).toEqual([]);
      // A typo of a word only the category two levels up holds.
      expect(await search('mobilty')).toEqual([svc.id]);

      const elsewhere = await createCategory(t.app, admin, { name: 'Balance' });
      const move = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/categories/${middle.id}`,
        headers: admin.headers,
        payload: { parent_id: elsewhere.id },
      });
      expect(move.statusCode, move.body).toBe(200);
      expect(await searchTextOf(t.app, svc.id)).toBe('Duo class Balance Stretching Partner work Oak Hall');
      expect(await search('balance')).toEqual([svc.id]);
      expect(await search('mobility')).toEqual([]);
    });
  });

  describe('provider profile and verification', () => {
    it('creates a pending profile on first GET, validates updates, and only providers may', async () => {
      const provider = await createUser(t.app, { role: 'provider', name: 'Amina Otieno' });
      const first = await t.app.inject({ method: 'GET', url: '/api/v1/provider/profile', headers: provider.headers });
      expect(first.statusCode).toBe(200);
      expect(first.json().data).toMatchObject({
        display_name: 'Amina Otieno',
        verification: 'pending',
        rating_count: 0,
      });
      const again = await t.app.inject({ method: 'GET', url: '/api/v1/provider/profile', headers: provider.headers });
      expect(again.json().data.id).toBe(first.json().data.id);

      const ok = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/provider/profile',
        headers: provider.headers,
        payload: {
          display_name: 'Amina Wellness',
          bio: 'Sports massage',
          city: 'Nairobi',
          country: 'KE',
          languages: ['en', 'sw'],
          time_zone: 'Africa/Nairobi',
          auto_confirm: true,
        },
      });
      expect(ok.statusCode, ok.body).toBe(200);

      for (const payload of [
        { country: 'Kenya' },
        { languages: ['english'] },
        { time_zone: 'Mars/Olympus' },
        { verification: 'verified' },
        { rating_average: 5 },
        { display_name: '' },
      ]) {
        const res = await t.app.inject({
          method: 'PATCH',
          url: '/api/v1/provider/profile',
          headers: provider.headers,
          payload,
        });
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      }
      const [row] = await queryRows<Record<string, unknown>>(
        db(),
        sql`select display_name, city, country, languages, time_zone, verification, auto_confirm from providers where user_id = ${provider.id}`,
      );
      expect(row).toEqual({
        display_name: 'Amina Wellness',
        city: 'Nairobi',
        country: 'KE',
        languages: ['en', 'sw'],
        time_zone: 'Africa/Nairobi',
        verification: 'pending',
        auto_confirm: true,
      });

      const providersBefore = await count('providers');
      const asUser = await t.app.inject({ method: 'GET', url: '/api/v1/provider/profile', headers: user.headers });
      expect(asUser.statusCode).toBe(403);
      expect(await count('providers')).toBe(providersBefore);
    });

    it('admin verifies (audited); rejecting needs a reason; only verified profiles are public', async () => {
      const { user: provider, providerId } = await createProvider(
        t.app,
        admin,
        { display_name: 'Pending Pat' },
        { verified: false },
      );
      const hidden = await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` });
      expect(hidden.statusCode).toBe(404);

      const pending = await t.app.inject({
        method: 'GET',
        url: '/api/v1/admin/providers?verification=pending',
        headers: admin.headers,
      });
      expect(pending.json().data.map((p: { id: string }) => p.id)).toContain(providerId);

      for (const who of [user, provider]) {
        const res = await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/admin/providers/${providerId}`,
          headers: who.headers,
          payload: { verification: 'verified' },
        });
        expect(res.statusCode).toBe(403);
      }
      const noReason = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/providers/${providerId}`,
        headers: admin.headers,
        payload: { verification: 'rejected' },
      });
      expect(noReason.statusCode).toBe(400);
      const [still] = await queryRows<{ verification: string }>(
        db(),
        sql`select verification from providers where id = ${providerId}`,
      );
      expect(still?.verification).toBe('pending');

      const verified = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/providers/${providerId}`,
        headers: admin.headers,
        payload: { verification: 'verified' },
      });
      expect(verified.statusCode).toBe(200);
      const audit = await queryRows<{ actor_id: string; target_id: string }>(
        db(),
        sql`select actor_id, target_id from audit_log where action = 'catalog.provider_verification' and target_id = ${providerId}`,
      );
      expect(audit).toEqual([{ actor_id: admin.id, target_id: providerId }]);

      const visible = await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` });
      expect(visible.statusCode).toBe(200);
      expect(visible.json().data).toMatchObject({ display_name: 'Pending Pat', rating_average: null, rating_count: 0 });

      const rejected = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/providers/${providerId}`,
        headers: admin.headers,
        payload: { verification: 'rejected', reason: 'licence expired' },
      });
      expect(rejected.json().data).toMatchObject({ verification: 'rejected', verification_reason: 'licence expired' });
      // The cached public profile is gone with the change.
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` })).statusCode).toBe(404);
    });

    it('applyReview keeps sum, count and a rounded average, and the public profile shows it at once', async () => {
      const { providerId } = await createProvider(t.app, admin);
      const catalog = t.app.platform.services.catalog;
      expect(
        (await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` })).json().data.rating_count,
      ).toBe(0);
      await catalog.applyReview(db(), providerId, { add: 5 });
      await catalog.applyReview(db(), providerId, { add: 4 });
      await catalog.applyReview(db(), providerId, { add: 4 });
      let profile = (await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` })).json().data;
      expect(profile).toMatchObject({ rating_average: 4.33, rating_count: 3 });
      await catalog.applyReview(db(), providerId, { remove: 5 });
      await catalog.applyReview(db(), providerId, { remove: 4 });
      await catalog.applyReview(db(), providerId, { remove: 4 });
      profile = (await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` })).json().data;
      expect(profile).toMatchObject({ rating_average: null, rating_count: 0 });
      const [row] = await queryRows<{ rating_sum: number }>(
        db(),
        sql`select rating_sum from providers where id = ${providerId}`,
      );
      expect(row?.rating_sum).toBe(0);
    });
  });

  describe('services', () => {
    it("CRUD on the provider's own services; another provider gets 404; soft delete", async () => {
      const cat = await createCategory(t.app, admin, { name: 'Yoga' });
      const { user: owner, providerId } = await createProvider(t.app, admin, { display_name: 'Flow Studio' });
      const { user: other } = await createProvider(t.app, admin);
      const svc = await createService(t.app, owner, {
        category_id: cat.id,
        name: 'Vinyasa class',
        description: 'Dynamic flow',
        duration_minutes: 60,
        buffer_minutes: 15,
        price_minor: 2500,
        currency: 'GBP',
      });
      expect(svc).toMatchObject({ provider_id: providerId, is_active: true, buffer_minutes: 15 });
      expect(await searchTextOf(t.app, svc.id)).toBe('Vinyasa class Dynamic flow Yoga Flow Studio');

      for (const method of ['PATCH', 'DELETE'] as const) {
        const res = await t.app.inject({
          method,
          url: `/api/v1/provider/services/${svc.id}`,
          headers: other.headers,
          ...(method === 'PATCH' ? { payload: { price_minor: 1 } } : {}),
        });
        expect(res.statusCode).toBe(404);
      }
      const otherList = await t.app.inject({ method: 'GET', url: '/api/v1/provider/services', headers: other.headers });
      expect(otherList.json().data).toEqual([]);

      const patched = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/provider/services/${svc.id}`,
        headers: owner.headers,
        payload: { name: 'Hatha class', price_minor: 3000 },
      });
      expect(patched.statusCode).toBe(200);
      expect(await searchTextOf(t.app, svc.id)).toBe('Hatha class Dynamic flow Yoga Flow Studio');

      const del = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/provider/services/${svc.id}`,
        headers: owner.headers,
      });
      expect(del.statusCode).toBe(204);
      const [row] = await queryRows<{ name: string; price_minor: number; is_active: boolean }>(
        db(),
        sql`select name, price_minor, is_active from services where id = ${svc.id}`,
      );
      expect(row).toEqual({ name: 'Hatha class', price_minor: 3000, is_active: false });
      expect(await t.app.platform.services.catalog.bookableService(svc.id)).toBeUndefined();
      const list = await t.app.inject({ method: 'GET', url: '/api/v1/provider/services', headers: owner.headers });
      expect(list.json().data).toMatchObject([{ id: svc.id, is_active: false }]);
    });

    it('rejects invalid services with the database unchanged', async () => {
      const cat = await createCategory(t.app, admin, { name: 'Nutrition' });
      const { user: provider } = await createProvider(t.app, admin);
      const good = { name: 'Plan', category_id: cat.id, duration_minutes: 30, price_minor: 1000, currency: 'GBP' };
      const before = await count('services');
      for (const payload of [
        { ...good, price_minor: -1 },
        { ...good, price_minor: 10.5 },
        { ...good, currency: 'gb1' },
        { ...good, currency: 'POUND' },
        { ...good, duration_minutes: 4 },
        { ...good, duration_minutes: 1441 },
        { ...good, buffer_minutes: 241 },
        { ...good, provider_id: randomUUID() },
        { ...good, category_id: randomUUID() },
        { ...good, name: '' },
      ]) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/provider/services',
          headers: provider.headers,
          payload,
        });
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      }
      expect(await count('services')).toBe(before);
      const asUser = await t.app.inject({
        method: 'POST',
        url: '/api/v1/provider/services',
        headers: user.headers,
        payload: good,
      });
      expect(asUser.statusCode).toBe(403);
      expect(await count('services')).toBe(before);
    });

    it("a provider rename rewrites the search text of all the provider's services", async () => {
      const cat = await createCategory(t.app, admin, { name: 'Skin care' });
      const { user: provider, providerId } = await createProvider(t.app, admin, { display_name: 'Glow Room' });
      const a = await createService(t.app, provider, { category_id: cat.id, name: 'Facial' });
      const b = await createService(t.app, provider, { category_id: cat.id, name: 'Peel' });
      await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/provider/profile',
        headers: provider.headers,
        payload: { display_name: 'Radiance Clinic' },
      });
      expect(await searchTextOf(t.app, a.id)).toBe('Facial Skin care Radiance Clinic');
      expect(await searchTextOf(t.app, b.id)).toBe('Peel Skin care Radiance Clinic');
      const profile = await t.app.inject({ method: 'GET', url: `/api/v1/providers/${providerId}` });
      expect(profile.json().data.display_name).toBe('Radiance Clinic');
    });
  });
});
