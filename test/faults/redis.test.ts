/**
 * Redis lost, reached through a TCP proxy in front of the real server. The shared store is an
 * optimisation for caches and counters but the record of some security state, so:
 *
 * - health says degraded (the cache `down`), never critical, and readiness stays ready;
 * - what can be served without it is: anonymous reads (cache misses go to PostgreSQL), and rate
 *   limits fail open (documented in src/plugins/rate-limit.ts); nothing answers 500 and nothing
 *   waits 5 s;
 * - security state fails closed: an address blocked before the outage stays blocked, a locked
 *   account cannot sign in, a revoked session's token and an already-rotated refresh token are
 *   refused (with 503 when the store cannot be asked, never with a success);
 * - when Redis is back, the same process uses it again, and the lock set before is still there;
 * - hung (the proxy black-holes the connection: Redis accepts and never replies): requests,
 *   liveness and readiness still answer within 5 s.
 *
 * Measured, not asserted (see the printed lines): whether signed-in requests are served while the
 * store is down, and whether attacks during the outage still escalate to an automatic block.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Deployment,
  type Instance,
  makeAdmin,
  printLogsOnFailure,
  servicesUnavailable,
  signUp,
  sleep,
  waitFor,
} from '../support/instance.js';
import { count, type LoadResult, percentile, send, startLoad } from './load.js';
import { codeOf, createFaultDeployment, type FaultDeployment, isSuccess, outcomes } from './setup.js';

const unavailable = await servicesUnavailable();

const MAX_LATENCY_MS = 5000;
const ANON_BUDGET = 30;
// Documentation addresses (RFC 5737), one per role, sent as X-Forwarded-For (TRUST_PROXY=1).
const IP = {
  blocked: '203.0.113.50',
  limited: '192.0.2.77',
  lockedOut: '198.51.100.20',
  attackerDuringOutage: '198.51.100.66',
  attackerAfterOutage: '198.51.100.67',
};
const ATTACK = `/api/v1/services/search?q=${encodeURIComponent('1 AND 1=1')}`;
// 20 points a try (src/modules/security): the 5th reaches the default SECURITY_BLOCK_SCORE of 100.
const ATTACKS_TO_BLOCK = 5;

interface HealthReport {
  status: string;
  services?: Record<string, { status: string; error?: string }>;
}

const from = (ip: string, headers: Record<string, string> = {}) => ({ 'x-forwarded-for': ip, ...headers });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.skipIf(unavailable)('Redis lost', () => {
  let faults: FaultDeployment;
  let deployment: Deployment;
  let instance: Instance;
  let user: Account;
  let revoked: Account;
  let locked: Account;
  let rotatedRefreshToken: string;
  printLogsOnFailure(() => deployment?.instances ?? []);

  // A hang is cut off a second past the limit, so it shows as a measured latency, not a test timeout.
  const request = (method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, body?: unknown) =>
    send(instance.url, { method, path, headers, body }, { timeoutMs: MAX_LATENCY_MS + 1000 });
  const health = () =>
    instance.request<HealthReport>('GET', '/api/health', { token: deployment.healthToken, timeoutMs: 10_000 });
  const login = (account: Account, ip: string, password = account.password) =>
    request('POST', '/api/v1/auth/login', from(ip), { email: account.email, password });
  const attack = (ip: string) => request('GET', ATTACK, from(ip));

  beforeAll(async () => {
    faults = await createFaultDeployment();
    deployment = faults.deployment;
    instance = await deployment.start('A', {
      env: {
        REDIS_URL: faults.proxiedEnv.REDIS_URL as string,
        TRUST_PROXY: '1',
        RATE_LIMIT_ANON_MAX: String(ANON_BUDGET),
        // The lockout is the subject, not the progressive delay.
        LOGIN_DELAY_BASE_MS: '0',
      },
    });
    const admin = await makeAdmin(deployment, instance, await signUp(instance));
    [user, revoked, locked] = await Promise.all([signUp(instance), signUp(instance), signUp(instance)]);

    // An address blocked by an admin.
    const block = await instance.request('POST', '/api/v1/admin/security/blocks', {
      token: admin.token,
      json: { ip: IP.blocked, minutes: 60, reason: 'fault test: blocked before the outage' },
    });
    expect(block.status).toBe(201);
    expect((await request('GET', '/api/health/live', from(IP.blocked))).status).toBe(403);

    // An account locked by failed sign-ins.
    const failures: LoadResult[] = [];
    for (let i = 0; i < 6; i++) failures.push(await login(locked, IP.lockedOut, 'Wrong-passphrase-123456'));
    expect(failures.map(codeOf)).toContain('ACCOUNT_LOCKED');
    expect(codeOf(await login(locked, IP.lockedOut))).toBe('ACCOUNT_LOCKED');

    // A session ended by its owner.
    expect((await request('POST', '/api/v1/auth/logout', bearer(revoked.token))).status).toBe(200);

    // A refresh token rotated once (its successor is the live one).
    const refreshed = await request('POST', '/api/v1/auth/refresh', {}, { refresh_token: user.refreshToken });
    expect(refreshed.status).toBe(200);
    rotatedRefreshToken = user.refreshToken;

    // An address that used up its anonymous budget.
    for (let i = 0; i < ANON_BUDGET; i++) await request('GET', '/api/v1/categories', from(IP.limited));
    expect((await request('GET', '/api/v1/categories', from(IP.limited))).status).toBe(429);
  });

  afterAll(() => faults?.close());

  it('stopped: degraded, anonymous reads served, rate limits open, security state closed, recovery', async () => {
    await faults.redis.refuse();
    faults.redis.cut();
    const stoppedAt = performance.now();
    await waitFor(async () => (await health()).body.status === 'degraded', 'health to say degraded', {
      timeoutMs: 10_000,
      intervalMs: 200,
    });

    // A steady mix while the store is down: anonymous catalogue reads from many addresses and a
    // signed-in read.
    const load = startLoad({
      baseUrl: instance.url,
      concurrency: 6,
      timeoutMs: MAX_LATENCY_MS + 1000,
      next: (client, n) =>
        client % 2 === 0
          ? { method: 'GET', path: '/api/v1/me', headers: bearer(user.token) }
          : { method: 'GET', path: '/api/v1/categories', headers: from(`10.${client}.${(n >> 8) & 255}.${n & 255}`) },
    });

    const [report, ready, live, limited, blocked, lockedLogin, revokedToken, reusedRefresh, attacks] =
      await Promise.all([
        health(),
        request('GET', '/api/health/ready'),
        request('GET', '/api/health/live'),
        request('GET', '/api/v1/categories', from(IP.limited)),
        request('GET', '/api/health/live', from(IP.blocked)),
        login(locked, IP.lockedOut),
        request('GET', '/api/v1/me', bearer(revoked.token)),
        request('POST', '/api/v1/auth/refresh', {}, { refresh_token: rotatedRefreshToken }),
        Promise.all(Array.from({ length: ATTACKS_TO_BLOCK }, () => attack(IP.attackerDuringOutage))),
      ]);
    const attackerAfterwards = await request('GET', '/api/health/live', from(IP.attackerDuringOutage));
    await sleep(1500);
    const results = await load.stop();
    const anonymous = results.filter((r) => r.path === '/api/v1/categories');
    const signedIn = results.filter((r) => r.path === '/api/v1/me');
    const latencies = results.map((r) => r.ms);

    await faults.redis.pass();
    const passedAt = performance.now();
    const healthyAt = await waitFor(
      async () => ((await health()).body.status === 'healthy' ? performance.now() : undefined),
      'health to say healthy again',
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const [signedInAfter, lockedAfter] = await Promise.all([
      request('GET', '/api/v1/me', bearer(user.token)),
      login(locked, IP.lockedOut),
    ]);
    // The same attack after the outage, for contrast: the 5th try blocks the address.
    for (let i = 0; i < ATTACKS_TO_BLOCK; i++) await attack(IP.attackerAfterOutage);
    const controlAttacker = await request('GET', '/api/health/live', from(IP.attackerAfterOutage));

    const line = (r: LoadResult) => `${r.status ?? r.error}${codeOf(r) ? ` ${codeOf(r)}` : ''}`;
    console.log(
      `Redis stopped: health ${report.status} ${report.body.status} (cache ${report.body.services?.cache?.status}: ` +
        `${report.body.services?.cache?.error}), readiness ${ready.status} in ${ready.ms.toFixed(0)} ms, liveness ${live.status} in ${live.ms.toFixed(0)} ms; under load ${count(results.length)} requests ` +
        `in ${((performance.now() - stoppedAt) / 1000).toFixed(1)} s: anonymous reads ${outcomes(anonymous)}, ` +
        `signed-in reads ${outcomes(signedIn)}; p50 ${percentile(latencies, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms`,
    );
    console.log(
      `Redis stopped, security state: blocked address ${line(blocked)}; locked account's correct password ` +
        `${line(lockedLogin)}; revoked session's token ${line(revokedToken)}; rotated refresh token ` +
        `${line(reusedRefresh)}; address over its rate limit ${line(limited)} (fails open, documented)`,
    );
    console.log(
      `Redis stopped, escalation: ${ATTACKS_TO_BLOCK} attacks from one address answered ${outcomes(attacks)}, ` +
        `then that address got ${line(attackerAfterwards)} ` +
        `(${attackerAfterwards.status === 200 ? 'NOT blocked' : 'blocked: scores fall back to memory'}); ` +
        `the same attacks with Redis up: ${line(controlAttacker)}`,
    );
    console.log(
      `Redis back after ${((passedAt - stoppedAt) / 1000).toFixed(1)} s down: healthy ${(healthyAt - passedAt).toFixed(0)} ms ` +
        `later (same process); ` +
        `signed-in read ${line(signedInAfter)}; locked account ${line(lockedAfter)}`,
    );

    expect(report.status).toBe(200);
    expect(report.body.status).toBe('degraded');
    expect(report.body.services?.cache?.status).toBe('down');
    expect(report.body.services?.database?.status).toBe('up');
    expect(ready.status, 'an instance without Redis still takes traffic').toBe(200);
    // Served where safe.
    expect(outcomes(anonymous)).toMatch(/^200 ×\d+$/);
    expect(limited.status, 'rate limits fail open (src/plugins/rate-limit.ts)').toBe(200);
    // Never a 500, never an unanswered request, never a hang.
    expect(results.filter((r) => r.error !== undefined || (r.status ?? 0) === 500).map(line)).toEqual([]);
    expect(signedIn.filter((r) => !isSuccess(r) && codeOf(r) !== 'SERVICE_UNAVAILABLE').map(line)).toEqual([]);
    expect(Math.max(...latencies)).toBeLessThan(MAX_LATENCY_MS);
    // Security state fails closed.
    expect(line(blocked)).toBe('403 IP_BLOCKED');
    expect(lockedLogin.status, line(lockedLogin)).not.toBe(200);
    expect([423, 503]).toContain(lockedLogin.status);
    expect([401, 503]).toContain(revokedToken.status);
    expect([401, 503]).toContain(reusedRefresh.status);
    expect(attacks.map(line)).toEqual(Array(ATTACKS_TO_BLOCK).fill('403 REQUEST_REJECTED'));
    // Attacks still escalate: the instance scores them in memory while Redis is gone.
    expect(line(attackerAfterwards)).toBe('403 IP_BLOCKED');
    // Back to normal, same process; the lock set before the outage is still there.
    expect(instance.running()).toBe(true);
    expect(signedInAfter.status).toBe(200);
    expect(line(lockedAfter)).toBe('423 ACCOUNT_LOCKED');
    expect(line(controlAttacker)).toBe('403 IP_BLOCKED');
  });

  it('hung: requests and probes still answer within 5 s while Redis accepts but never replies', async () => {
    await faults.redis.blackhole();
    const checks = {
      'anonymous read': request('GET', '/api/v1/categories', from('10.200.0.1')),
      'signed-in read': request('GET', '/api/v1/me', bearer(user.token)),
      'blocked address': request('GET', '/api/health/live', from(IP.blocked)),
      liveness: request('GET', '/api/health/live', from('10.200.0.2')),
      readiness: request('GET', '/api/health/ready', from('10.200.0.3')),
      health: request('GET', '/api/health', bearer(deployment.healthToken)),
    };
    const answers = Object.fromEntries(
      await Promise.all(Object.entries(checks).map(async ([name, answer]) => [name, await answer] as const)),
    );
    await faults.redis.pass();
    console.log(
      `Redis hung: ${Object.entries(answers)
        .map(
          ([name, r]) => `${name} ${r.status ?? r.error}${codeOf(r) ? ` ${codeOf(r)}` : ''} in ${r.ms.toFixed(0)} ms`,
        )
        .join(', ')}`,
    );
    expect(
      Object.entries(answers)
        .filter(([, r]) => r.ms >= MAX_LATENCY_MS)
        .map(([name, r]) => `${name}: ${r.error ?? r.status} after ${r.ms.toFixed(0)} ms`),
    ).toEqual([]);
    expect(answers['anonymous read']?.status).toBe(200);
    expect([200, 503]).toContain(answers['signed-in read']?.status);
    expect(answers['blocked address']?.status).toBe(403);
    expect(answers.liveness?.status).toBe(200);
    expect(answers.readiness?.status).toBe(200);
    expect((answers.health?.body as HealthReport | undefined)?.status).toBe('degraded');
  });
});
