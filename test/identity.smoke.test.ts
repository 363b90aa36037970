import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './helpers/app.js';
import { createUser } from './helpers/users.js';

describe('identity smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('signs up, reads /me, and an admin lists users', async () => {
    const user = await createUser(t.app);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(me.statusCode).toBe(200);
    expect(me.json().data.email).toBe(user.email);
    const admin = await createUser(t.app, { role: 'admin' });
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: admin.headers });
    expect(list.statusCode).toBe(200);
    expect(list.json().data.length).toBe(2);
    const forbidden = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: user.headers });
    expect(forbidden.statusCode).toBe(403);
    const audit = await t.app.inject({ method: 'GET', url: '/api/v1/admin/audit/verify', headers: admin.headers });
    expect(audit.json().data.valid).toBe(true);
  });
});
