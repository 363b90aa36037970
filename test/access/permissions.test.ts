import { randomUUID } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFlags } from '../../src/modules/access/access.tables.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import type { AccessRule } from '../../src/shared/access-rules.js';
import { ROLES, type Role } from '../../src/shared/actor.js';
import { can, PERMISSIONS, type Permission, permissionsOf } from '../../src/shared/permissions.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

// What the product spec's matrix says, written out independently of the table in src/.
const EVERYONE: readonly Role[] = ['user', 'provider', 'admin'];
const SPEC: Record<string, readonly Role[]> = {
  'profile:read': EVERYONE,
  'profile:update': EVERYONE,
  'recommendations:read': EVERYONE,
  'content:create': ['admin'],
  'analytics:read': ['admin'],
  'users:manage': ['admin'],
  'system:health': ['admin'],
};
const PROVIDER_OWN = [
  'catalog:manage_own',
  'availability:manage_own',
  'bookings:manage_own',
  'payouts:manage_own',
] as const;

// Anyone may call these: they are how one gets a token in the first place.
const PUBLIC_ROUTES = new Set([
  'POST /api/v1/auth/signup',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'POST /api/v1/auth/password-reset/request',
  'POST /api/v1/auth/password-reset/confirm',
  // What a visitor may read before signing up: the consent notices and free content.
  'GET /api/v1/consent-notices',
  'GET /api/v1/content',
  'GET /api/v1/content/:slug',
  // The marketplace's shop window: categories, search, public provider and service pages, slots, reviews.
  'GET /api/v1/categories',
  'GET /api/v1/services/search',
  'GET /api/v1/services/:id',
  'GET /api/v1/providers/:id',
  'GET /api/v1/providers/:id/slots',
  'GET /api/v1/providers/:id/reviews',
  // Client analytics events: anonymous ones are stored without a subject; a signed-in
  // person's only with that person's analytics consent.
  'POST /api/v1/events',
  // Payment gateways' webhooks: no caller, the gateway's signature (or secret token) is checked.
  'POST /api/v1/webhooks/stripe',
  'POST /api/v1/webhooks/moyasar',
  // Twilio's delivery reports: X-Twilio-Signature is checked.
  'POST /api/v1/webhooks/twilio/status',
  // The public key browsers subscribe to Web Push with.
  'GET /api/v1/push/vapid-public-key',
  // Uploaded images' files, named by the digest of their bytes: served to anyone, for a CDN.
  'GET /api/v1/media/files/:key',
  // Calendar feeds by their secret address (?token=…): calendar apps subscribe without signing in.
  'GET /api/v1/calendar/customer.ics',
  'GET /api/v1/calendar/provider.ics',
  // The WebSocket: it authenticates with its first message, not a header.
  'GET /api/v1/live',
]);

// Statuses that show a request got past the guard (the minimal body may still be refused).
// 415: the upload route, past the guard, refuses the walk's JSON body (it takes multipart/form-data).
const PAST_THE_GUARD = [200, 201, 202, 204, 400, 404, 409, 415];

/** A concrete path for a route pattern: flag keys get a flag-shaped key, other params a uuid. */
function concreteUrl(url: string): string {
  return url.replace(/:key\b/g, 'walk_flag').replace(/:[A-Za-z_]+/g, () => randomUUID());
}

function payloadFor(method: string) {
  return ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
}

/** Whether the table (and the route's roles) let this role through, by the rule alone. */
function allowedByRule(rule: AccessRule, role: Role): boolean {
  if (rule.roles && !rule.roles.includes(role)) return false;
  if (rule.permission && !can(role, rule.permission)) return false;
  return true;
}

describe('permission table', () => {
  it('matches the product spec matrix', () => {
    for (const [permission, roles] of Object.entries(SPEC)) {
      expect(permission in PERMISSIONS, `${permission} exists`).toBe(true);
      for (const role of ROLES) {
        expect(can(role, permission as Permission), `${role} ${permission}`).toBe(roles.includes(role));
      }
    }
    for (const permission of PROVIDER_OWN) {
      expect(can('provider', permission), `provider ${permission}`).toBe(true);
      expect(can('user', permission), `user ${permission}`).toBe(false);
    }
  });

  it('keeps admin-only tools (flags, audit) away from users and providers', () => {
    for (const permission of ['flags:manage', 'audit:read', 'payments:admin'] as const) {
      expect(PERMISSIONS[permission]).toEqual(['admin']);
    }
    expect(permissionsOf('user')).toEqual(['profile:read', 'profile:update', 'recommendations:read']);
    expect(permissionsOf('provider')).toEqual([
      'profile:read',
      'profile:update',
      'recommendations:read',
      ...PROVIDER_OWN,
    ]);
    expect(permissionsOf('admin')).toEqual(expect.arrayContaining(Object.keys(SPEC)));
  });
});

