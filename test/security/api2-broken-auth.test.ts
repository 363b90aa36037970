/**
 * OWASP API2:2023 Broken Authentication. Access tokens that are missing, expired, forged (another
 * key, `alg: none`, another algorithm, a tampered payload) or from a session that signed out are
 * refused with 401 and the code that says why; refresh tokens rotate, and a rotated one used again
 * ends its session (REFRESH_TOKEN_REUSED, recorded as a security event); five wrong passwords lock
 * an account (423 ACCOUNT_LOCKED with Retry-After) and twenty failed sign-ins block their address
 * (403 IP_BLOCKED); a known and an unknown email get the same answers; a password reset token
 * works once. One app on a hand-moved clock; sign-in attacks come from their own addresses.
 */
import { createSecretKey } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { notifications } from '../../src/modules/notifications/notifications.tables.js';
import { securityEvents } from '../../src/modules/security/security.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const JWT_SECRET = 'api2-broken-auth-jwt-secret-0123456789abcdef';
const WRONG = 'Definitely-not-the-password-1';
const clock = createTestClock(new Date('2026-11-23T10:00:00.000Z'));
let t: TestApp;
let alice: TestUser;
let bob: TestUser;
let dave: TestUser;
let address = 10;
/** A fresh client address: failures from one test never add up with another's. */
const nextIp = () => `198.51.100.${address++}`;

const me = (authorization?: string) =>
  t.app.inject({ method: 'GET', url: '/api/v1/me', headers: authorization ? { authorization } : {} });

const login = (email: string, password: string, ip: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress: ip });

const refresh = (refreshToken: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: refreshToken } });

/** A new session of `user`, signed in from its own address. */
async function signIn(user: TestUser): Promise<{ access: string; refresh: string }> {
  const response = await login(user.email, user.password, nextIp());
  expect(response.statusCode, response.body).toBe(200);
  const data = response.json().data;
  return { access: data.access_token, refresh: data.refresh_token };
}

const expect401 = (response: { statusCode: number; body: string }, code: string) => {
  expect(response.statusCode, response.body).toBe(401);
  const body = JSON.parse(response.body);
  expect(body).toMatchObject({ success: false, code });
  expect(body.data).toBeUndefined();
};

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString());

beforeAll(async () => {
  t = await buildTestApp({ clock, kv: createMemoryStore(clock), env: { JWT_SECRET } });
  [alice, bob, dave] = await Promise.all([createUser(t.app), createUser(t.app), createUser(t.app)]);
});

afterAll(async () => {
  await t?.close();
});

