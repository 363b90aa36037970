import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { CONTENT_NOTE, contentSeeder } from '../../src/modules/content/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

interface SeededRow {
  slug: string;
  type: string;
  status: string;
  tier: string;
  body: string;
  audience: Record<string, unknown>;
  source_name: string | null;
  source_url: string | null;
}

describe('content seed', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  const seeded = () =>
    queryRows<SeededRow>(
      t.app.platform.db,
      sql`select i.slug, i.type, i.status, v.tier, v.body, v.audience, v.source_name, v.source_url
          from content_items i join content_versions v on v.content_id = i.id and v.version = i.published_version
          order by i.slug`,
    );

  it('is wired after consent and creates at least 12 published English items with sources, once', async () => {
    const { seeders } = t.app.platform;
    expect(seeders.indexOf(contentSeeder)).toBeGreaterThan(
      seeders.findIndex((seeder) => seeder.name.startsWith('consent')),
    );
    await t.app.platform.db.transaction((tx) => contentSeeder.run(tx));
    const rows = await seeded();
    expect(rows.length).toBeGreaterThanOrEqual(12);
    for (const row of rows) {
      expect(row.status, row.slug).toBe('published');
      expect(row.source_name, row.slug).toBeTruthy();
      expect(row.source_url, row.slug).toMatch(/^https:\/\/www\.(who\.int|nhs\.uk|cdc\.gov)\//);
      expect(row.body, row.slug).toContain(CONTENT_NOTE);
    }
    const types = new Set(rows.map((row) => row.type));
    expect([...types].sort()).toEqual(['article', 'diet_block', 'protection_block', 'tip']);
    const premium = rows.filter((row) => row.tier === 'premium').length;
    expect(premium).toBeGreaterThanOrEqual(2);
    expect(premium).toBeLessThanOrEqual(3);

    // Blocks carry varied audience rules for the plan composer.
    const audiences = rows.filter((row) => row.type.endsWith('_block')).map((row) => row.audience);
    expect(audiences).toEqual(
      expect.arrayContaining([
        { diets: ['vegan'] },
        { diets: ['vegetarian'] },
        { min_age: 25, max_age: 49, countries: ['GB'] },
        { min_age: 50, max_age: 64, countries: ['GB'] },
        { min_age: 30 },
        { max_age: 26 },
        expect.objectContaining({ activity_levels: expect.any(Array) }),
      ]),
    );

    // Running it again changes nothing.
    await t.app.platform.db.transaction((tx) => contentSeeder.run(tx));
    const [counts] = await queryRows<{ items: number; versions: number }>(
      t.app.platform.db,
      sql`select (select count(*)::int from content_items) as items, (select count(*)::int from content_versions) as versions`,
    );
    expect(counts).toEqual({ items: rows.length, versions: rows.length });

    // Readers find it, by search too.
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/content?q=screening&limit=100' });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.map((row: { slug: string }) => row.slug)).toContain('screening-nhs-25-to-49');
    const blocks = await t.app.platform.services.content.publishedBlocks(['diet_block', 'protection_block']);
    expect(blocks.length).toBe(rows.filter((row) => row.type.endsWith('_block')).length);
  });
});
