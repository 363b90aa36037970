import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { apiTypesSource } from '../helpers/api-types-source.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { createUser, type TestUser } from '../helpers/users.js';

describe('the typed test client', () => {
  let t: TestApp;
  let user: TestUser;
  beforeAll(async () => {
    t = await buildTestApp();
    user = await createUser(t.app, { name: 'Ada' });
  });
  afterAll(() => t.close());

  it("reads the API's types from the app's own document, which are current", async () => {
    const current = readFileSync(new URL('../helpers/api-types.ts', import.meta.url), 'utf8');
    expect(await apiTypesSource(t.app), 'run `npm run api:types` and commit test/helpers/api-types.ts').toBe(current);
  });

  it('sends bodies, path parameters and queries, and answers with the route response type', async () => {
    const client = api(t.app);
    const me = await client.as(user).patch('/api/v1/me', { body: { name: 'Ada Lovelace' } });
    expect(me.status).toBe(200);
    expectTypeOf(me.data.name).toEqualTypeOf<string | null>();
    expect(me.data.name).toBe('Ada Lovelace');

    const missing = await client.as(user).get('/api/v1/me/reminders/{id}', {
      params: { id: '01a22bd6-ef17-7000-aefc-adc9ed75e1e6' },
    });
    expect(missing.status).toBe(404);
    expect(missing.error.code).toBe('NOT_FOUND');
    expect(() => missing.data).toThrow(/expected a success, got 404/);

    const search = await client.anonymous.get('/api/v1/services/search', { query: { limit: 5 } });
    expect(search.status).toBe(200);
    expect(Array.isArray(search.data)).toBe(true);
  });
});