describe('access tokens', () => {
  it('accepts a fresh token (the control for every refusal below)', async () => {
    const response = await me(alice.headers.authorization);
    expect(response.statusCode).toBe(200);
    expect(response.json().data.id).toBe(alice.id);
  });

  it('refuses a missing token with 401 UNAUTHORIZED and a malformed header with 401 TOKEN_INVALID', async () => {
    expect401(await me(), 'UNAUTHORIZED');
    expect401(await me('Bearer '), 'TOKEN_INVALID');
    expect401(await me(`Token ${alice.accessToken}`), 'TOKEN_INVALID');
    expect401(await me('Bearer a.b.c'), 'TOKEN_INVALID');
  });

  it('refuses tokens signed with another key, with alg none, with another algorithm or with a tampered payload', async () => {
    const [header, payload, signature] = alice.accessToken.split('.') as [string, string, string];
    const claims = decode(payload);
    expect(decode(header)).toMatchObject({ alg: 'HS256' });

    const otherKey = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(createSecretKey(Buffer.from('someone-elses-secret-0123456789abcdef')));
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    // Our own key, but HS512: only HS256 is accepted.
    const hs512 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS512', typ: 'JWT' })
      .sign(createSecretKey(Buffer.from(JWT_SECRET)));
    const asAdmin = `${header}.${b64({ ...claims, role: 'admin' })}.${signature}`;
    const asBob = `${header}.${b64({ ...claims, sub: bob.id })}.${signature}`;
    const longer = `${header}.${b64({ ...claims, exp: claims.exp + 86_400 })}.${signature}`;
    const cases = { otherKey, algNone, hs512, asAdmin, asBob, longer };
    for (const [name, token] of Object.entries(cases)) {
      const response = await me(`Bearer ${token}`);
      expect(response.statusCode, name).toBe(401);
      expect(response.json().code, name).toBe('TOKEN_INVALID');
      // Nor does a forged admin token open an admin route.
      const admin = await t.app.inject({
        method: 'GET',
        url: '/api/v1/admin/users',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(admin.statusCode, `${name} on /admin/users`).toBe(401);
    }
  });

  it('refuses a token signed with our key for a session that does not exist', async () => {
    const claims = decode(alice.accessToken.split('.')[1] as string);
    const forged = await new SignJWT({ ...claims, sid: '00000000-0000-4000-8000-000000000000' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(createSecretKey(Buffer.from(JWT_SECRET)));
    const response = await me(`Bearer ${forged}`);
    expect(response.statusCode, response.body).toBe(401);
    expect(['SESSION_REVOKED', 'TOKEN_INVALID']).toContain(response.json().code);
  });

  it('refuses the access and refresh tokens of a session that signed out', async () => {
    const session = await signIn(alice);
    expect((await me(`Bearer ${session.access}`)).statusCode).toBe(200);
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { authorization: `Bearer ${session.access}` },
    });
    expect(logout.statusCode, logout.body).toBe(200);
    expect401(await me(`Bearer ${session.access}`), 'SESSION_REVOKED');
    expect401(await refresh(session.refresh), 'REFRESH_TOKEN_INVALID');
    // Alice's other sessions are untouched.
    expect((await me(alice.headers.authorization)).statusCode).toBe(200);
  });
});

describe('refresh tokens', () => {
  it('rotates: each refresh token gives a new pair, and garbage is REFRESH_TOKEN_INVALID', async () => {
    const session = await signIn(alice);
    const rotated = await refresh(session.refresh);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const next = rotated.json().data;
    expect(next.refresh_token).not.toBe(session.refresh);
    expect((await me(`Bearer ${next.access_token}`)).statusCode).toBe(200);
    expect401(await refresh('not-a-refresh-token'), 'REFRESH_TOKEN_INVALID');
  });

  it('treats a rotated token used again (after the 10 s grace) as stolen: REFRESH_TOKEN_REUSED ends the session', async () => {
    const session = await signIn(alice);
    const first = await refresh(session.refresh);
    expect(first.statusCode).toBe(200);
    const successor = first.json().data as { access_token: string; refresh_token: string };

    clock.advance(11_000);
    const reuse = await refresh(session.refresh);
    expect401(reuse, 'REFRESH_TOKEN_REUSED');
    // The whole session is over: the successor and both access tokens are refused.
    expect401(await refresh(successor.refresh_token), 'REFRESH_TOKEN_INVALID');
    expect401(await me(`Bearer ${successor.access_token}`), 'SESSION_REVOKED');
    expect401(await me(`Bearer ${session.access}`), 'SESSION_REVOKED');
    // Another session of the same person is not the stolen one.
    expect((await me(alice.headers.authorization)).statusCode).toBe(200);

    await t.app.platform.services.security.flush();
    const events = await t.app.platform.db
      .select()
      .from(securityEvents)
      .where(and(eq(securityEvents.type, 'refresh_token_reuse'), eq(securityEvents.userId, alice.id)));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ severity: 'critical', rule: 'auth.refresh_token_reuse' });
  });
});

