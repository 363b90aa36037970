import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { refreshTokens, sessions, users } from '../../src/modules/identity/identity.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const sidOf = (accessToken: string): string =>
  JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8')).sid;

interface Tokens {
  access_token: string;
  refresh_token: string;
}

async function login(
  app: FastifyInstance,
  user: TestUser,
  options: { userAgent?: string; remoteAddress?: string } = {},
): Promise<Tokens> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: user.email, password: user.password },
    headers: options.userAgent ? { 'user-agent': options.userAgent } : {},
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
  });
  expect(response.statusCode).toBe(200);
  return response.json().data;
}

function refresh(app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } });
}

function getMe(app: FastifyInstance, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url: '/api/v1/me', headers });
}

async function sessionRow(t: TestApp, id: string) {
  const [row] = await t.app.platform.db.select().from(sessions).where(eq(sessions.id, id));
  return row;
}

async function sessionRows(t: TestApp, userId: string) {
  return t.app.platform.db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(asc(sessions.id));
}

async function auditRows(t: TestApp, action: string, targetId: string) {
  return t.app.platform.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)))
    .orderBy(asc(auditLog.seq));
}

describe('POST /api/v1/auth/refresh', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  it('rotates: a new refresh token in the same session, the old one marked rotated', async () => {
    const user = await createUser(t.app);
    const sid = sidOf(user.accessToken);
    clock.advance(60_000);

    const response = await refresh(t.app, user.refreshToken);
    expect(response.statusCode).toBe(200);
    const tokens = response.json().data;
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(tokens.refresh_token).not.toBe(user.refreshToken);
    expect(sidOf(tokens.access_token)).toBe(sid);
    expect((await getMe(t.app, bearer(tokens.access_token))).statusCode).toBe(200);

    const family = await t.app.platform.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.sessionId, sid))
      .orderBy(asc(refreshTokens.id));
    expect(family.map((row) => row.tokenHash)).toEqual([sha256(user.refreshToken), sha256(tokens.refresh_token)]);
    expect(family[0]?.rotatedAt?.getTime()).toBe(clock.now().getTime());
    expect(family[1]?.rotatedAt).toBeNull();
    expect((await sessionRow(t, sid))?.lastUsedAt.getTime()).toBe(clock.now().getTime());
  });

  it('treats a rotated token presented after the grace as stolen: 401 REFRESH_TOKEN_REUSED and the session ends', async () => {
    const user = await createUser(t.app);
    const sid = sidOf(user.accessToken);
    const otherSession = await login(t.app, user);

    const rotated = await refresh(t.app, user.refreshToken);
    expect(rotated.statusCode).toBe(200);
    const successor: Tokens = rotated.json().data;

    clock.advance(11_000);
    const reused = await refresh(t.app, user.refreshToken);
    expect(reused.statusCode).toBe(401);
    expect(reused.json().code).toBe('REFRESH_TOKEN_REUSED');

    // The whole family dies at once: the successor and both access tokens of that session.
    const successorRefresh = await refresh(t.app, successor.refresh_token);
    expect(successorRefresh.statusCode).toBe(401);
    expect(successorRefresh.json().code).toBe('REFRESH_TOKEN_INVALID');
    for (const accessToken of [user.accessToken, successor.access_token]) {
      const me = await getMe(t.app, bearer(accessToken));
      expect(me.statusCode).toBe(401);
      expect(me.json().code).toBe('SESSION_REVOKED');
    }
    expect(await sessionRow(t, sid)).toMatchObject({ revokedReason: 'refresh_token_reuse' });

    const audit = await auditRows(t, 'auth.refresh_reuse', sid);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorId: user.id, targetType: 'session' });
    expect(audit[0]?.details).toMatchObject({ severity: 'security', family_revoked: true });

    // Another device of the same account is a different family and keeps working.
    expect((await getMe(t.app, bearer(otherSession.access_token))).statusCode).toBe(200);
    expect((await refresh(t.app, otherSession.refresh_token)).statusCode).toBe(200);
  });

  it('within the 10 s grace, answers the same successor (two tabs) and both succeed', async () => {
    const user = await createUser(t.app);
    const sid = sidOf(user.accessToken);

    const firstTab = await refresh(t.app, user.refreshToken);
    expect(firstTab.statusCode).toBe(200);
    clock.advance(5_000);
    const secondTab = await refresh(t.app, user.refreshToken);
    expect(secondTab.statusCode).toBe(200);

    const first: Tokens = firstTab.json().data;
    const second: Tokens = secondTab.json().data;
    expect(second.refresh_token).toBe(first.refresh_token);
    expect((await getMe(t.app, bearer(first.access_token))).statusCode).toBe(200);
    expect((await getMe(t.app, bearer(second.access_token))).statusCode).toBe(200);

    // No new token was minted for the second tab, and nothing was revoked.
    const family = await t.app.platform.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, sid));
    expect(family).toHaveLength(2);
    expect((await sessionRow(t, sid))?.revokedAt).toBeNull();
    expect(await auditRows(t, 'auth.refresh_reuse', sid)).toHaveLength(0);

    // The shared successor carries on rotating normally.
    const next = await refresh(t.app, first.refresh_token);
    expect(next.statusCode).toBe(200);
    expect(next.json().data.refresh_token).not.toBe(first.refresh_token);
  });

  it('lets two tabs refreshing at the same moment both succeed with the same successor', async () => {
    const user = await createUser(t.app);
    const sid = sidOf(user.accessToken);
    const [a, b] = await Promise.all([refresh(t.app, user.refreshToken), refresh(t.app, user.refreshToken)]);
    expect([a?.statusCode, b?.statusCode]).toEqual([200, 200]);
    expect(a?.json().data.refresh_token).toBe(b?.json().data.refresh_token);
    expect((await sessionRow(t, sid))?.revokedAt).toBeNull();
  });

  it('answers 401 REFRESH_TOKEN_INVALID for an unknown token and 400 for a malformed body', async () => {
    const unknown = await refresh(t.app, randomBytes(32).toString('base64url'));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().code).toBe('REFRESH_TOKEN_INVALID');

    // The access token is not a refresh token.
    const user = await createUser(t.app);
    const wrongKind = await refresh(t.app, user.accessToken.slice(0, 200));
    expect(wrongKind.statusCode).toBe(401);

    for (const payload of [{}, { refresh_token: '' }, { refresh_token: user.refreshToken, session_id: 'x' }]) {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().code).toBe('VALIDATION_ERROR');
    }
  });

  it('never extends a session past its absolute 30-day expiry', async () => {
    const user = await createUser(t.app);
    let current = user.refreshToken;
    // Rotating keeps the session alive only until its absolute expiry.
    for (const days of [10, 10, 9]) {
      clock.advance(days * 86_400_000);
      const response = await refresh(t.app, current);
      expect(response.statusCode).toBe(200);
      current = response.json().data.refresh_token;
    }
    clock.advance(2 * 86_400_000);
    const expired = await refresh(t.app, current);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('REFRESH_TOKEN_INVALID');
  });
});

