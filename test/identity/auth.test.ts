import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productEvents } from '../../src/modules/analytics/analytics.tables.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { passwordResetTokens, refreshTokens, sessions, users } from '../../src/modules/identity/identity.tables.js';
import { notifications } from '../../src/modules/notifications/notifications.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const ARGON2ID_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
const NEW_PASSWORD = 'Brand-new-passphrase-42';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decodePart = (token: string, index: 0 | 1) =>
  JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8'));
/** An error body without its correlation id, which differs per request by design. */
const withoutCorrelation = (body: Record<string, unknown>) => {
  const { correlation_id: _correlationId, ...rest } = body;
  return rest;
};

let emailCounter = 0;
const uniqueEmail = (label: string) => `${label}.${++emailCounter}.${Date.now()}@example.test`;

function signup(app: FastifyInstance, payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload });
}

function login(app: FastifyInstance, email: string, password: string, remoteAddress?: string) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}

function getMe(app: FastifyInstance, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url: '/api/v1/me', headers });
}

async function userRowByEmail(t: TestApp, email: string) {
  const [row] = await t.app.platform.db.select().from(users).where(eq(users.email, email));
  return row;
}

async function userRowById(t: TestApp, id: string) {
  const [row] = await t.app.platform.db.select().from(users).where(eq(users.id, id));
  return row;
}

async function auditRows(t: TestApp, action: string, targetId?: string) {
  return t.app.platform.db
    .select()
    .from(auditLog)
    .where(targetId ? and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)) : eq(auditLog.action, action))
    .orderBy(asc(auditLog.seq));
}

async function sessionRows(t: TestApp, userId: string) {
  return t.app.platform.db.select().from(sessions).where(eq(sessions.userId, userId));
}

