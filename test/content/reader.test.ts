import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { createContentRepository, createContentService } from '../../src/modules/content/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createContent, patchContent, signIn } from './helpers.js';

const DAY_MS = 86_400_000;

describe('reading content', () => {
  let t: TestApp;
  const clock = createTestClock();
  let admin: TestUser;
  // A word no other item uses, so searches see only this file's items.
  const word = `zanzibarite${Date.now()}`;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());
  // Tests move the clock by days, past the access token's lifetime: sign the admin in afresh.
  beforeEach(async () => {
    admin = await signIn(t.app, admin);
  });

  const list = async (query: string, headers: Record<string, string> = {}) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/content?${query}`, headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { data: { slug: string; [key: string]: unknown }[]; meta: { next_cursor: string | null } };
  };
  const slugs = (page: { data: { slug: string }[] }) => page.data.map((row) => row.slug);

  const viewsOf = (contentId: string) =>
    queryRows<{ user_id: string | null }>(
      t.app.platform.db,
      sql`select user_id from content_views where content_id = ${contentId} order by viewed_at, id`,
    );
  const viewedEvents = (contentId: string) =>
    queryRows<{ subject: string | null; properties: Record<string, unknown> }>(
      t.app.platform.db,
      sql`select subject, properties from product_events where name = 'content_viewed' and properties->>'content_id' = ${contentId} order by occurred_at, id`,
    );

  it('lists teasers of published items only, filtered by tag, locale, tier and type', async () => {
    const tag = `tag-${Date.now()}`;
    const article = await createContent(t.app, admin, { status: 'published', tags: [tag, 'screening'] });
    clock.advance(1000);
    const premiumTip = await createContent(t.app, admin, {
      type: 'tip',
      status: 'published',
      tier: 'premium',
      locale: 'en-GB',
      tags: [tag],
    });
    await createContent(t.app, admin, { tags: [tag] }); // draft
    const archived = await createContent(t.app, admin, { status: 'published', tags: [tag] });
    await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/content/${archived.id}`, headers: admin.headers });
    await createContent(t.app, admin, {
      status: 'published',
      tags: [tag],
      publish_at: new Date(clock.now().getTime() + DAY_MS).toISOString(),
    });

    const all = await list(`tag=${tag}`);
    expect(slugs(all)).toEqual([premiumTip.slug, article.slug]);
    expect(Object.keys(all.data[0] ?? {}).sort()).toEqual(
      ['id', 'slug', 'type', 'title', 'summary', 'tags', 'tier', 'image', 'locale', 'published_at'].sort(),
    );
    expect(slugs(await list(`tag=${tag}&tier=premium`))).toEqual([premiumTip.slug]);
    expect(slugs(await list(`tag=${tag}&tier=free`))).toEqual([article.slug]);
    expect(slugs(await list(`tag=${tag}&type=article`))).toEqual([article.slug]);
    expect(slugs(await list(`tag=${tag}&locale=en-GB`))).toEqual([premiumTip.slug]);
    expect(slugs(await list(`tag=${tag}&locale=fr`))).toEqual([]);
  });

  it('searches title, summary and body, best match first, never showing drafts, archived or scheduled items', async () => {
    const inTitle = await createContent(t.app, admin, {
      status: 'published',
      title: `${word} screening guide`,
      summary: `All about ${word}`,
      body: `${word} ${word} and more ${word}.`,
    });
    clock.advance(1000);
    const inBody = await createContent(t.app, admin, { status: 'published', body: `Mentions ${word} once.` });
    await createContent(t.app, admin, { body: `Draft about ${word}.` });
    const archived = await createContent(t.app, admin, { status: 'published', body: `Archived ${word}.` });
    await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/content/${archived.id}`, headers: admin.headers });
    const scheduled = await createContent(t.app, admin, {
      status: 'published',
      body: `Scheduled ${word}.`,
      publish_at: new Date(clock.now().getTime() + 2 * DAY_MS).toISOString(),
    });
    // A published item whose newest edit is what readers see: the old words no longer match.
    const edited = await createContent(t.app, admin, { status: 'published', body: `Old ${word} text.` });
    await patchContent(t.app, admin, edited.id, { body: 'New text without the word.' });

    expect(slugs(await list(`q=${word}`))).toEqual([inTitle.slug, inBody.slug]);
    expect(slugs(await list(`q=${encodeURIComponent(`"${word} screening"`)}`))).toEqual([inTitle.slug]);
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/v1/content/${scheduled.slug}` })).statusCode,
      'scheduled is invisible',
    ).toBe(404);

    clock.advance(2 * DAY_MS);
    const later = await list(`q=${word}`);
    expect(slugs(later)).toContain(scheduled.slug);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/content/${scheduled.slug}` })).statusCode).toBe(200);
  });

  it('uses the full-text index for q', async () => {
    const plan = await queryRows<{ 'QUERY PLAN': string }>(
      t.app.platform.db,
      sql`explain select 1 from content_versions
          where to_tsvector('simple', "content_versions"."title" || ' ' || "content_versions"."summary" || ' ' || "content_versions"."body") @@ websearch_to_tsquery('simple', ${word})`,
    );
    // With few rows the planner may prefer a scan; the index must at least be usable for the expression.
    const usable = await t.app.platform.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      return queryRows<{ 'QUERY PLAN': string }>(
        tx,
        sql`explain select 1 from content_versions
            where to_tsvector('simple', "content_versions"."title" || ' ' || "content_versions"."summary" || ' ' || "content_versions"."body") @@ websearch_to_tsquery('simple', ${word})`,
      );
    });
    expect(plan.length).toBeGreaterThan(0);
    expect(usable.map((row) => row['QUERY PLAN']).join('\n')).toContain('content_versions_search_idx');
  });

  it('pages with a cursor that stays stable when items are published between pages', async () => {
    const tag = `paged-${Date.now()}`;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(
        (await createContent(t.app, admin, { status: 'published', tags: [tag], body: `Paged ${word}x ${i}` })).slug,
      );
      clock.advance(1000);
    }
    const page1 = await list(`tag=${tag}&limit=2`);
    expect(slugs(page1)).toEqual([made[4], made[3]]);
    // Published after the first page was read: it belongs on top, not in the next page.
    const newer = await createContent(t.app, admin, { status: 'published', tags: [tag] });
    const page2 = await list(`tag=${tag}&limit=2&cursor=${page1.meta.next_cursor}`);
    expect(slugs(page2)).toEqual([made[2], made[1]]);
    const page3 = await list(`tag=${tag}&limit=2&cursor=${page2.meta.next_cursor}`);
    expect(slugs(page3)).toEqual([made[0]]);
    expect(page3.meta.next_cursor).toBeNull();
    expect(slugs(await list(`tag=${tag}&limit=1`))).toEqual([newer.slug]);

    // Search results page by relevance the same way.
    const searchAll = slugs(await list(`q=${word}x&limit=100`));
    expect(searchAll).toHaveLength(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`q=${word}x&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...slugs(page));
      cursor = page.meta.next_cursor;
    } while (cursor);
    expect(seen).toEqual(searchAll);

    for (const bad of ['not-a-cursor', Buffer.from('{"p":"x","i":"y"}').toString('base64url')]) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/content?cursor=${bad}` });
      expect(res.statusCode).toBe(400);
      expect(res.json().details[0].field).toBe('query.cursor');
    }
    // A list cursor is not a search cursor.
    const mixed = await t.app.inject({
      method: 'GET',
      url: `/api/v1/content?q=${word}&cursor=${page1.meta.next_cursor}`,
    });
    expect(mixed.statusCode).toBe(400);
  });

  it('shows a free item to anyone, with sanitised HTML, source and note; records the view and content_viewed', async () => {
    const item = await createContent(t.app, admin, {
      status: 'published',
      type: 'tip',
      body: [
        '# Heading',
        '',
        '<script>alert("x")</script>',
        '',
        '[click me](javascript:alert(1)) and [source](https://www.who.int/health-topics/cervical-cancer)',
        '',
        '<img src=x onerror=alert(1)>',
      ].join('\n'),
      source_name: 'WHO',
      source_url: 'https://www.who.int/health-topics/cervical-cancer',
    });
    const user = await createUser(t.app);

    const anonymous = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}` });
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.headers['cache-control']).toBe('private, no-cache');
    expect(anonymous.headers.vary).toMatch(/authorization/i);
    expect(anonymous.headers.etag).toBeDefined();
    const data = anonymous.json().data;
    expect(data).toMatchObject({
      slug: item.slug,
      type: 'tip',
      tier: 'free',
      source_name: 'WHO',
      source_url: 'https://www.who.int/health-topics/cervical-cancer',
      note: 'This is general information, not medical advice; talk to a health professional about your own situation.',
    });
    expect(data.body).toContain('<script>');
    const html: string = data.body_html;
    expect(html).toContain('<h1>Heading</h1>');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/href="javascript:/i);
    expect(html).toContain(
      '<a href="https://www.who.int/health-topics/cervical-cancer" target="_blank" rel="noopener noreferrer nofollow">source</a>',
    );

    const signedIn = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}`, headers: user.headers });
    expect(signedIn.statusCode).toBe(200);

    // HEAD checks without reading: not counted.
    const head = await t.app.inject({ method: 'HEAD', url: `/api/v1/content/${item.slug}`, headers: user.headers });
    expect(head.statusCode).toBe(200);

    expect(await viewsOf(item.id)).toEqual([{ user_id: null }, { user_id: user.id }]);
    expect(await viewedEvents(item.id)).toEqual([
      { subject: null, properties: { content_id: item.id, type: 'tip', tier: 'free' } },
      { subject: await subjectOf(t.app, user.id), properties: { content_id: item.id, type: 'tip', tier: 'free' } },
    ]);

    for (const slug of ['no-such-item', item.slug.toUpperCase()]) {
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/content/${slug}` })).statusCode).toBe(404);
    }
    const draft = await createContent(t.app, admin);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/content/${draft.slug}` })).statusCode).toBe(404);
  });

  it('gates premium items: anonymous and free get 403 with a teaser, trial and premium read and are counted, an expired trial is refused', async () => {
    const item = await createContent(t.app, admin, {
      status: 'published',
      tier: 'premium',
      title: 'Premium title',
      summary: 'Premium summary',
      body: 'The premium body.',
    });
    const free = await createUser(t.app);
    const premium = await createUser(t.app, { plan: 'premium' });
    const trial = await createUser(t.app);
    const started = await t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers: trial.headers });
    expect(started.statusCode, started.body).toBe(201);

    for (const headers of [{}, free.headers]) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}`, headers });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({
        success: false,
        code: 'PREMIUM_REQUIRED',
        title: 'Premium title',
        summary: 'Premium summary',
      });
      expect(res.body).not.toContain('The premium body.');
    }
    expect(await viewsOf(item.id)).toEqual([]);

    const usage = (userId: string) =>
      queryRows<{ feature_name: string; usage_count: number }>(
        t.app.platform.db,
        sql`select feature_name, usage_count from premium_feature_usage where user_id = ${userId}`,
      );

    for (const reader of [trial, premium]) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}`, headers: reader.headers });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().data).toMatchObject({ body: 'The premium body.', tier: 'premium' });
      expect(await usage(reader.id)).toEqual([{ feature_name: 'premium_content', usage_count: 1 }]);
    }
    await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}`, headers: trial.headers });
    expect(await usage(trial.id)).toEqual([{ feature_name: 'premium_content', usage_count: 2 }]);
    expect(await viewsOf(item.id)).toEqual([{ user_id: trial.id }, { user_id: premium.id }, { user_id: trial.id }]);
    expect((await viewedEvents(item.id)).map((event) => event.properties)).toEqual(
      Array(3).fill({ content_id: item.id, type: 'article', tier: 'premium' }),
    );

    // Past the 14 days the trial is over; sign in again (the old access token has expired too).
    clock.advance(15 * DAY_MS);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: trial.email, password: trial.password },
    });
    expect(login.statusCode).toBe(200);
    const expired = await t.app.inject({
      method: 'GET',
      url: `/api/v1/content/${item.slug}`,
      headers: { authorization: `Bearer ${login.json().data.access_token}` },
    });
    expect(expired.statusCode).toBe(403);
    expect(expired.json()).toMatchObject({ code: 'PREMIUM_REQUIRED', title: 'Premium title' });
    expect(await usage(trial.id)).toEqual([{ feature_name: 'premium_content', usage_count: 2 }]);
  });

  it('gives the recommendations engine published blocks and tells it when what readers see changes', async () => {
    // What readers see changed: the content module publishes it on the event bus.
    const onPublishedChange = vi.fn(async () => {});
    const { services, db, track } = t.app.platform;
    const content = createContentService({
      db,
      repository: createContentRepository(),
      audit: services.audit,
      track,
      access: services.access,
      clock,
      ids: t.app.platform.ids,
      events: { publish: onPublishedChange },
      media: services.media,
    });
    const actor = { id: admin.id, role: 'admin' as const, sessionId: 's', ip: null, correlationId: null };
    const base = { title: 'Block', summary: 'A block', body: 'Block body' };

    const draft = await content.create(actor, { ...base, type: 'diet_block', slug: `draft-block-${Date.now()}` });
    expect(onPublishedChange).not.toHaveBeenCalled();
    await content.update(actor, draft.id, { title: 'Still a draft' });
    expect(onPublishedChange).not.toHaveBeenCalled();

    const block = await content.create(actor, {
      ...base,
      type: 'protection_block',
      slug: `screening-block-${Date.now()}`,
      status: 'published',
      audience: { min_age: 25, max_age: 49, countries: ['GB'] },
    });
    expect(onPublishedChange).toHaveBeenCalledTimes(1);
    await content.update(actor, draft.id, { status: 'published' });
    expect(onPublishedChange).toHaveBeenCalledTimes(2);
    await content.update(actor, block.id, { body: 'Edited' });
    expect(onPublishedChange).toHaveBeenCalledTimes(3);

    const blocks = await content.publishedBlocks(['protection_block', 'diet_block']);
    expect(blocks.map((b) => b.slug)).toEqual(expect.arrayContaining([block.slug, draft.slug]));
    expect(blocks.find((b) => b.slug === block.slug)).toEqual({
      id: block.id,
      slug: block.slug,
      type: 'protection_block',
      title: 'Block',
      summary: 'A block',
      tags: [],
      audience: { min_age: 25, max_age: 49, countries: ['GB'] },
      tier: 'free',
      locale: 'en',
      body: 'Edited',
    });
    expect((await content.publishedBlocks(['diet_block'])).every((b) => b.type === 'diet_block')).toBe(true);

    await content.archive(actor, block.id);
    expect(onPublishedChange).toHaveBeenCalledTimes(4);
    expect((await content.publishedBlocks(['protection_block'])).map((b) => b.slug)).not.toContain(block.slug);
  });

  it("exports the reader's views in the privacy data map and erases them", async () => {
    const reader = await createUser(t.app);
    const item = await createContent(t.app, admin, { status: 'published' });
    await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}`, headers: reader.headers });
    await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.slug}` });

    const modules = t.app.platform.dataMap.entries().map((entry) => entry.module);
    expect(modules.indexOf('content')).toBeGreaterThanOrEqual(0);
    expect(modules.indexOf('content')).toBeLessThan(modules.indexOf('identity'));
    const entry = t.app.platform.dataMap.entries().find((candidate) => candidate.module === 'content');
    expect(entry?.tables).toEqual(['content_views']);

    const db = t.app.platform.db;
    expect(await entry?.export(db, reader.id)).toEqual([{ slug: item.slug, viewed_at: clock.now().toISOString() }]);
    expect(await entry?.erase(db, reader.id)).toEqual({ action: 'deleted', rows: 1 });
    expect(await entry?.export(db, reader.id)).toEqual([]);
    // The anonymous view is not hers and stays.
    expect(await viewsOf(item.id)).toEqual([{ user_id: null }]);
  });
});