describe('sessions: logout, logout-all, list and revoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it.each([
    ['POST', '/api/v1/auth/logout'],
    ['POST', '/api/v1/auth/logout-all'],
    ['GET', '/api/v1/auth/sessions'],
    ['DELETE', `/api/v1/auth/sessions/${randomUUID()}`],
  ] as const)('%s %s answers 401 without a token', async (method, url) => {
    const response = await t.app.inject({ method, url });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('UNAUTHORIZED');
  });

  it('logout ends this session at once and no other', async () => {
    const user = await createUser(t.app);
    const other = await login(t.app, user);
    const sid = sidOf(user.accessToken);

    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers });
    expect(response.statusCode).toBe(200);

    const me = await getMe(t.app, user.headers);
    expect(me.statusCode).toBe(401);
    expect(me.json().code).toBe('SESSION_REVOKED');
    expect((await refresh(t.app, user.refreshToken)).statusCode).toBe(401);
    expect(await sessionRow(t, sid)).toMatchObject({ revokedReason: 'logout' });
    expect(await auditRows(t, 'auth.logout', sid)).toHaveLength(1);

    expect((await getMe(t.app, bearer(other.access_token))).statusCode).toBe(200);
    expect((await sessionRow(t, sidOf(other.access_token)))?.revokedAt).toBeNull();
  });

  it('logout-all ends every session of the account and no one else’s', async () => {
    const user = await createUser(t.app);
    const second = await login(t.app, user);
    const bystander = await createUser(t.app);

    const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: user.headers });
    expect(response.statusCode).toBe(200);
    // Signup, createUser's login and the second login.
    expect(response.json().data).toEqual({ sessions_ended: 3 });

    for (const accessToken of [user.accessToken, second.access_token]) {
      const me = await getMe(t.app, bearer(accessToken));
      expect(me.statusCode).toBe(401);
      expect(me.json().code).toBe('SESSION_REVOKED');
    }
    expect((await refresh(t.app, second.refresh_token)).statusCode).toBe(401);
    const rows = await sessionRows(t, user.id);
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.revokedReason === 'logout_all')).toBe(true);

    expect((await getMe(t.app, bystander.headers)).statusCode).toBe(200);
    expect((await sessionRows(t, bystander.id)).every((row) => row.revokedAt === null)).toBe(true);
  });

  it('lists the active sessions with device, IP, created, last used and the current flag', async () => {
    const user = await createUser(t.app);
    const phone = await login(t.app, user, {
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)',
      remoteAddress: '198.51.100.7',
    });
    const laptop = await login(t.app, user, {
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)',
      remoteAddress: '203.0.113.9',
    });
    await createUser(t.app);
    // An ended session is no longer listed.
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers });

    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: bearer(phone.access_token),
    });
    expect(response.statusCode).toBe(200);
    const listed = response.json().data as Array<Record<string, unknown>>;
    // The signup session, the phone and the laptop.
    expect(listed).toHaveLength(3);
    const byId = new Map(listed.map((entry) => [entry.id, entry]));
    expect(byId.has(sidOf(user.accessToken))).toBe(false);
    expect(byId.get(sidOf(phone.access_token))).toMatchObject({
      device: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)',
      ip: '198.51.100.7',
      current: true,
    });
    expect(byId.get(sidOf(laptop.access_token))).toMatchObject({
      device: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)',
      ip: '203.0.113.9',
      current: false,
    });
    for (const entry of listed) {
      expect(new Date(entry.created_at as string).toISOString()).toBe(entry.created_at);
      expect(new Date(entry.last_used_at as string).toISOString()).toBe(entry.last_used_at);
      expect(entry.current).toBe(entry.id === sidOf(phone.access_token));
    }
    // Matches the database.
    const row = await sessionRow(t, sidOf(laptop.access_token));
    expect(byId.get(row?.id)).toMatchObject({
      created_at: row?.createdAt.toISOString(),
      last_used_at: row?.lastUsedAt.toISOString(),
    });
  });

  it('DELETE /auth/sessions/:id ends one of your own sessions', async () => {
    const user = await createUser(t.app);
    const other = await login(t.app, user);
    const otherSid = sidOf(other.access_token);

    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${otherSid}`,
      headers: user.headers,
    });
    expect(response.statusCode).toBe(200);

    const me = await getMe(t.app, bearer(other.access_token));
    expect(me.statusCode).toBe(401);
    expect(me.json().code).toBe('SESSION_REVOKED');
    expect((await refresh(t.app, other.refresh_token)).statusCode).toBe(401);
    expect(await sessionRow(t, otherSid)).toMatchObject({ revokedReason: 'revoked_by_user' });
    expect(await auditRows(t, 'auth.session_revoked', otherSid)).toHaveLength(1);
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);

    // Already ended: nothing left to end.
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${otherSid}`,
      headers: user.headers,
    });
    expect(again.statusCode).toBe(404);
  });

  it('answers 404 for another user’s session, which keeps working', async () => {
    const attacker = await createUser(t.app);
    const victim = await createUser(t.app);
    const victimSid = sidOf(victim.accessToken);

    const response = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${victimSid}`,
      headers: attacker.headers,
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');

    expect((await getMe(t.app, victim.headers)).statusCode).toBe(200);
    expect((await sessionRow(t, victimSid))?.revokedAt).toBeNull();
    expect(await auditRows(t, 'auth.session_revoked', victimSid)).toHaveLength(0);

    // Nor can the attacker see it.
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: attacker.headers });
    expect(list.json().data.map((entry: { id: string }) => entry.id)).not.toContain(victimSid);
  });

  it('answers 404 for an unknown session id and 400 for one that is not a uuid', async () => {
    const user = await createUser(t.app);
    const unknown = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${randomUUID()}`,
      headers: user.headers,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('NOT_FOUND');
    const malformed = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/auth/sessions/not-a-uuid',
      headers: user.headers,
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('VALIDATION_ERROR');
    expect((await sessionRows(t, user.id)).every((row) => row.revokedAt === null)).toBe(true);
  });
});

