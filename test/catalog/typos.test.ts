/**
 * The typo fallback of search: when full text finds nothing, each word matches as a prefix or,
 * from 4 letters, as any word of a service or category name one edit away; nonsense finds nothing.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { typoTsquery, withinOneEdit } from '../../src/modules/catalog/catalog.typos.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

describe('one edit apart', () => {
  it('accepts a letter missing, extra, changed, or two neighbours swapped, and nothing more', () => {
    expect(withinOneEdit('sprts', 'sports')).toBe(true);
    expect(withinOneEdit('masage', 'massage')).toBe(true);
    expect(withinOneEdit('massge', 'massage')).toBe(true);
    expect(withinOneEdit('yogq', 'yoga')).toBe(true);
    expect(withinOneEdit('yoag', 'yoga')).toBe(true);
    expect(withinOneEdit('yogaa', 'yoga')).toBe(true);
    expect(withinOneEdit('ayoga', 'yoga')).toBe(true);
    expect(withinOneEdit('yoga', 'yoga')).toBe(true);
    expect(withinOneEdit('sprt', 'sports')).toBe(false);
    expect(withinOneEdit('ygoq', 'yoga')).toBe(false);
    expect(withinOneEdit('abcd', 'badc')).toBe(false);
    expect(withinOneEdit('xqzvw', 'yoga')).toBe(false);
    expect(withinOneEdit('zürch', 'zürich')).toBe(true);
  });

  it("builds a tsquery from the vocabulary's candidates, keeping only those one edit away, quoted", () => {
    expect(
      typoTsquery([
        { word: 'sprts', near: 'sports' },
        { word: 'sprts', near: 'spirits' },
        { word: 'masage', near: 'massage' },
        { word: 'of', near: null },
      ]),
    ).toBe("('sprts':* | 'sports') & ('masage':* | 'massage') & ('of')");
    expect(typoTsquery([{ word: "o'neil", near: null }])).toBe("('o''neil':*)");
    expect(typoTsquery([])).toBeUndefined();
  });
});

describe('search with typos', () => {
  let t: TestApp;
  let admin: TestUser;
  let provider: TestUser;
  const ids: Record<string, string> = {};
  let reflexologyId: string;

  beforeAll(async () => {
    t = await buildTestApp();
    admin = await createUser(t.app, { role: 'admin' });
    const massage = await createCategory(t.app, admin, { name: 'Massage' });
    const yoga = await createCategory(t.app, admin, { name: 'Yoga' });
    const reflexology = await createCategory(t.app, admin, { name: 'Reflexology' });
    reflexologyId = reflexology.id;
    ({ user: provider } = await createProvider(t.app, admin, { display_name: 'Quiet Rooms' }));
    const add = async (key: string, category_id: string, name: string, description = '') => {
      ids[key] = (await createService(t.app, provider, { category_id, name, description })).id;
    };
    await add('sports', massage.id, 'Sports massage');
    await add('relax', massage.id, 'Relaxation massage');
    await add('yoga', yoga.id, 'Vinyasa yoga');
    // The word "reflexology" is only in its category's name.
    await add('feet', reflexology.id, 'Foot care session');
  });
  afterAll(() => t.close());

  const found = async (q: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/services/search?q=${encodeURIComponent(q)}` });
    expect(res.statusCode, res.body).toBe(200);
    return new Set(res.json().data.map((hit: { id: string }) => hit.id));
  };

  it('finds a single-edit typo of any word of a service name', async () => {
    expect(await found('Sprts')).toEqual(new Set([ids.sports]));
    expect(await found('masage')).toEqual(new Set([ids.sports, ids.relax]));
    expect(await found('massge')).toEqual(new Set([ids.sports, ids.relax]));
    expect(await found('yogq')).toEqual(new Set([ids.yoga]));
    expect(await found('vinyasaa yoga')).toEqual(new Set([ids.yoga]));
    expect(await found('sprts masage')).toEqual(new Set([ids.sports]));
  });

  it('finds a typo in a word of a category name', async () => {
    expect(await found('reflexolgy')).toEqual(new Set([ids.feet]));
  });

  it('matches a word as a prefix', async () => {
    expect(await found('relax')).toEqual(new Set([ids.relax]));
    expect(await found('vinya')).toEqual(new Set([ids.yoga]));
  });

  it('finds nothing for nonsense, or when one word of the query matches nothing', async () => {
    expect(await found('xqzvw')).toEqual(new Set());
    expect(await found('qq')).toEqual(new Set());
    expect(await found('yoga xqzvw')).toEqual(new Set());
  });

  it('corrects a three-letter word only by the letter it is missing', async () => {
    expect(await found('yga')).toEqual(new Set([ids.yoga]));
    expect(await found('yg')).toEqual(new Set());
    // A swap or a change in three letters reaches too many words.
    expect(
      typoTsquery([
        { word: 'mta', near: 'mat' },
        { word: 'fat', near: 'mat' },
        { word: 'bck', near: 'back' },
      ]),
    ).toBe("('mta':*) & ('fat':*) & ('bck':* | 'back')");
  });

  it('learns the words of a renamed service and a renamed category', async () => {
    expect(await found('shiatzu')).toEqual(new Set());
    const rename = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/provider/services/${ids.relax}`,
      headers: provider.headers,
      payload: { name: 'Shiatsu' },
    });
    expect(rename.statusCode, rename.body).toBe(200);
    expect(await found('shiatzu')).toEqual(new Set([ids.relax]));

    const category = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/categories/${reflexologyId}`,
      headers: admin.headers,
      payload: { name: 'Zone therapy' },
    });
    expect(category.statusCode, category.body).toBe(200);
    expect(await found('zonr')).toEqual(new Set([ids.feet]));
    // No personal data in the vocabulary: the provider's name is searchable, not learnt.
    const words = await queryRows<{ word: string }>(
      t.app.platform.db,
      sql`select distinct word from search_vocabulary`,
    );
    expect(words.map((row) => row.word)).not.toContain('quiet');
  });

  it('pages a typo search with its cursor in the same mode', async () => {
    const first = await t.app.inject({ method: 'GET', url: '/api/v1/services/search?q=massge&limit=1' });
    expect(first.statusCode, first.body).toBe(200);
    const cursor = first.json().meta.next_cursor as string;
    expect(cursor).toEqual(expect.any(String));
    const second = await t.app.inject({
      method: 'GET',
      url: `/api/v1/services/search?q=massge&limit=1&cursor=${cursor}`,
    });
    expect(second.statusCode, second.body).toBe(200);
    const both = [...first.json().data, ...second.json().data].map((hit: { id: string }) => hit.id);
    expect(new Set(both)).toEqual(await found('massge'));
    expect(both).toHaveLength(new Set(both).size);
  });
});
