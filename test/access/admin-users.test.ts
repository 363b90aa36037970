import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productEvents } from '../../src/modules/analytics/analytics.tables.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { sessions, users } from '../../src/modules/identity/identity.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const USERS = '/api/v1/admin/users';

/**
 * A change refuses tokens issued before it, to the millisecond; a token issued in the very
 * millisecond of the change stays valid. A short pause makes the tokens a test holds strictly older.
 */
const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());

interface PublicUser {
  id: string;
  email: string;
  role: string;
  plan: string;
  is_active: boolean;
}

describe('user management (/api/v1/admin/users)', () => {
  let t: TestApp;
  let admin: TestUser;
  let user: TestUser;
  let provider: TestUser;
  // Accounts under one email prefix, in known states.
  const run = randomBytes(3).toString('hex');
  const prefix = `crew.${run}.`;
  const crew = {} as Record<'alice' | 'bob' | 'carol' | 'dave' | 'erin', TestUser>;

  beforeAll(async () => {
    t = await buildTestApp();
    const names = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
    const [a, u, p, ...people] = await Promise.all([
      createUser(t.app, { role: 'admin' }),
      createUser(t.app),
      createUser(t.app, { role: 'provider' }),
      ...names.map((name) => createUser(t.app, { email: `${prefix}${name}@example.test` })),
      // Look-alikes: "_" in a prefix is a character, not a wildcard.
      createUser(t.app, { email: `under_score.${run}@example.test` }),
      createUser(t.app, { email: `underXscore.${run}@example.test` }),
    ]);
    admin = a as TestUser;
    user = u as TestUser;
    provider = p as TestUser;
    names.forEach((name, i) => {
      crew[name] = people[i] as TestUser;
    });
    const service = t.app.platform.services.identity;
    const setup = { id: admin.id, role: 'admin' as const, sessionId: 'setup', ip: null, correlationId: null };
    await service.adminUpdateUser(setup, crew.bob.id, { role: 'provider' });
    await service.adminUpdateUser(setup, crew.carol.id, { plan: 'premium' });
    await service.adminUpdateUser(setup, crew.dave.id, { is_active: false });
  });
  afterAll(() => t.close());

  async function list(query: string, as: TestUser = admin) {
    const res = await t.app.inject({ method: 'GET', url: `${USERS}?${query}`, headers: as.headers });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    return { users: body.data as PublicUser[], next: body.meta.next_cursor as string | null };
  }
  const emailsOf = (found: PublicUser[]) => found.map((u) => u.email.split('@')[0]).sort();
  const userRow = async (id: string) => (await t.app.platform.db.select().from(users).where(eq(users.id, id)))[0];
  const updates = (targetId: string) =>
    t.app.platform.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.user_updated'), eq(auditLog.targetId, targetId)));
  const patch = (id: string, payload: Record<string, unknown>, as: TestUser = admin) =>
    t.app.inject({ method: 'PATCH', url: `${USERS}/${id}`, headers: as.headers, payload });

  describe('GET /admin/users', () => {
    it('filters by email prefix, case-insensitively, and treats "_" literally', async () => {
      const found = await list(`email=${encodeURIComponent(prefix.toUpperCase())}`);
      expect(emailsOf(found.users)).toEqual(['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => `${prefix}${n}`));
      expect(found.next).toBeNull();
      expect(emailsOf((await list(`email=${prefix}a`)).users)).toEqual([`${prefix}alice`]);
      expect(emailsOf((await list('email=under_')).users)).toEqual([`under_score.${run}`]);
      expect((await list('email=nobody-has-this-prefix')).users).toEqual([]);
      // The full user, with its public fields only.
      const [alice] = (await list(`email=${prefix}alice`)).users;
      expect(Object.keys(alice ?? {}).sort()).toEqual(
        [
          'created_at',
          'email',
          'id',
          'is_active',
          'locale',
          'name',
          'phone',
          'plan',
          'role',
          'time_zone',
          'trial_expires_at',
        ].sort(),
      );
    });

    it('filters by role, plan and active state, alone and together', async () => {
      const q = `email=${prefix}`;
      expect(emailsOf((await list(`${q}&role=provider`)).users)).toEqual([`${prefix}bob`]);
      expect(emailsOf((await list(`${q}&plan=premium`)).users)).toEqual([`${prefix}carol`]);
      expect(emailsOf((await list(`${q}&active=false`)).users)).toEqual([`${prefix}dave`]);
      expect(emailsOf((await list(`${q}&active=true`)).users)).toEqual(
        ['alice', 'bob', 'carol', 'erin'].map((n) => `${prefix}${n}`),
      );
      expect(emailsOf((await list(`${q}&role=user&plan=free&active=true`)).users)).toEqual(
        ['alice', 'erin'].map((n) => `${prefix}${n}`),
      );
      expect((await list(`${q}&role=admin`)).users).toEqual([]);
      const admins = await list('role=admin');
      expect(admins.users.map((u) => u.id)).toEqual([admin.id]);
    });

    it('walks every user with limit=2 and the cursor, without duplicates, ending with next_cursor null', async () => {
      const all = await t.app.platform.db.select({ id: users.id }).from(users);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        pages += 1;
        expect(page.users.length).toBeLessThanOrEqual(2);
        expect(page.users.length).toBeGreaterThan(0);
        seen.push(...page.users.map((u) => u.id));
        cursor = page.next;
        if (cursor) expect(cursor).toBe(page.users.at(-1)?.id);
      } while (cursor && pages < 50);
      expect(cursor).toBeNull();
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual(all.map((row) => row.id).sort());
      expect(pages).toBe(Math.ceil(all.length / 2));

      // With a filter too: 5 crew members in pages of 2, 2 and 1.
      const first = await list(`email=${prefix}&limit=2`);
      const second = await list(`email=${prefix}&limit=2&cursor=${first.next}`);
      const third = await list(`email=${prefix}&limit=2&cursor=${second.next}`);
      expect([first, second, third].map((page) => page.users.length)).toEqual([2, 2, 1]);
      expect(third.next).toBeNull();
      expect(emailsOf([...first.users, ...second.users, ...third.users])).toEqual(
        ['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => `${prefix}${n}`),
      );
    });

    it('answers 400 for invalid filters and pagination', async () => {
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=two',
        'role=superuser',
        'plan=gold',
        'active=maybe',
        'cursor=not-a-uuid',
        'email=',
        'sort=email',
      ]) {
        const res = await t.app.inject({ method: 'GET', url: `${USERS}?${query}`, headers: admin.headers });
        expect(res.statusCode, query).toBe(400);
        expect(res.json().code, query).toBe('VALIDATION_ERROR');
      }
    });
  });

  describe('PATCH /admin/users/:id', () => {
    it("changes the role: DB row and audit, the user's old token is refused, a refreshed one carries the new role", async () => {
      const target = await createUser(t.app);
      expect(claimsOf(target.accessToken).role).toBe('user');
      await pause();

      const res = await patch(target.id, { role: 'provider' });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().data).toMatchObject({ id: target.id, role: 'provider', plan: 'free', is_active: true });
      expect(await userRow(target.id)).toMatchObject({ role: 'provider', plan: 'free', isActive: true });
      const audit = await updates(target.id);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        actorId: admin.id,
        targetType: 'user',
        targetId: target.id,
        details: { changes: { role: { from: 'user', to: 'provider' } } },
      });

      const old = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: target.headers });
      expect(old.statusCode).toBe(401);
      expect(old.json().code).toBe('TOKEN_INVALID');

      const refreshed = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refresh_token: target.refreshToken },
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      const token = refreshed.json().data.access_token as string;
      expect(claimsOf(token).role).toBe('provider');
      const entitlements = await t.app.inject({
        method: 'GET',
        url: '/api/v1/me/entitlements',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(entitlements.statusCode).toBe(200);
      expect(entitlements.json().data).toMatchObject({ role: 'provider' });
      expect(entitlements.json().data.permissions).toContain('catalog:manage_own');
    });

    it('demoting an admin ends their admin access at once: old token 401, refreshed token 403', async () => {
      const target = await createUser(t.app, { role: 'admin' });
      expect((await t.app.inject({ method: 'GET', url: USERS, headers: target.headers })).statusCode).toBe(200);
      await pause();
      expect((await patch(target.id, { role: 'user' })).statusCode).toBe(200);
      expect(await userRow(target.id)).toMatchObject({ role: 'user' });

      const old = await t.app.inject({ method: 'GET', url: USERS, headers: target.headers });
      expect(old.statusCode).toBe(401);
      expect(old.json().code).toBe('TOKEN_INVALID');
      const refreshed = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refresh_token: target.refreshToken },
      });
      const token = refreshed.json().data.access_token as string;
      const denied = await t.app.inject({ method: 'GET', url: USERS, headers: { authorization: `Bearer ${token}` } });
      expect(denied.statusCode).toBe(403);
      expect(denied.json().code).toBe('FORBIDDEN');
    });

    it('refuses an admin removing their own admin role or deactivating themselves (409), changing nothing', async () => {
      const self = await createUser(t.app, { role: 'admin' });
      const own = (body: object) =>
        t.app.inject({ method: 'PATCH', url: `${USERS}/${self.id}`, headers: self.headers, payload: body });
      for (const body of [{ role: 'user' }, { is_active: false }, { role: 'provider', plan: 'premium' }]) {
        const res = await own(body);
        expect(res.statusCode, JSON.stringify(body)).toBe(409);
        expect(res.json()).toMatchObject({ code: 'INVALID_STATE' });
      }
      expect(await userRow(self.id)).toMatchObject({ role: 'admin', plan: 'free', isActive: true });
      // Their own plan is theirs to change.
      expect((await own({ plan: 'premium' })).statusCode).toBe(200);
    });

    it('changes the plan: DB row, audit from/to, a plan_changed product event, new entitlements', async () => {
      const target = await createUser(t.app);
      const res = await patch(target.id, { plan: 'premium' });
      expect(res.statusCode).toBe(200);
      expect(res.json().data.plan).toBe('premium');
      expect(await userRow(target.id)).toMatchObject({ plan: 'premium', role: 'user' });
      const [audit] = await updates(target.id);
      expect(audit?.details).toEqual({ changes: { plan: { from: 'free', to: 'premium' } } });
      const events = await t.app.platform.db
        .select()
        .from(productEvents)
        .where(
          and(eq(productEvents.subject, await subjectOf(t.app, target.id)), eq(productEvents.name, 'plan_changed')),
        );
      expect(events.map((event) => event.properties)).toEqual([{ from: 'free', to: 'premium', by: 'admin' }]);
      await pause();
      const login = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: target.email, password: target.password },
      });
      const headers = { authorization: `Bearer ${login.json().data.access_token}` };
      const entitlements = await t.app.inject({ method: 'GET', url: '/api/v1/me/entitlements', headers });
      expect(entitlements.json().data).toMatchObject({ plan: 'premium', trial_available: false });
    });

    it('deactivates: sessions end at once, refresh and login are refused; reactivating lets them sign in', async () => {
      const target = await createUser(t.app);
      const res = await patch(target.id, { is_active: false });
      expect(res.statusCode).toBe(200);
      expect(res.json().data.is_active).toBe(false);
      expect(await userRow(target.id)).toMatchObject({ isActive: false });
      const [audit] = await updates(target.id);
      expect(audit?.details).toEqual({ changes: { is_active: { from: true, to: false } } });
      const open = await t.app.platform.db
        .select()
        .from(sessions)
        .where(and(eq(sessions.userId, target.id), isNull(sessions.revokedAt)));
      expect(open).toEqual([]);

      // No wait for the next second: the session itself is revoked.
      const old = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: target.headers });
      expect(old.statusCode).toBe(401);
      const refreshed = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refresh_token: target.refreshToken },
      });
      expect(refreshed.statusCode).toBe(401);
      expect(refreshed.json().code).toBe('REFRESH_TOKEN_INVALID');
      const credentials = { email: target.email, password: target.password };
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: credentials });
      expect(login.statusCode).toBe(403);
      expect(login.json().code).toBe('ACCOUNT_DISABLED');

      expect((await patch(target.id, { is_active: true })).statusCode).toBe(200);
      const again = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: credentials });
      expect(again.statusCode).toBe(200);
      expect((await updates(target.id)).map((row) => row.details)).toEqual([
        { changes: { is_active: { from: true, to: false } } },
        { changes: { is_active: { from: false, to: true } } },
      ]);
    });

    it('writes no audit row and keeps tokens valid when nothing changes', async () => {
      const target = await createUser(t.app);
      await pause();
      const res = await patch(target.id, { role: 'user', plan: 'free', is_active: true });
      expect(res.statusCode).toBe(200);
      expect(await updates(target.id)).toEqual([]);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: target.headers })).statusCode).toBe(200);
    });

    it('answers 404 for an unknown user and 400 for a bad id or body, changing nothing', async () => {
      const unknown = await patch(randomUUID(), { role: 'admin' });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe('NOT_FOUND');
      const unknownGet = await t.app.inject({ method: 'GET', url: `${USERS}/${randomUUID()}`, headers: admin.headers });
      expect(unknownGet.statusCode).toBe(404);
      expect((await patch('not-a-uuid', { role: 'admin' })).statusCode).toBe(400);
      for (const payload of [{}, { role: 'superadmin' }, { plan: 'gold' }, { is_active: 'no' }, { email: 'x@y.z' }]) {
        const res = await patch(crew.erin.id, payload);
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json().code).toBe('VALIDATION_ERROR');
      }
      expect(await userRow(crew.erin.id)).toMatchObject({ role: 'user', plan: 'free', isActive: true });
      expect(await updates(crew.erin.id)).toEqual([]);
    });
  });

  it('refuses users and providers (403) and anonymous callers (401), and the target row is unchanged', async () => {
    const target = crew.alice;
    const before = await userRow(target.id);
    const callers: [string, Record<string, string>, number][] = [
      ['user', user.headers, 403],
      ['provider', provider.headers, 403],
      ['the target itself', target.headers, 403],
      ['anonymous', {}, 401],
    ];
    for (const [who, headers, status] of callers) {
      const attempts = [
        t.app.inject({ method: 'GET', url: USERS, headers }),
        t.app.inject({ method: 'GET', url: `${USERS}/${target.id}`, headers }),
        t.app.inject({
          method: 'PATCH',
          url: `${USERS}/${target.id}`,
          headers,
          payload: { role: 'admin', plan: 'premium', is_active: false },
        }),
      ];
      for (const res of await Promise.all(attempts)) {
        expect(res.statusCode, `${who} ${res.body}`).toBe(status);
      }
    }
    expect(await userRow(target.id)).toEqual(before);
    expect(await updates(target.id)).toEqual([]);
  });
});