describe('POST /api/v1/auth/signup', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('creates the account: 201 with user and tokens, argon2id hash, normalised email, audit and product event', async () => {
    const password = 'Sunlit-harbour-morning-7';
    const response = await signup(t.app, {
      email: 'New.Person@Example.COM',
      password,
      name: 'New Person',
      phone: '+447700900123',
    });

    expect(response.statusCode).toBe(201);
    const { user, tokens } = response.json().data;
    expect(user).toMatchObject({
      email: 'new.person@example.com',
      name: 'New Person',
      phone: '+447700900123',
      role: 'user',
      plan: 'free',
      locale: 'en',
      time_zone: 'UTC',
      is_active: true,
      trial_expires_at: null,
    });
    expect(user).not.toHaveProperty('password_hash');
    expect(user).not.toHaveProperty('passwordHash');
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(typeof tokens.access_token).toBe('string');
    expect(typeof tokens.refresh_token).toBe('string');
    expect(response.body).not.toContain(password);

    const row = await userRowByEmail(t, 'new.person@example.com');
    expect(row?.id).toBe(user.id);
    expect(row?.passwordHash.startsWith(ARGON2ID_PREFIX)).toBe(true);
    expect(row?.passwordHash).not.toContain(password);

    const signupAudit = await auditRows(t, 'auth.signup', user.id);
    expect(signupAudit).toHaveLength(1);
    expect(signupAudit[0]?.actorId).toBe(user.id);
    // People are named by id only in the audit trail.
    expect(JSON.stringify(signupAudit[0])).not.toContain('new.person@example.com');

    const events = await t.app.platform.db
      .select()
      .from(productEvents)
      .where(and(eq(productEvents.name, 'user_signed_up'), eq(productEvents.subject, await subjectOf(t.app, user.id))));
    expect(events).toHaveLength(1);

    // The first session is open and its tokens work.
    expect(await sessionRows(t, user.id)).toHaveLength(1);
    const me = await getMe(t.app, bearer(tokens.access_token));
    expect(me.statusCode).toBe(200);
    expect(me.json().data.id).toBe(user.id);
  });

  it('treats emails case-insensitively: 409 EMAIL_TAKEN and still one account', async () => {
    const first = await signup(t.app, { email: 'foo@example.com', password: 'Quiet-river-stones-31' });
    expect(first.statusCode).toBe(201);

    const second = await signup(t.app, { email: 'Foo@Example.com', password: 'Other-quiet-stones-32' });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ success: false, code: 'EMAIL_TAKEN' });

    const rows = await t.app.platform.db.select().from(users).where(eq(users.email, 'foo@example.com'));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id).toBe(first.json().data.user.id);
  });

  it('accepts passwords of exactly 8 and exactly 128 characters', async () => {
    for (const password of ['kq7#vXm2', `${'Zebra-lantern-9'.repeat(8)}Zebra-la`]) {
      const email = uniqueEmail('boundary');
      const response = await signup(t.app, { email, password });
      expect(response.statusCode, `${password.length} characters`).toBe(201);
      expect(await userRowByEmail(t, email)).toBeDefined();
    }
  });

  it.each([
    ['7 characters', 'kq7#vXm'],
    ['129 characters', `${'Zebra-lantern-9'.repeat(8)}Zebra-lan`],
    ['a common password', 'password123'],
    ['a common keyboard walk', 'qwertyuiop'],
  ])('refuses %s with 400 WEAK_PASSWORD and creates no account', async (_label, password) => {
    const email = uniqueEmail('weak');
    const response = await signup(t.app, { email, password });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ success: false, code: 'WEAK_PASSWORD' });
    expect(response.json().details).toEqual([expect.objectContaining({ field: 'body.password' })]);
    expect(await userRowByEmail(t, email)).toBeUndefined();
  });

  it.each([
    ['role', { role: 'admin' }],
    ['plan', { plan: 'premium' }],
    ['is_active', { is_active: false }],
  ])('refuses the unknown field %s with 400 VALIDATION_ERROR and creates no account', async (field, extra) => {
    const email = uniqueEmail('mass-assign');
    const response = await signup(t.app, { email, password: 'Copper-kettle-morning-5', ...extra });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
    expect(response.json().details).toContainEqual({ field: `body.${field}`, message: 'is not an accepted field' });
    expect(await userRowByEmail(t, email)).toBeUndefined();
  });

  it.each([
    ['a national number', '07700900123'],
    ['a leading zero after +', '+0447700900123'],
    ['spaces', '+44 7700 900123'],
    ['too many digits', '+4477009001234567'],
  ])('refuses a phone number with %s (not E.164) with 400', async (_label, phone) => {
    const email = uniqueEmail('phone');
    const response = await signup(t.app, { email, password: 'Copper-kettle-morning-5', phone });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(response.json().details).toContainEqual(expect.objectContaining({ field: 'body.phone' }));
    expect(await userRowByEmail(t, email)).toBeUndefined();
  });

  it('refuses a malformed email or a missing password with 400', async () => {
    const badEmail = await signup(t.app, { email: 'not-an-email', password: 'Copper-kettle-morning-5' });
    expect(badEmail.statusCode).toBe(400);
    expect(badEmail.json().code).toBe('VALIDATION_ERROR');
    const noPassword = await signup(t.app, { email: uniqueEmail('nopass') });
    expect(noPassword.statusCode).toBe(400);
    expect(noPassword.json().details).toContainEqual({ field: 'body.password', message: 'is required' });
  });
});

