import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { createLoginGuard } from '../../src/modules/identity/index.js';
import { notifications } from '../../src/modules/notifications/notifications.tables.js';
import { buildTestApp, createTestClock, type TestApp, testRedisUrl } from '../helpers/app.js';
import { createUser } from '../helpers/users.js';

const WRONG = 'Definitely-not-the-password-1';
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

type TestClock = ReturnType<typeof createTestClock>;

// A busy test machine can stall the event loop past the shedding threshold; shedding has its own test.
const NO_LOAD_SHEDDING = { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' };

const open: TestApp[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/**
 * The app with a hand-moved clock and the memory store on that clock, so lock windows move
 * with the clock (Redis TTLs would run in real time).
 */
async function clockedApp(): Promise<{ t: TestApp; clock: TestClock }> {
  const clock = createTestClock();
  const t = await buildTestApp({ clock, kv: createMemoryStore(clock), env: NO_LOAD_SHEDDING });
  open.push(t);
  return { t, clock };
}

function login(t: TestApp, email: string, password: string, ip: string) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
    remoteAddress: ip,
  });
}

/** A new address for each call: failures then count for the account only, never for one IP. */
let addressCounter = 0;
function freshIp(): string {
  addressCounter += 1;
  return `10.${(addressCounter >> 16) & 255}.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
}

let accountCounter = 0;
function unknownEmail(): string {
  accountCounter += 1;
  return `nobody${accountCounter}.${randomBytes(3).toString('hex')}@example.test`;
}

/** Five wrong passwords, each from another address: every one answers 401 INVALID_CREDENTIALS. */
async function failFiveTimes(t: TestApp, email: string) {
  for (let i = 0; i < 5; i++) {
    const response = await login(t, email, WRONG, freshIp());
    expect(response.statusCode, `failure ${i + 1}`).toBe(401);
    expect(response.json().code).toBe('INVALID_CREDENTIALS');
  }
}

async function expectLocked(t: TestApp, email: string, password: string, retryAfterSeconds: number) {
  const response = await login(t, email, password, freshIp());
  expect(response.statusCode).toBe(423);
  expect(response.json().code).toBe('ACCOUNT_LOCKED');
  expect(response.json().message).toMatch(/account is locked/i);
  expect(response.headers['retry-after']).toBe(String(retryAfterSeconds));
}

describe('account lockout', () => {
  it('locks after 5 failures: the 6th attempt gets 423 even with the right password, until the minute passes', async () => {
    const { t, clock } = await clockedApp();
    const user = await createUser(t.app);

    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);

    clock.advance(59 * SECOND);
    await expectLocked(t, user.email, user.password, 1);

    clock.advance(2 * SECOND);
    const ok = await login(t, user.email, user.password, freshIp());
    expect(ok.statusCode).toBe(200);
    expect(ok.json().data.token_type).toBe('Bearer');
  });

  it('counts unknown emails the same way, whatever their case', async () => {
    const { t, clock } = await clockedApp();
    const email = unknownEmail();
    for (let i = 0; i < 5; i++) {
      const variant = i % 2 === 0 ? email : email.toUpperCase();
      const response = await login(t, variant, WRONG, freshIp());
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('INVALID_CREDENTIALS');
    }
    await expectLocked(t, email, WRONG, 60);

    clock.advance(61 * SECOND);
    const afterLock = await login(t, email, WRONG, freshIp());
    expect(afterLock.statusCode).toBe(401);
    expect(afterLock.json().code).toBe('INVALID_CREDENTIALS');
  });

  it('doubles each further lockout (1, 2, 4, 8 minutes) up to 15 minutes', async () => {
    const { t, clock } = await clockedApp();
    const user = await createUser(t.app);
    for (const seconds of [60, 120, 240, 480, 900, 900]) {
      await failFiveTimes(t, user.email);
      await expectLocked(t, user.email, user.password, seconds);
      clock.advance((seconds + 1) * SECOND);
    }
    expect((await login(t, user.email, user.password, freshIp())).statusCode).toBe(200);
  });

  it('resets the counts on a successful sign-in', async () => {
    const { t, clock } = await clockedApp();
    const user = await createUser(t.app);

    // 4 + 4 failures with a success between them never lock.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) expect((await login(t, user.email, WRONG, freshIp())).statusCode).toBe(401);
      expect((await login(t, user.email, user.password, freshIp())).statusCode).toBe(200);
    }

    // Two lockouts (1 then 2 minutes), a success, and the next lockout is 1 minute again.
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);
    clock.advance(61 * SECOND);
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 120);
    clock.advance(121 * SECOND);
    expect((await login(t, user.email, user.password, freshIp())).statusCode).toBe(200);
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);
  });

  it('forgets failures and lockouts after 12 hours', async () => {
    const { t, clock } = await clockedApp();
    const user = await createUser(t.app);

    for (let i = 0; i < 4; i++) expect((await login(t, user.email, WRONG, freshIp())).statusCode).toBe(401);
    clock.advance(12 * HOUR + SECOND);
    for (let i = 0; i < 4; i++) expect((await login(t, user.email, WRONG, freshIp())).statusCode).toBe(401);
    expect((await login(t, user.email, user.password, freshIp())).statusCode).toBe(200);

    // A lockout 12 hours ago no longer makes the next one longer.
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);
    clock.advance(12 * HOUR + SECOND);
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);
  });

  it('still lets a locked account reset its password, and the reset lifts the lock', async () => {
    const { t } = await clockedApp();
    const user = await createUser(t.app);
    await failFiveTimes(t, user.email);
    await expectLocked(t, user.email, user.password, 60);

    const request = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: user.email },
      remoteAddress: freshIp(),
    });
    expect(request.statusCode).toBe(202);
    await t.app.platform.dispatcher.runOnce();
    const [message] = await t.app.platform.db
      .select()
      .from(notifications)
      .where(eq(notifications.template, 'password_reset'));
    expect(message?.userId).toBe(user.id);

    const newPassword = 'Fresh-passphrase-after-lockout-7';
    const confirm = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/confirm',
      payload: { token: message?.data?.token, password: newPassword },
      remoteAddress: freshIp(),
    });
    expect(confirm.statusCode).toBe(200);
    // The clock has not moved: only the reset can have lifted the lock.
    expect((await login(t, user.email, newPassword, freshIp())).statusCode).toBe(200);
  });
});

describe('IP blocking', () => {
  it('blocks an address after 20 failures across accounts in 10 minutes; other addresses are unaffected', async () => {
    const { t, clock } = await clockedApp();
    const other = await createUser(t.app);
    const ip = '203.0.113.20';

    // 5 accounts x 4 failures: no account gets locked, the address collects 20 failures.
    for (let account = 0; account < 5; account++) {
      const email = unknownEmail();
      for (let i = 0; i < 4; i++) {
        const response = await login(t, email, WRONG, ip);
        expect(response.statusCode).toBe(401);
        expect(response.json().code).toBe('INVALID_CREDENTIALS');
      }
    }

    const blocked = await login(t, other.email, other.password, ip);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('IP_BLOCKED');
    expect(blocked.headers['retry-after']).toBe('900');

    expect((await login(t, other.email, other.password, '203.0.113.21')).statusCode).toBe(200);

    // The block is temporary.
    clock.advance(15 * MINUTE + SECOND);
    expect((await login(t, other.email, other.password, ip)).statusCode).toBe(200);
  });

  it('counts an address over a 10-minute window only', async () => {
    const { t, clock } = await clockedApp();
    const other = await createUser(t.app);
    const ip = '203.0.113.30';
    for (let account = 0; account < 5; account++) {
      const email = unknownEmail();
      const tries = account === 4 ? 3 : 4;
      for (let i = 0; i < tries; i++) expect((await login(t, email, WRONG, ip)).statusCode).toBe(401);
    }
    clock.advance(10 * MINUTE + SECOND);
    expect((await login(t, unknownEmail(), WRONG, ip)).statusCode).toBe(401);
    expect((await login(t, other.email, other.password, ip)).statusCode).toBe(200);
  });
});

const stores: [string, (clock: TestClock) => KeyValueStore][] = [['memory', (clock) => createMemoryStore(clock)]];
const redisUrl = testRedisUrl;
if (redisUrl) {
  stores.push([
    'redis',
    () => createRedisStore(redisUrl, { keyPrefix: `test:lockout:${randomBytes(6).toString('hex')}:` }),
  ]);
}

describe.each(stores)('atomic counting (%s store)', (_kind, makeStore) => {
  it('lets at most 5 of 50 parallel wrong attempts be checked; the rest get 423', async () => {
    const clock = createTestClock();
    const t = await buildTestApp({ clock, kv: makeStore(clock), env: NO_LOAD_SHEDDING });
    open.push(t);
    const user = await createUser(t.app);

    const responses = await Promise.all(Array.from({ length: 50 }, () => login(t, user.email, WRONG, freshIp())));
    const codes = responses.map((response) => `${response.statusCode} ${response.json().code}`);
    const checked = codes.filter((code) => code === '401 INVALID_CREDENTIALS').length;
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(5);
    expect(codes.filter((code) => code === '423 ACCOUNT_LOCKED')).toHaveLength(50 - checked);

    const { db } = t.app.platform;
    const failed = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'auth.login_failed'), eq(auditLog.targetId, user.id)));
    expect(failed).toHaveLength(checked);
    const lockouts = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'auth.lockout'), eq(auditLog.targetId, user.id)));
    // Failures that finish together lock the account once, for one minute.
    expect(lockouts).toHaveLength(1);
    const after = await login(t, user.email, user.password, freshIp());
    expect(after.statusCode).toBe(423);
    expect(after.json().code).toBe('ACCOUNT_LOCKED');
    expect(Number(after.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  // The lock is decided by an atomic failure counter: exactly one failure is the fifth.
  it('five failures that finish at the same moment lock the account once, for 1 minute', async () => {
    const clock = createTestClock();
    const kv = makeStore(clock);
    try {
      const guard = createLoginGuard({ kv, clock, options: { delayBaseMs: 0, delayMaxMs: 0, ipv6PrefixLength: 64 } });
      const account = unknownEmail();
      await Promise.all(Array.from({ length: 5 }, () => guard.reserveAttempt(account)));
      const locks = await Promise.all(Array.from({ length: 5 }, () => guard.recordFailure(account, null)));
      expect(locks.map((lock) => lock.lockedForMs).filter((lockedForMs) => lockedForMs !== undefined)).toEqual([
        60_000,
      ]);
    } finally {
      await kv.close();
    }
  });
});
