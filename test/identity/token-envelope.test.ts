import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('one token envelope for sign-up and login', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('answers the tokens where login does, with `tokens` kept (deprecated) for older clients', async () => {
    const account = { email: 'envelope@example.test', password: 'Envelope-passphrase-2026' };
    const signup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: account });
    expect(signup.statusCode).toBe(201);
    const data = signup.json().data;
    expect(data).toMatchObject({ token_type: 'Bearer', user: { email: account.email } });
    expect(data.tokens).toEqual({
      access_token: data.access_token,
      refresh_token: data.refresh_token,
      token_type: 'Bearer',
      expires_in: data.expires_in,
    });
    const me = await t.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${data.access_token}` } });
    expect(me.statusCode).toBe(200);

    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: account });
    const shape = (value: Record<string, unknown>) =>
      ['access_token', 'refresh_token', 'token_type', 'expires_in'].every((key) => key in value);
    expect(shape(login.json().data)).toBe(true);
    expect(shape(data)).toBe(true);

    const spec = (await t.app.inject({ url: '/docs/json' })).json();
    const created = spec.paths['/api/v1/auth/signup'].post.responses['201'].content['application/json'].schema;
    expect(JSON.stringify(created)).toContain('"deprecated":true');
  });
});
