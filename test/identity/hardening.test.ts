import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { sessions, users } from '../../src/modules/identity/identity.tables.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser } from '../helpers/users.js';

describe('hardening', () => {
  let t: TestApp;
  const logLines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    t = await buildTestApp({ logLines, env: { TRUST_PROXY: '1' } });
  });
  afterAll(() => t.close());

  it('answers text the database cannot store with 400, and logs no personal data or hash', async () => {
    const user = await createUser(t.app, { name: 'Ann' });
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { name: 'Ann\u0000', phone: '+447700900123' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_ERROR');
    const [row] = await t.app.platform.db.select().from(users).where(eq(users.id, user.id));
    expect(row?.name).toBe('Ann');
    const logged = JSON.stringify(logLines);
    expect(logged).not.toContain(user.email);
    expect(logged).not.toContain('$argon2id$');
    expect(logged).not.toContain('447700900123');
  });

  it('trusts only the load balancer hop of X-Forwarded-For with TRUST_PROXY=1', async () => {
    const user = await createUser(t.app);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': '6.6.6.6, 10.0.0.9' },
      payload: { email: user.email, password: user.password },
    });
    const token = login.json().data.access_token as string;
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: { authorization: `Bearer ${token}` },
    });
    const current = list.json().data.find((s: { current: boolean }) => s.current);
    expect(current.ip).toBe('10.0.0.9');
  });

  it('parses TRUST_PROXY as false, a hop count or a list of proxies', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(() => loadConfig({ TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });

  it('refuses a session the database revoked even when the shared store never heard of it', async () => {
    const user = await createUser(t.app);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers })).statusCode).toBe(200);
    // A revocation whose store write was lost: only the database knows.
    await t.app.platform.db
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: 'test' })
      .where(eq(sessions.userId, user.id));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('SESSION_REVOKED');
  });

  it('gives a user a fresh 14-day trial when an admin sets the plan to trial', async () => {
    const admin = await createUser(t.app, { role: 'admin' });
    const user = await createUser(t.app);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      headers: admin.headers,
      payload: { plan: 'trial' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.plan).toBe('trial');
    const expires = new Date(res.json().data.trial_expires_at).getTime();
    expect(Math.round((expires - Date.now()) / 86_400_000)).toBe(14);
  });

  it('refuses flag rules on attributes the evaluator does not know', async () => {
    const admin = await createUser(t.app, { role: 'admin' });
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/flags',
      headers: admin.headers,
      payload: {
        key: 'by_country',
        enabled: true,
        rollout_percentage: 100,
        rules: { attributes: [{ attribute: 'country', op: 'in', values: ['GB'] }] },
      },
    });
    expect(res.statusCode).toBe(400);
  });
});