describe('credential stuffing and brute force', () => {
  it('answers a wrong password for a known email exactly as for an unknown one', async () => {
    const ip = nextIp();
    const known = await login(alice.email, WRONG, ip);
    const unknown = await login('nobody.at.all@example.test', WRONG, ip);
    expect([known.statusCode, unknown.statusCode]).toEqual([401, 401]);
    const strip = (body: Record<string, unknown>) => ({ ...body, correlation_id: undefined });
    expect(strip(known.json())).toEqual(strip(unknown.json()));
    expect(known.json().code).toBe('INVALID_CREDENTIALS');
    // Alice can still sign in: one failure does not lock.
    expect((await login(alice.email, alice.password, nextIp())).statusCode).toBe(200);

    const resetKnown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: alice.email },
      remoteAddress: ip,
    });
    const resetUnknown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: 'nobody.at.all@example.test' },
      remoteAddress: ip,
    });
    expect([resetKnown.statusCode, resetUnknown.statusCode]).toEqual([202, 202]);
    expect(strip(resetKnown.json())).toEqual(strip(resetUnknown.json()));
  });

  it('locks an account after 5 wrong passwords: 423 ACCOUNT_LOCKED with Retry-After, even for the right password', async () => {
    for (let i = 1; i <= 5; i++) {
      // Each from another address: the lock is the account's, whoever tries.
      const response = await login(bob.email, WRONG, nextIp());
      expect(response.statusCode, `failure ${i}`).toBe(401);
      expect(response.json().code).toBe('INVALID_CREDENTIALS');
    }
    const locked = await login(bob.email, bob.password, nextIp());
    expect(locked.statusCode).toBe(423);
    expect(locked.json().code).toBe('ACCOUNT_LOCKED');
    expect(locked.headers['retry-after']).toBe('60');
    // A session opened before the lock still works.
    expect((await me(bob.headers.authorization)).statusCode).toBe(200);

    clock.advance(61_000);
    expect((await login(bob.email, bob.password, nextIp())).statusCode).toBe(200);
  });

  it('locks an unknown email the same way, so lockouts tell nobody which emails exist', async () => {
    const ip = nextIp();
    for (let i = 0; i < 5; i++) expect((await login('ghost@example.test', WRONG, ip)).statusCode).toBe(401);
    const locked = await login('ghost@example.test', WRONG, nextIp());
    expect(locked.statusCode).toBe(423);
    expect(locked.json().code).toBe('ACCOUNT_LOCKED');
    expect(locked.headers['retry-after']).toBe('60');
  });

  it('blocks an address after 20 failed sign-ins from it: 403 IP_BLOCKED with Retry-After, other addresses unaffected', async () => {
    const ip = nextIp();
    const email = 'stuffed@example.test';
    const answers: number[] = [];
    // 5 wrong passwords lock the account; the 15 tries that follow are refused as locked, and count too.
    for (let i = 0; i < 20; i++) answers.push((await login(email, WRONG, ip)).statusCode);
    expect(answers).toEqual([...Array(5).fill(401), ...Array(15).fill(423)]);

    const blocked = await login(alice.email, alice.password, ip);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('IP_BLOCKED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Everything from that address is refused, not only sign-ins.
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live', remoteAddress: ip });
    expect(live.statusCode).toBe(403);
    expect(live.json().code).toBe('IP_BLOCKED');
    // Alice signs in from anywhere else.
    expect((await login(alice.email, alice.password, nextIp())).statusCode).toBe(200);
  });
});

describe('password reset tokens', () => {
  it('work once: the second use is 400 INVALID_RESET_TOKEN, and the reset ends every session', async () => {
    const request = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: dave.email },
      remoteAddress: nextIp(),
    });
    expect(request.statusCode).toBe(202);
    await t.app.platform.dispatcher.runOnce();
    const [message] = await t.app.platform.db
      .select()
      .from(notifications)
      .where(and(eq(notifications.userId, dave.id), eq(notifications.template, 'password_reset')));
    const token = (message?.data as { token?: string } | null)?.token as string;
    expect(token).toBeTruthy();

    const confirm = (password: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password-reset/confirm',
        payload: { token, password },
        remoteAddress: nextIp(),
      });
    const newPassword = 'A-brand-new-passphrase-42';
    expect((await confirm(newPassword)).statusCode).toBe(200);
    const again = await confirm('Yet-another-passphrase-43');
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('INVALID_RESET_TOKEN');

    expect401(await me(dave.headers.authorization), 'SESSION_REVOKED');
    expect((await login(dave.email, dave.password, nextIp())).statusCode).toBe(401);
    expect((await login(dave.email, newPassword, nextIp())).statusCode).toBe(200);
  });

  it('refuses a made-up reset token', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/confirm',
      payload: { token: 'made-up-token-0123456789', password: 'A-brand-new-passphrase-42' },
      remoteAddress: nextIp(),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('INVALID_RESET_TOKEN');
  });
});

describe('expiry', () => {
  // Last: the clock moves past every access token's 15 minutes.
  it('refuses an access token once it has expired with 401 TOKEN_INVALID', async () => {
    const session = await signIn(alice);
    expect((await me(`Bearer ${session.access}`)).statusCode).toBe(200);
    clock.advance(15 * 60_000 + 1000);
    const expired = await me(`Bearer ${session.access}`);
    expect401(expired, 'TOKEN_INVALID');
    expect(expired.json().message).toMatch(/expired/i);
    // Its refresh token still works: that is what it is for.
    const renewed = await refresh(session.refresh);
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect((await me(`Bearer ${renewed.json().data.access_token}`)).statusCode).toBe(200);
  });
});