describe('POST /api/v1/auth/login and access tokens', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  it('answers a Bearer token pair whose access JWT carries sub, role, plan, sid and jti', async () => {
    const user = await createUser(t.app);
    const response = await login(t.app, user.email.toUpperCase(), user.password);

    expect(response.statusCode).toBe(200);
    const tokens = response.json().data;
    expect(tokens).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      token_type: 'Bearer',
      expires_in: 900,
    });

    expect(decodePart(tokens.access_token, 0)).toMatchObject({ alg: 'HS256' });
    const claims = decodePart(tokens.access_token, 1);
    expect(claims).toMatchObject({ sub: user.id, role: 'user', plan: 'free' });
    expect(typeof claims.jti).toBe('string');
    expect(claims.exp - claims.iat).toBe(900);
    expect(claims.iat).toBe(Math.floor(clock.now().getTime() / 1000));
    expect(decodePart(user.accessToken, 1).jti).not.toBe(claims.jti);

    // sid names this login's session; its refresh token is stored only as a hash.
    const [session] = await t.app.platform.db.select().from(sessions).where(eq(sessions.id, claims.sid));
    expect(session?.userId).toBe(user.id);
    expect(session?.revokedAt).toBeNull();
    const stored = await t.app.platform.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, claims.sid));
    expect(stored.map((row) => row.tokenHash)).toEqual([sha256(tokens.refresh_token)]);

    expect((await userRowById(t, user.id))?.lastLoginAt?.getTime()).toBe(clock.now().getTime());
    expect((await auditRows(t, 'auth.login', user.id)).length).toBeGreaterThanOrEqual(2);

    const me = await getMe(t.app, bearer(tokens.access_token));
    expect(me.statusCode).toBe(200);
    expect(me.json().data.id).toBe(user.id);
  });

  it('answers unknown emails and wrong passwords with the same 401 INVALID_CREDENTIALS', async () => {
    const user = await createUser(t.app);
    const wrongPassword = await login(t.app, user.email, 'Not-the-right-password-1', '198.51.100.10');
    const unknownEmail = await login(t.app, uniqueEmail('nobody'), 'Not-the-right-password-1', '198.51.100.10');

    for (const response of [wrongPassword, unknownEmail]) {
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ success: false, code: 'INVALID_CREDENTIALS' });
      expect(response.json().correlation_id).toEqual(expect.any(String));
    }
    expect(withoutCorrelation(wrongPassword.json())).toEqual(withoutCorrelation(unknownEmail.json()));
    expect(wrongPassword.json().correlation_id).not.toBe(unknownEmail.json().correlation_id);

    // Both failures are audited; neither opened a session.
    const failures = await auditRows(t, 'auth.login_failed');
    expect(failures.filter((row) => row.ip === '198.51.100.10').map((row) => row.details.reason)).toEqual([
      'wrong_password',
      'unknown_account',
    ]);
    expect(await sessionRows(t, user.id)).toHaveLength(2);
  });

  it('refuses a request without a token or with another scheme with 401', async () => {
    const none = await getMe(t.app);
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('UNAUTHORIZED');
    const user = await createUser(t.app);
    const basic = await getMe(t.app, { authorization: `Basic ${user.accessToken}` });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().code).toBe('TOKEN_INVALID');
  });

  it('refuses an unsigned token (alg: none) with 401', async () => {
    const user = await createUser(t.app);
    const claims = decodePart(user.accessToken, 1);
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    const response = await getMe(t.app, bearer(unsigned));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('TOKEN_INVALID');
  });

  it('refuses a token signed with another key with 401', async () => {
    const user = await createUser(t.app);
    const claims = decodePart(user.accessToken, 1);
    const forged = await new SignJWT({ role: 'admin', plan: 'premium', sid: claims.sid })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setJti('forged')
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(randomBytes(32));
    const response = await getMe(t.app, bearer(forged));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('TOKEN_INVALID');

    const admin = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: bearer(forged) });
    expect(admin.statusCode).toBe(401);
  });

  it('refuses a tampered payload (role changed to admin, signature kept) with 401', async () => {
    const user = await createUser(t.app);
    // The genuine token has been seen (and verified) before the tampered one arrives.
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);
    const [header, payload, signature] = user.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const tampered = `${header}.${b64url({ ...claims, role: 'admin' })}.${signature}`;

    const me = await getMe(t.app, bearer(tampered));
    expect(me.statusCode).toBe(401);
    expect(me.json().code).toBe('TOKEN_INVALID');
    const admin = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: bearer(tampered) });
    expect(admin.statusCode).toBe(401);
    // The genuine token still works.
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);
  });

  it('refuses an expired access token with 401, whether or not it was used before', async () => {
    const user = await createUser(t.app);
    const second = (await login(t.app, user.email, user.password)).json().data.access_token as string;
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);

    clock.advance(16 * 60_000);

    const used = await getMe(t.app, user.headers);
    expect(used.statusCode).toBe(401);
    expect(used.json().code).toBe('TOKEN_INVALID');
    const neverUsed = await getMe(t.app, bearer(second));
    expect(neverUsed.statusCode).toBe(401);
    expect(neverUsed.json().code).toBe('TOKEN_INVALID');

    // A new sign-in is all it takes.
    const fresh = await login(t.app, user.email, user.password);
    expect((await getMe(t.app, bearer(fresh.json().data.access_token))).statusCode).toBe(200);
  });
});

