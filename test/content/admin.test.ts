import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { contentBody, contentCounts, createContent, patchContent } from './helpers.js';

describe('admin content', () => {
  let t: TestApp;
  let admin: TestUser;
  let user: TestUser;
  let provider: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    [admin, user, provider] = await Promise.all([
      createUser(t.app, { role: 'admin' }),
      createUser(t.app),
      createUser(t.app, { role: 'provider' }),
    ]);
  });
  afterAll(() => t.close());

  const versionsInDb = (id: string) =>
    queryRows<{ version: number; title: string; tier: string; edited_by: string }>(
      t.app.platform.db,
      sql`select version, title, tier, edited_by from content_versions where content_id = ${id} order by version`,
    );
  const itemInDb = async (id: string) =>
    (
      await queryRows<{ slug: string; status: string; current_version: number; published_version: number | null }>(
        t.app.platform.db,
        sql`select slug, status, current_version, published_version from content_items where id = ${id}`,
      )
    )[0];

  it('creates a draft as version 1, audited, with an admin_content_created event in the same transaction', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      headers: admin.headers,
      payload: contentBody({
        type: 'diet_block',
        slug: 'vegan-greens',
        title: 'Greens for vegans',
        tags: ['diet', 'vegan'],
        audience: { min_age: 18, max_age: 64, diets: ['vegan'], activity_levels: ['light'], countries: ['GB', 'IE'] },
        source_name: 'NHS: The vegan diet',
        source_url: 'https://www.nhs.uk/live-well/eat-well/how-to-eat-a-balanced-diet/the-vegan-diet/',
      }),
    });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json().data;
    expect(created).toMatchObject({
      slug: 'vegan-greens',
      type: 'diet_block',
      status: 'draft',
      version: 1,
      published_version: null,
      publish_at: null,
      locale: 'en',
      tier: 'free',
      tags: ['diet', 'vegan'],
      audience: { min_age: 18, max_age: 64, diets: ['vegan'], activity_levels: ['light'], countries: ['GB', 'IE'] },
      source_name: 'NHS: The vegan diet',
    });

    expect(await itemInDb(created.id)).toEqual({
      slug: 'vegan-greens',
      status: 'draft',
      current_version: 1,
      published_version: null,
    });
    expect(await versionsInDb(created.id)).toEqual([
      { version: 1, title: 'Greens for vegans', tier: 'free', edited_by: admin.id },
    ]);
    const audit = await queryRows<{ action: string; actor_id: string; details: Record<string, unknown> }>(
      t.app.platform.db,
      sql`select action, actor_id, details from audit_log where target_id = ${created.id}`,
    );
    expect(audit).toEqual([
      {
        action: 'content.created',
        actor_id: admin.id,
        details: { slug: 'vegan-greens', type: 'diet_block', status: 'draft', version: 1 },
      },
    ]);
    const events = await queryRows<{ subject: string; properties: Record<string, unknown> }>(
      t.app.platform.db,
      sql`select subject, properties from product_events where name = 'admin_content_created' and properties->>'content_id' = ${created.id}`,
    );
    expect(events).toEqual([
      { subject: await subjectOf(t.app, admin.id), properties: { content_id: created.id, type: 'diet_block' } },
    ]);

    const get = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/content/${created.id}`,
      headers: admin.headers,
    });
    expect(get.statusCode).toBe(200);
    expect(get.json().data).toMatchObject({ id: created.id, body: created.body, version: 1 });
  });

  it('makes every content edit a new immutable version; publishing moves the pointer, a draft has none', async () => {
    const item = await createContent(t.app, admin, { title: 'First title' });

    const edited = await patchContent(t.app, admin, item.id, { title: 'Second title', tier: 'premium' });
    expect(edited).toMatchObject({ version: 2, published_version: null, status: 'draft', title: 'Second title' });

    const published = await patchContent(t.app, admin, item.id, { status: 'published' });
    expect(published).toMatchObject({ version: 2, published_version: 2, status: 'published' });
    expect(published.publish_at).toEqual(expect.any(String));

    const republished = await patchContent(t.app, admin, item.id, { body: 'A better body.' });
    expect(republished).toMatchObject({
      version: 3,
      published_version: 3,
      status: 'published',
      body: 'A better body.',
    });

    const unpublished = await patchContent(t.app, admin, item.id, { status: 'draft' });
    expect(unpublished).toMatchObject({ version: 3, published_version: null });

    const versions = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/content/${item.id}/versions`,
      headers: admin.headers,
    });
    expect(versions.statusCode).toBe(200);
    expect(
      versions.json().data.map((v: { version: number; title: string; tier: string }) => [v.version, v.title, v.tier]),
    ).toEqual([
      [3, 'Second title', 'premium'],
      [2, 'Second title', 'premium'],
      [1, 'First title', 'free'],
    ]);
    expect(versions.json().data[0]).toMatchObject({ body: 'A better body.', edited_by: admin.id });
    // Older versions stay exactly as they were written.
    expect(await versionsInDb(item.id)).toEqual([
      { version: 1, title: 'First title', tier: 'free', edited_by: admin.id },
      { version: 2, title: 'Second title', tier: 'premium', edited_by: admin.id },
      { version: 3, title: 'Second title', tier: 'premium', edited_by: admin.id },
    ]);
    const actions = await queryRows<{ action: string }>(
      t.app.platform.db,
      sql`select action from audit_log where target_id = ${item.id} order by seq`,
    );
    expect(actions.map((row) => row.action)).toEqual([
      'content.created',
      'content.updated',
      'content.updated',
      'content.updated',
      'content.updated',
    ]);
  });

  it('archives on DELETE: readers get 404, the versions are kept', async () => {
    const item = await createContent(t.app, admin, { status: 'published' });
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}` })).statusCode).toBe(200);

    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/content/${item.id}`,
      headers: admin.headers,
    });
    expect(res.statusCode).toBe(204);
    expect(await itemInDb(item.id)).toMatchObject({ status: 'archived' });
    expect(await versionsInDb(item.id)).toHaveLength(1);
    const read = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}` });
    expect(read.statusCode).toBe(404);
    expect(read.json().code).toBe('NOT_FOUND');

    const missing = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/content/${randomUUID()}`,
      headers: admin.headers,
    });
    expect(missing.statusCode).toBe(404);
  });

  it('lists with type and status filters and a cursor (limit ≤ 100)', async () => {
    const tips = [];
    for (let i = 0; i < 3; i++) tips.push(await createContent(t.app, admin, { type: 'tip', status: 'published' }));
    await createContent(t.app, admin, { type: 'tip' });

    const first = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/content?type=tip&status=published&limit=2',
      headers: admin.headers,
    });
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.data.map((row: { id: string }) => row.id)).toEqual([tips[2]?.id, tips[1]?.id]);
    expect(page1.data[0]).not.toHaveProperty('body');
    expect(page1.meta.next_cursor).toBe(tips[1]?.id);

    const second = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/content?type=tip&status=published&limit=2&cursor=${page1.meta.next_cursor}`,
      headers: admin.headers,
    });
    expect(second.json().data.map((row: { id: string }) => row.id)).toEqual([tips[0]?.id]);
    expect(second.json().meta.next_cursor).toBeNull();

    const tooMany = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/content?limit=101',
      headers: admin.headers,
    });
    expect(tooMany.statusCode).toBe(400);
  });

  it('refuses invalid input with 400 and a taken slug with 409, changing nothing', async () => {
    const existing = await createContent(t.app, admin, { slug: 'taken-slug' });
    const before = await contentCounts(t.app);
    const cases: [Record<string, unknown>, string][] = [
      [contentBody({ role: 'admin' }), 'body.role'],
      [contentBody({ slug: 'Not Kebab' }), 'body.slug'],
      [contentBody({ slug: 'trailing-' }), 'body.slug'],
      [contentBody({ type: 'video' }), 'body.type'],
      [contentBody({ tier: 'gold' }), 'body.tier'],
      [contentBody({ status: 'live' }), 'body.status'],
      [contentBody({ audience: { min_age: 50, max_age: 25 } }), 'body.audience.min_age'],
      [contentBody({ audience: { diets: ['carnivore'] } }), 'body.audience.diets.0'],
      [contentBody({ audience: { activity_levels: ['extreme'] } }), 'body.audience.activity_levels.0'],
      [contentBody({ audience: { countries: ['g1'] } }), 'body.audience.countries.0'],
      [contentBody({ audience: { countries: ['GBR'] } }), 'body.audience.countries.0'],
      [contentBody({ audience: { postcode: 'SW1' } }), 'body.audience.postcode'],
      [contentBody({ title: '' }), 'body.title'],
    ];
    for (const [payload, field] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/admin/content', headers: admin.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
      expect(res.json().details.map((d: { field: string }) => d.field)).toContain(field);
    }
    // A script URL is refused before validation by request inspection (and recorded), naming the field.
    const script = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      headers: admin.headers,
      payload: contentBody({ source_url: 'javascript:alert(1)' }),
    });
    expect(script.statusCode).toBe(403);
    expect(script.json().code).toBe('REQUEST_REJECTED');
    expect(script.json().details[0].field).toBe('body.source_url');

    const duplicate = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      headers: admin.headers,
      payload: contentBody({ slug: 'taken-slug' }),
    });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().code).toBe('CONFLICT');

    const other = await createContent(t.app, admin);
    const afterOther = await contentCounts(t.app);
    const rename = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/content/${other.id}`,
      headers: admin.headers,
      payload: { slug: 'taken-slug', title: 'Would be version 2' },
    });
    expect(rename.statusCode).toBe(409);
    const badPatch = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/content/${other.id}`,
      headers: admin.headers,
      payload: { audience: { min_age: 40, max_age: 30 } },
    });
    expect(badPatch.statusCode).toBe(400);
    const typeChange = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/content/${other.id}`,
      headers: admin.headers,
      payload: { type: 'tip' },
    });
    expect(typeChange.statusCode).toBe(400);
    const empty = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/content/${other.id}`,
      headers: admin.headers,
      payload: {},
    });
    expect(empty.statusCode).toBe(400);

    expect(await contentCounts(t.app)).toEqual(afterOther);
    expect(afterOther).toMatchObject({ items: before.items + 1, versions: before.versions + 1 });
    expect(await itemInDb(other.id)).toMatchObject({ slug: other.slug, current_version: 1 });
    expect(await itemInDb(existing.id)).toMatchObject({ slug: 'taken-slug', current_version: 1 });
  });

  it('answers 401 to anonymous callers and 403 to users and providers on every admin route, changing nothing', async () => {
    const item = await createContent(t.app, admin, { status: 'published' });
    const before = await contentCounts(t.app);
    const routes = [
      { method: 'GET', url: '/api/v1/admin/content' },
      { method: 'POST', url: '/api/v1/admin/content', payload: contentBody() },
      { method: 'GET', url: `/api/v1/admin/content/${item.id}` },
      { method: 'GET', url: `/api/v1/admin/content/${item.id}/versions` },
      { method: 'PATCH', url: `/api/v1/admin/content/${item.id}`, payload: { title: 'Hijacked' } },
      { method: 'DELETE', url: `/api/v1/admin/content/${item.id}` },
    ] as const;
    for (const route of routes) {
      const anonymous = await t.app.inject({ ...route });
      expect(anonymous.statusCode, `${route.method} ${route.url}`).toBe(401);
      for (const caller of [user, provider]) {
        const res = await t.app.inject({ ...route, headers: caller.headers });
        expect(res.statusCode, `${caller.role} ${route.method} ${route.url}`).toBe(403);
        expect(res.json().code).toBe('FORBIDDEN');
      }
    }
    expect(await contentCounts(t.app)).toEqual(before);
    expect(await itemInDb(item.id)).toMatchObject({ status: 'published', current_version: 1 });
  });
});
