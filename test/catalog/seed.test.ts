import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { catalogSeeder, seededProviderId } from '../../src/modules/catalog/index.js';
import { identitySeeder } from '../../src/modules/identity/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('catalog seed', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('seeds categories, verified providers in four cities and a pending one, idempotently and searchable', async () => {
    const db = t.app.platform.db;
    await db.transaction((tx) => identitySeeder.run(tx));
    await db.transaction((tx) => catalogSeeder.run(tx));
    const counts = async () =>
      (
        await queryRows<{ c: number; p: number; s: number }>(
          db,
          sql`select (select count(*)::int from categories) as c, (select count(*)::int from providers) as p, (select count(*)::int from services) as s`,
        )
      )[0];
    const first = await counts();
    await db.transaction((tx) => catalogSeeder.run(tx));
    expect(await counts()).toEqual(first);
    const cities = await queryRows<{ city: string }>(
      db,
      sql`select distinct city from providers where verification = 'verified' order by city`,
    );
    expect(cities.map((c) => c.city)).toEqual(['Lagos', 'London', 'Manchester', 'Nairobi']);
    expect(await seededProviderId(db, 'provider@demo.care')).toBeDefined();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?q=masage&city=nairobi' });
    expect(res.json().data.length).toBeGreaterThan(0);
  });
});