describe('POST /api/v1/auth/password', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  const changePassword = (user: TestUser, body: Record<string, unknown>, headers = user.headers) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers, payload: body });

  it('answers 401 without a token', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      payload: { current_password: 'Anything-goes-here-1', new_password: NEW_PASSWORD },
    });
    expect(response.statusCode).toBe(401);
  });

  it('refuses a wrong current password with 401 INVALID_CREDENTIALS and keeps the old hash', async () => {
    const user = await createUser(t.app);
    const before = await userRowById(t, user.id);
    const response = await changePassword(user, { current_password: 'Not-my-password-99', new_password: NEW_PASSWORD });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('INVALID_CREDENTIALS');
    expect((await userRowById(t, user.id))?.passwordHash).toBe(before?.passwordHash);
    // The failure does not end the session.
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);
  });

  it('refuses a weak new password with 400 WEAK_PASSWORD and keeps the old hash', async () => {
    const user = await createUser(t.app);
    const before = await userRowById(t, user.id);
    for (const weak of ['short1', 'password123']) {
      const response = await changePassword(user, { current_password: user.password, new_password: weak });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'WEAK_PASSWORD' });
      expect(response.json().details).toEqual([expect.objectContaining({ field: 'body.new_password' })]);
    }
    expect((await userRowById(t, user.id))?.passwordHash).toBe(before?.passwordHash);
  });

  it('changes the password, ends the other sessions but not this one, and audits it', async () => {
    const user = await createUser(t.app);
    const other = (await login(t.app, user.email, user.password)).json().data;
    const otherSid = decodePart(other.access_token, 1).sid as string;
    const currentSid = decodePart(user.accessToken, 1).sid as string;
    expect((await getMe(t.app, bearer(other.access_token))).statusCode).toBe(200);

    const response = await changePassword(user, { current_password: user.password, new_password: NEW_PASSWORD });
    expect(response.statusCode).toBe(200);

    const otherAfter = await getMe(t.app, bearer(other.access_token));
    expect(otherAfter.statusCode).toBe(401);
    expect(otherAfter.json().code).toBe('SESSION_REVOKED');
    const otherRefresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: other.refresh_token },
    });
    expect(otherRefresh.statusCode).toBe(401);
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);

    // Signup session and the other login are revoked; the current one is not.
    const rows = await sessionRows(t, user.id);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      if (row.id === currentSid) expect(row.revokedAt).toBeNull();
      else expect(row.revokedReason).toBe('password_changed');
    }
    expect(rows.some((row) => row.id === otherSid)).toBe(true);

    const stored = await userRowById(t, user.id);
    expect(stored?.passwordHash.startsWith(ARGON2ID_PREFIX)).toBe(true);
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
    expect((await login(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);

    const audit = await auditRows(t, 'auth.password_changed', user.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details).toEqual({ other_sessions_ended: 2 });
  });

  it('refuses unknown fields with 400', async () => {
    const user = await createUser(t.app);
    const response = await changePassword(user, {
      current_password: user.password,
      new_password: NEW_PASSWORD,
      user_id: 'someone-else',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('VALIDATION_ERROR');
  });
});

