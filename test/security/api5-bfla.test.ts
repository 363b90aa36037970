/**
 * OWASP API5:2023 Broken Function Level Authorization. test/access/permissions.test.ts walks the
 * routes' own access rules (`app.guardedRoutes`) and checks each role gets what its rule says; this
 * file checks the rules themselves against what the paths promise, so a route declared with a
 * too-weak rule cannot pass: every operation under /api/v1/admin (from the OpenAPI document, HEAD
 * included) answers 403 FORBIDDEN to a user and a provider and 401 to anonymous callers, and its
 * rule names a permission the table in src/shared/permissions.ts gives admins only; every
 * /api/v1/provider operation refuses users (403) and its permission is the provider's own;
 * premium operations refuse the free plan (403 PREMIUM_REQUIRED); and an admin who is demoted
 * loses the admin functions at once, not when their token expires.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFlags } from '../../src/modules/access/access.tables.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import type { AccessRule } from '../../src/shared/access-rules.js';
import { PERMISSIONS } from '../../src/shared/permissions.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

let t: TestApp;
let user: TestUser;
let provider: TestUser;
let admin: TestUser;
let premium: TestUser;
let operations: { method: Method; path: string; pattern: string; rule: AccessRule | undefined }[];

/** A concrete URL for a documented path: flag keys get a flag-shaped key, other parameters a uuid. */
const concrete = (path: string) =>
  path.replace(/\{(\w+)\}/g, (_match, name: string) =>
    name === 'key' ? 'walk_flag' : name === 'purpose' ? 'analytics' : randomUUID(),
  );