describe('role change in the same second as the token (test clock)', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  // Regression: the cut-off used to have whole-second precision (JWT iat), so a token issued
  // earlier in the same second as a demotion kept the old role for its 15 minutes.
  it('refuses a token issued earlier in the same second as a demotion', async () => {
    const [admin, target] = await Promise.all([
      createUser(t.app, { role: 'admin' }),
      createUser(t.app, { role: 'admin' }),
    ]);
    // Token issued at hh:mm:00.000, demotion at hh:mm:00.400.
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: target.email, password: target.password },
    });
    const oldToken = login.json().data.access_token as string;
    clock.advance(400);
    const demoted = await t.app.inject({
      method: 'PATCH',
      url: `${USERS}/${target.id}`,
      headers: admin.headers,
      payload: { role: 'user' },
    });
    expect(demoted.statusCode).toBe(200);
    clock.advance(100);
    expect(claimsOf(oldToken).iat).toBe(Math.floor(clock.now().getTime() / 1000));
    const res = await t.app.inject({ method: 'GET', url: USERS, headers: { authorization: `Bearer ${oldToken}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('TOKEN_INVALID');
    // A token issued after the change, still in that second, is accepted and carries the new role.
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: target.email, password: target.password },
    });
    const headers = { authorization: `Bearer ${again.json().data.access_token}` };
    expect((await t.app.inject({ method: 'GET', url: USERS, headers })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers })).json().data.role).toBe('user');
  });
});