describe('role walk over every guarded route', () => {
  let t: TestApp;
  const callers = {} as Record<Role, TestUser>;

  beforeAll(async () => {
    t = await buildTestApp();
    const [user, provider, admin] = await Promise.all([
      createUser(t.app),
      createUser(t.app, { role: 'provider' }),
      createUser(t.app, { role: 'admin' }),
    ]);
    Object.assign(callers, { user, provider, admin });
  });
  afterAll(() => t.close());

  /** Logout routes end the caller's session: sign in again so the walk can go on. */
  async function keepSignedIn(role: Role) {
    const caller = callers[role];
    const probe = await t.app.inject({ method: 'GET', url: '/api/v1/me/entitlements', headers: caller.headers });
    if (probe.statusCode !== 401) return;
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: caller.email, password: caller.password },
    });
    expect(login.statusCode).toBe(200);
    caller.accessToken = login.json().data.access_token;
    caller.headers = { authorization: `Bearer ${caller.accessToken}` };
  }

  it('records the guarded routes, admin routes included', () => {
    const seen = t.app.guardedRoutes.map((route) => `${route.method} ${route.url}`);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(
      expect.arrayContaining([
        'GET /api/v1/admin/users',
        'PATCH /api/v1/admin/users/:id',
        'GET /api/v1/admin/flags',
        'POST /api/v1/admin/flags',
        'DELETE /api/v1/admin/flags/:key',
        'GET /api/v1/admin/audit',
        'GET /api/v1/me',
        'GET /api/v1/me/entitlements',
        'POST /api/v1/me/trial',
        'POST /api/v1/auth/logout',
      ]),
    );
    expect(new Set(seen).size, 'no route recorded twice').toBe(seen.length);
  });

  it('guards every /api/v1 operation in the API docs except sign-up, sign-in, refresh and reset', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const guarded = new Set(t.app.guardedRoutes.map((route) => `${route.method} ${route.url}`));
    const operations = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((method) => method !== 'head')
        .map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const api = operations.filter((operation) => operation.includes(' /api/v1/'));
    expect(api.length).toBeGreaterThan(PUBLIC_ROUTES.size);
    for (const operation of api) {
      expect(guarded.has(operation) || PUBLIC_ROUTES.has(operation), `${operation} is guarded`).toBe(true);
    }
  });

  it('answers 401 on every guarded route without a token, with a garbage token, or another scheme', async () => {
    const anonymous = [
      { headers: {}, code: 'UNAUTHORIZED' },
      { headers: { authorization: 'Bearer not-a-jwt' }, code: 'TOKEN_INVALID' },
      { headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl' }, code: 'TOKEN_INVALID' },
      { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, code: 'TOKEN_INVALID' },
    ];
    for (const route of t.app.guardedRoutes) {
      const methods = route.method === 'GET' ? ['GET', 'HEAD'] : [route.method];
      for (const method of methods) {
        for (const { headers, code } of anonymous) {
          const res = await t.app.inject({
            method: method as 'GET',
            url: concreteUrl(route.url),
            headers,
            payload: payloadFor(method),
          });
          const where = `${method} ${route.url} with ${JSON.stringify(headers)}`;
          expect.soft(res.statusCode, where).toBe(401);
          if (method !== 'HEAD') expect.soft(res.json().code, where).toBe(code);
        }
      }
    }
  });

  it('lets each role through exactly where the permission table (or the route roles) allow', async () => {
    let denied = 0;
    let allowed = 0;
    for (const route of t.app.guardedRoutes) {
      for (const role of ROLES) {
        await keepSignedIn(role);
        const res = await t.app.inject({
          method: route.method as 'GET',
          url: concreteUrl(route.url),
          headers: callers[role].headers,
          payload: payloadFor(route.method),
        });
        const where = `${role} ${route.method} ${route.url} (${JSON.stringify(route.rule)}) → ${res.statusCode} ${res.body.slice(0, 120)}`;
        if (allowedByRule(route.rule, role)) {
          allowed += 1;
          expect.soft(PAST_THE_GUARD, where).toContain(res.statusCode);
        } else {
          denied += 1;
          expect.soft(res.statusCode, where).toBe(403);
          expect.soft(res.json().code, where).toBe('FORBIDDEN');
        }
        // Auth-only routes are open to every role.
        if (!route.rule.roles && !route.rule.permission) {
          expect.soft(PAST_THE_GUARD, `${where} (auth only)`).toContain(res.statusCode);
        }
      }
    }
    // The walk saw both outcomes: admin-only routes deny users, everyone's routes let them in.
    expect(denied).toBeGreaterThan(0);
    expect(allowed).toBeGreaterThan(denied);
  });

  it('denies users and providers the admin routes also by HEAD', async () => {
    for (const role of ['user', 'provider'] as const) {
      await keepSignedIn(role);
      for (const url of ['/api/v1/admin/users', '/api/v1/admin/flags', '/api/v1/admin/audit']) {
        const res = await t.app.inject({ method: 'HEAD', url, headers: callers[role].headers });
        expect(res.statusCode, `${role} HEAD ${url}`).toBe(403);
      }
    }
  });
  it('checks the database after the walk: roles and active states as they were, no flag created', async () => {
    const rows = await t.app.platform.db
      .select({ id: users.id, role: users.role, isActive: users.isActive })
      .from(users)
      .where(
        inArray(
          users.id,
          ROLES.map((role) => callers[role].id),
        ),
      );
    expect(Object.fromEntries(rows.map((row) => [row.id, [row.role, row.isActive]]))).toEqual(
      Object.fromEntries(ROLES.map((role) => [callers[role].id, [role, true]])),
    );
    expect(await t.app.platform.db.select().from(featureFlags)).toEqual([]);
  });

  it('GET /api/health shows services to an admin token only; users, providers and anonymous callers get the status alone', async () => {
    for (const role of ROLES) await keepSignedIn(role);
    const asAdmin = await t.app.inject({ method: 'GET', url: '/api/health', headers: callers.admin.headers });
    expect(asAdmin.statusCode).toBe(200);
    expect(asAdmin.json()).toMatchObject({
      success: true,
      status: 'healthy',
      services: { database: { status: 'up' }, cache: { status: 'up' } },
    });
    for (const headers of [callers.user.headers, callers.provider.headers, {}]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/health', headers });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true, status: 'healthy' });
    }
  });
});