describe('password reset', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  const requestReset = (email: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email } });
  const confirmReset = (token: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, password } });
  // The request only queues an outbox message; the worker looks the account up and queues the email.
  const runWorker = () => t.app.platform.dispatcher.runOnce();
  // Reset emails are urgent notifications (email, purpose account) queued by the request's outbox handler.
  const resetMessages = async (userId?: string) => {
    const rows = await t.app.platform.db
      .select()
      .from(notifications)
      .where(eq(notifications.template, 'password_reset'));
    return rows
      .filter((row) => userId === undefined || row.userId === userId)
      .map((row) => ({
        id: row.id,
        payload: { user_id: row.userId, ...(row.data as { token: string; expires_at: string }) },
      }));
  };
  /** Requests a reset for a known account and reads the token from the email it queued. */
  const resetTokenFor = async (user: TestUser): Promise<string> => {
    const before = new Set((await resetMessages(user.id)).map((row) => row.id));
    const response = await requestReset(user.email);
    expect(response.statusCode).toBe(202);
    await runWorker();
    const added = (await resetMessages(user.id)).filter((row) => !before.has(row.id));
    expect(added).toHaveLength(1);
    return added[0]?.payload.token as string;
  };

  it('answers 202 with the same body for a known and an unknown email; only the known one gets an email', async () => {
    const user = await createUser(t.app);
    const outboxBefore = await resetMessages();

    const known = await requestReset(user.email.toUpperCase());
    const unknown = await requestReset(uniqueEmail('nobody'));
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(withoutCorrelation(known.json())).toEqual(withoutCorrelation(unknown.json()));
    // Nothing is decided while answering: no email and no token until the worker runs.
    expect(await resetMessages()).toHaveLength(outboxBefore.length);
    expect(
      await t.app.platform.db.select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, user.id)),
    ).toHaveLength(0);

    expect(await runWorker()).toBeGreaterThanOrEqual(2);
    const outboxAfter = await resetMessages();
    expect(outboxAfter).toHaveLength(outboxBefore.length + 1);
    const [message] = await resetMessages(user.id);
    expect(message?.payload).toEqual({
      user_id: user.id,
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      expires_at: new Date(clock.now().getTime() + 30 * 60_000).toISOString(),
    });
    const token = message?.payload.token as string;

    // Only the token's hash is stored.
    const stored = await t.app.platform.db
      .select()
      .from(passwordResetTokens)
      .where(eq(passwordResetTokens.userId, user.id));
    expect(stored).toHaveLength(1);
    expect(stored[0]?.tokenHash).toBe(sha256(token));
    expect(stored[0]?.usedAt).toBeNull();
    expect(JSON.stringify(stored)).not.toContain(token);
    expect((await auditRows(t, 'auth.password_reset_requested', user.id)).length).toBe(1);
  });

  it('confirms with the token: 200, every session ends, the new password works, the token is spent', async () => {
    const user = await createUser(t.app);
    const token = await resetTokenFor(user);

    const response = await confirmReset(token, NEW_PASSWORD);
    expect(response.statusCode).toBe(200);

    const me = await getMe(t.app, user.headers);
    expect(me.statusCode).toBe(401);
    expect(me.json().code).toBe('SESSION_REVOKED');
    const rows = await sessionRows(t, user.id);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.revokedReason === 'password_reset')).toBe(true);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: user.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);

    expect((await login(t.app, user.email, user.password)).statusCode).toBe(401);
    expect((await login(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);

    const [stored] = await t.app.platform.db
      .select()
      .from(passwordResetTokens)
      .where(eq(passwordResetTokens.userId, user.id));
    expect(stored?.usedAt).not.toBeNull();
    expect((await auditRows(t, 'auth.password_reset', user.id)).length).toBe(1);

    const again = await confirmReset(token, 'Another-new-passphrase-43');
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('INVALID_RESET_TOKEN');
    expect((await login(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('spends every outstanding token of the account with one reset', async () => {
    const user = await createUser(t.app);
    const first = await resetTokenFor(user);
    const second = await resetTokenFor(user);
    expect((await confirmReset(second, NEW_PASSWORD)).statusCode).toBe(200);
    const stale = await confirmReset(first, 'Another-new-passphrase-43');
    expect(stale.statusCode).toBe(400);
    expect(stale.json().code).toBe('INVALID_RESET_TOKEN');
    expect((await login(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('refuses an unknown token with 400 INVALID_RESET_TOKEN', async () => {
    const response = await confirmReset(randomBytes(32).toString('base64url'), NEW_PASSWORD);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('INVALID_RESET_TOKEN');
  });

  it('refuses a weak new password with 400 WEAK_PASSWORD without spending the token', async () => {
    const user = await createUser(t.app);
    const token = await resetTokenFor(user);
    const weak = await confirmReset(token, 'password123');
    expect(weak.statusCode).toBe(400);
    expect(weak.json().code).toBe('WEAK_PASSWORD');
    expect((await getMe(t.app, user.headers)).statusCode).toBe(200);
    expect((await confirmReset(token, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('refuses a token older than 30 minutes with 400 and leaves the password alone', async () => {
    const user = await createUser(t.app);
    const token = await resetTokenFor(user);
    clock.advance(31 * 60_000);
    const response = await confirmReset(token, NEW_PASSWORD);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('INVALID_RESET_TOKEN');
    expect((await login(t.app, user.email, user.password)).statusCode).toBe(200);
  });

  it('works while the account is locked, and clears the lock', async () => {
    const user = await createUser(t.app);
    const ip = '203.0.113.50';
    for (let attempt = 1; attempt <= 5; attempt++) {
      const failed = await login(t.app, user.email, `Wrong-password-${attempt}-zz`, ip);
      expect(failed.statusCode).toBe(401);
    }
    const locked = await login(t.app, user.email, user.password, ip);
    expect(locked.statusCode).toBe(423);
    expect(locked.json().code).toBe('ACCOUNT_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await auditRows(t, 'auth.lockout', user.id)).length).toBe(1);

    const token = await resetTokenFor(user);
    expect((await confirmReset(token, NEW_PASSWORD)).statusCode).toBe(200);

    // No waiting for the lock to run out.
    const afterReset = await login(t.app, user.email, NEW_PASSWORD, ip);
    expect(afterReset.statusCode).toBe(200);
  });

  it('queues nothing for a deactivated account', async () => {
    const admin = await createUser(t.app, { role: 'admin' });
    const user = await createUser(t.app);
    const deactivate = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      headers: admin.headers,
      payload: { is_active: false },
    });
    expect(deactivate.statusCode).toBe(200);
    const response = await requestReset(user.email);
    expect(response.statusCode).toBe(202);
    expect(await runWorker()).toBeGreaterThanOrEqual(1);
    expect(await resetMessages(user.id)).toHaveLength(0);
    expect(
      await t.app.platform.db.select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, user.id)),
    ).toHaveLength(0);
  });
});

describe('GET and PATCH /api/v1/me', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  const patchMe = (user: TestUser | undefined, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: user?.headers ?? {}, payload });

  it('answers 401 without a token on GET and PATCH', async () => {
    expect((await getMe(t.app)).statusCode).toBe(401);
    expect((await patchMe(undefined, { name: 'Nobody' })).statusCode).toBe(401);
  });

  it('returns the caller’s own account', async () => {
    const user = await createUser(t.app, { name: 'Ada Lovelace' });
    const other = await createUser(t.app);
    const response = await getMe(t.app, user.headers);
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({ id: user.id, email: user.email, name: 'Ada Lovelace', role: 'user' });
    expect(response.json().data.id).not.toBe(other.id);
  });

  it('updates name, phone, locale and time zone', async () => {
    const user = await createUser(t.app);
    const response = await patchMe(user, {
      name: 'Grace Hopper',
      phone: '+14155550123',
      locale: 'pt-BR',
      time_zone: 'America/Sao_Paulo',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({
      name: 'Grace Hopper',
      phone: '+14155550123',
      locale: 'pt-BR',
      time_zone: 'America/Sao_Paulo',
    });
    const row = await userRowById(t, user.id);
    expect(row).toMatchObject({
      name: 'Grace Hopper',
      phone: '+14155550123',
      locale: 'pt-BR',
      timeZone: 'America/Sao_Paulo',
    });

    const cleared = await patchMe(user, { name: null, phone: null });
    expect(cleared.statusCode).toBe(200);
    expect(await userRowById(t, user.id)).toMatchObject({ name: null, phone: null, locale: 'pt-BR' });
  });

  it.each([
    ['role', { role: 'admin' }],
    ['plan', { plan: 'premium' }],
    ['email', { email: 'takeover@example.test' }],
    ['is_active', { is_active: false }],
  ])('refuses %s with 400 and leaves the row unchanged', async (field, body) => {
    const user = await createUser(t.app);
    const before = await userRowById(t, user.id);
    // Alone, and smuggled in next to an accepted field.
    for (const payload of [body, { name: 'Sneaky', ...body }]) {
      const response = await patchMe(user, payload);
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('VALIDATION_ERROR');
      expect(response.json().details).toContainEqual({ field: `body.${field}`, message: 'is not an accepted field' });
    }
    expect(await userRowById(t, user.id)).toEqual(before);
  });

  it('refuses an unknown IANA time zone, a bad locale, a bad phone and an empty body with 400', async () => {
    const user = await createUser(t.app);
    const before = await userRowById(t, user.id);
    const zone = await patchMe(user, { time_zone: 'Mars/Olympus' });
    expect(zone.statusCode).toBe(400);
    expect(zone.json()).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(zone.json().details).toContainEqual(expect.objectContaining({ field: 'body.time_zone' }));
    for (const payload of [{ locale: 'english' }, { phone: '07700900123' }, {}]) {
      const response = await patchMe(user, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await userRowById(t, user.id)).toEqual(before);
  });
});