describe('admin deactivation', () => {
  const clock = createTestClock();
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const patchUser = (headers: Record<string, string>, id: string, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'PATCH', url: `/api/v1/admin/users/${id}`, headers, payload });

  it('ends the user’s sessions at once and refuses their sign-in with 403 ACCOUNT_DISABLED', async () => {
    const user = await createUser(t.app);
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);

    const response = await patchUser(admin.headers, user.id, { is_active: false });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({ id: user.id, is_active: false });

    expect((await getMe(t.app, user.headers)).statusCode).toBe(401);
    expect((await refresh(t.app, user.refreshToken)).statusCode).toBe(401);
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(signIn.statusCode).toBe(403);
    expect(signIn.json().code).toBe('ACCOUNT_DISABLED');

    const [row] = await t.app.platform.db.select().from(users).where(eq(users.id, user.id));
    expect(row?.isActive).toBe(false);
    const rows = await sessionRows(t, user.id);
    expect(rows.every((session) => session.revokedReason === 'deactivated')).toBe(true);
    const audit = await auditRows(t, 'admin.user_updated', user.id);
    expect(audit.at(-1)).toMatchObject({ actorId: admin.id });
    expect(audit.at(-1)?.details).toEqual({ changes: { is_active: { from: true, to: false } } });

    // Reactivated, the account can sign in again.
    expect((await patchUser(admin.headers, user.id, { is_active: true })).statusCode).toBe(200);
    expect((await login(t.app, user)).access_token).toEqual(expect.any(String));
  });

  // The cut-off is kept to the millisecond (the token's iat_ms claim), so even a token issued
  // earlier in the same second as a role change loses its old role at once.
  it('refuses a demoted admin’s token issued earlier in the same second', async () => {
    // Start on a whole second so the sign-in and the demotion 400 ms later share it.
    clock.set(new Date(Math.ceil((clock.now().getTime() + 1) / 1000) * 1000));
    const demoter = await createUser(t.app, { role: 'admin' });
    const target = await createUser(t.app, { role: 'admin' });
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: target.headers })).statusCode,
    ).toBe(200);

    clock.advance(400);
    const demote = await patchUser(demoter.headers, target.id, { role: 'user' });
    expect(demote.statusCode).toBe(200);
    expect(demote.json().data.role).toBe('user');

    const after = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: target.headers });
    expect(after.statusCode).toBe(401);
  });

  it('refuses a non-admin with 403 and leaves the target active', async () => {
    const user = await createUser(t.app);
    const target = await createUser(t.app);
    const response = await patchUser(user.headers, target.id, { is_active: false });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('FORBIDDEN');
    const [row] = await t.app.platform.db.select().from(users).where(eq(users.id, target.id));
    expect(row?.isActive).toBe(true);
    expect((await getMe(t.app, target.headers)).statusCode).toBe(200);
  });
});