const call = (method: Method, path: string, who?: TestUser) =>
  t.app.inject({
    method,
    url: concrete(path),
    headers: who?.headers ?? {},
    ...(['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {}),
  });

beforeAll(async () => {
  t = await buildTestApp();
  [user, provider, admin, premium] = await Promise.all([
    createUser(t.app),
    createUser(t.app, { role: 'provider' }),
    createUser(t.app, { role: 'admin' }),
    createUser(t.app, { plan: 'premium' }),
  ]);
  const rules = new Map(t.app.guardedRoutes.map((route) => [`${route.method} ${route.url}`, route.rule]));
  const spec = t.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.keys(methods).flatMap((lower) => {
      const method = lower.toUpperCase() as Method;
      const pattern = path.replace(/\{(\w+)\}/g, ':$1');
      const rule = rules.get(`${method === 'HEAD' ? 'GET' : method} ${pattern}`);
      const entry = { method, path, pattern, rule };
      // Every GET is also served for HEAD: the guard must hold there too.
      return method === 'GET' ? [entry, { ...entry, method: 'HEAD' as const }] : [entry];
    }),
  );
});

afterAll(async () => {
  await t?.close();
});

const adminOnly = (permission: string | undefined) =>
  permission !== undefined && JSON.stringify(PERMISSIONS[permission as keyof typeof PERMISSIONS]) === '["admin"]';

describe('/api/v1/admin: admins only, by path', () => {
  it('every admin operation has a rule whose permission the table gives admins only', () => {
    const admins = operations.filter((operation) => operation.path.startsWith('/api/v1/admin/'));
    expect(admins.length).toBeGreaterThan(40);
    const weak = admins
      .filter((operation) => !(adminOnly(operation.rule?.permission) || operation.rule?.roles?.join() === 'admin'))
      .map((operation) => `${operation.method} ${operation.pattern} ${JSON.stringify(operation.rule ?? null)}`);
    expect(weak).toEqual([]);
  });

  it('every admin operation, HEAD included, answers 403 FORBIDDEN to a user and a provider, and 401 to nobody', async () => {
    const admins = operations.filter((operation) => operation.path.startsWith('/api/v1/admin/'));
    for (const { method, path } of admins) {
      for (const who of [user, provider]) {
        const response = await call(method, path, who);
        const where = `${who.role} ${method} ${path}: ${response.body.slice(0, 120)}`;
        expect.soft(response.statusCode, where).toBe(403);
        if (method !== 'HEAD') expect.soft(response.json().code, where).toBe('FORBIDDEN');
      }
      const anonymous = await call(method, path);
      expect.soft(anonymous.statusCode, `anonymous ${method} ${path}`).toBe(401);
    }
    // Nothing was made by the refused writes (flags are the one thing an empty body could create).
    expect(await t.app.platform.db.select().from(featureFlags)).toEqual([]);
  });

  it('the admin gets past the guard on each of them (the control for the refusals above)', async () => {
    const admins = operations.filter(
      (operation) => operation.path.startsWith('/api/v1/admin/') && operation.method !== 'HEAD',
    );
    for (const { method, path } of admins) {
      const response = await call(method, path, admin);
      expect
        .soft([401, 403], `admin ${method} ${path}: ${response.body.slice(0, 120)}`)
        .not.toContain(response.statusCode);
    }
  });
});

describe('/api/v1/provider: providers only, by path', () => {
  it("every provider operation's permission is one the table gives providers (and not users)", () => {
    const own = operations.filter((operation) => operation.path.startsWith('/api/v1/provider/'));
    expect(own.length).toBeGreaterThan(10);
    for (const { method, pattern, rule } of own) {
      const roles = rule?.permission ? (PERMISSIONS[rule.permission] as readonly string[]) : rule?.roles;
      expect(roles, `${method} ${pattern}`).toContain('provider');
      expect(roles, `${method} ${pattern}`).not.toContain('user');
    }
  });

  it('refuses users (403 FORBIDDEN) and anonymous callers (401) on every provider operation', async () => {
    const own = operations.filter((operation) => operation.path.startsWith('/api/v1/provider/'));
    for (const { method, path } of own) {
      const response = await call(method, path, user);
      expect.soft(response.statusCode, `user ${method} ${path}`).toBe(403);
      if (method !== 'HEAD') expect.soft(response.json().code).toBe('FORBIDDEN');
      expect.soft((await call(method, path)).statusCode, `anonymous ${method} ${path}`).toBe(401);
      const asProvider = await call(method, path, provider);
      expect.soft([401, 403], `provider ${method} ${path}`).not.toContain(asProvider.statusCode);
    }
  });

  it('the provider actions on a booking (confirm, complete, no-show) refuse users by permission', async () => {
    for (const action of ['confirm', 'complete', 'no-show']) {
      const response = await call('POST', `/api/v1/bookings/{id}/${action}`, user);
      expect(response.statusCode, action).toBe(403);
      expect(response.json().code).toBe('FORBIDDEN');
    }
  });
});

describe('premium functions', () => {
  it('refuse the free plan with 403 PREMIUM_REQUIRED and serve a premium member', async () => {
    const gated = operations.filter((operation) => operation.rule?.premium && operation.method !== 'HEAD');
    expect(gated.length).toBeGreaterThan(0);
    for (const { method, path } of gated) {
      const free = await call(method, path, user);
      expect(free.statusCode, `free ${method} ${path}`).toBe(403);
      expect(free.json().code).toBe('PREMIUM_REQUIRED');
      const paid = await call(method, path, premium);
      expect(paid.statusCode, `premium ${method} ${path}: ${paid.body.slice(0, 120)}`).toBe(200);
    }
  });
});

describe('a change of role takes effect at once', () => {
  it("a demoted admin's token stops opening admin routes immediately; signed in again they get 403", async () => {
    const deputy = await createUser(t.app, { role: 'admin' });
    expect((await call('GET', '/api/v1/admin/users', deputy)).statusCode).toBe(200);
    const demote = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${deputy.id}`,
      headers: admin.headers,
      payload: { role: 'user' },
    });
    expect(demote.statusCode, demote.body).toBe(200);

    const stale = await call('GET', '/api/v1/admin/users', deputy);
    expect(stale.statusCode).toBe(401);
    expect(stale.json().code).toBe('TOKEN_INVALID');

    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: deputy.email, password: deputy.password },
    });
    const fresh = { ...deputy, headers: { authorization: `Bearer ${login.json().data.access_token}` } };
    const refused = await call('GET', '/api/v1/admin/users', fresh);
    expect(refused.statusCode).toBe(403);
    const [row] = await t.app.platform.db.select({ role: users.role }).from(users).where(eq(users.id, deputy.id));
    expect(row?.role).toBe('user');
  });

  it('a user cannot promote themselves through the admin route, and their role stays', async () => {
    const response = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      headers: user.headers,
      payload: { role: 'admin' },
    });
    expect(response.statusCode).toBe(403);
    const [row] = await t.app.platform.db.select({ role: users.role }).from(users).where(eq(users.id, user.id));
    expect(row?.role).toBe('user');
  });
});
