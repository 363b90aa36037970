/**
 * OWASP API4:2023 Unrestricted Resource Consumption. What one request may ask for is bounded, and
 * going over answers 4xx, never 500: bodies over the limit (413), pages over 100 items (every
 * documented `limit`, walked over the OpenAPI document), analytics batches over 500 events, very
 * long strings and deeply nested JSON (400). How often one may ask is bounded too: anonymous,
 * signed-in and sensitive budgets answer 429 with RateLimit-* and Retry-After, unknown routes
 * included. And the expensive part of a sign-in, argon2, is a queue: with one hash at a time and
 * two waiting, a burst of 20 sign-ins gets 503 SERVICE_UNAVAILABLE with Retry-After for the rest
 * while the liveness probe keeps answering during the burst.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { can } from '../../src/shared/permissions.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const ANON_MAX = 10;
const SENSITIVE_MAX = 4;
const USER_MAX = 300;
const clock = createTestClock(new Date('2026-11-23T10:00:00.000Z'));
let t: TestApp;
let admin: TestUser;
let user: TestUser;
let provider: TestUser;
let address = 10;
/** Every test asks from its own address, so anonymous budgets never add up across tests. */
const nextIp = () => `203.0.113.${address++}`;

beforeAll(async () => {
  t = await buildTestApp({
    clock,
    env: {
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_ANON_MAX: String(ANON_MAX),
      RATE_LIMIT_USER_MAX: String(USER_MAX),
      // The three sign-ups and sign-ins from 127.0.0.1 below fit; a fifth of either would not.
      RATE_LIMIT_SENSITIVE_MAX: String(SENSITIVE_MAX),
      RATE_LIMIT_WINDOW_MS: '60000',
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_QUEUE: '2',
    },
  });
  admin = await createUser(t.app, { role: 'admin' });
  provider = await createUser(t.app, { role: 'provider' });
  user = await createUser(t.app);
});

afterAll(async () => {
  await t?.close();
});

const expectValidation = (response: { statusCode: number; body: string }, field: string, where = field) => {
  expect(response.statusCode, `${where}: ${response.body.slice(0, 300)}`).toBe(400);
  const body = JSON.parse(response.body);
  expect(body.code, where).toBe('VALIDATION_ERROR');
  expect(
    (body.details as { field: string }[]).map((detail) => detail.field),
    where,
  ).toContain(field);
};

describe('request size', () => {
  it('refuses a body over 1 MiB with 413 PAYLOAD_TOO_LARGE, signed in or not', async () => {
    const big = 'x'.repeat(1_100_000);
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: { email: 'big@example.test', password: big },
      remoteAddress: nextIp(),
    });
    expect(anonymous.statusCode).toBe(413);
    expect(anonymous.json().code).toBe('PAYLOAD_TOO_LARGE');
    const signedIn = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { name: big },
    });
    expect(signedIn.statusCode).toBe(413);
    expect(signedIn.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses very long strings with 400 naming the field, before any work is done on them', async () => {
    const long = 'a'.repeat(100_000);
    expectValidation(
      await t.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: user.headers, payload: { name: long } }),
      'body.name',
    );
    // A 100 kB password would cost argon2 (and the account lock) for nothing: refused by its length.
    expectValidation(
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: long },
        remoteAddress: nextIp(),
      }),
      'body.password',
    );
    expectValidation(
      await t.app.inject({
        method: 'GET',
        url: `/api/v1/services/search?q=${long.slice(0, 5000)}`,
        remoteAddress: nextIp(),
      }),
      'query.q',
    );
    const path = await t.app.inject({
      method: 'GET',
      url: `/api/v1/bookings/${long.slice(0, 5000)}`,
      headers: user.headers,
    });
    // Longer than any route parameter may be: refused by the router itself, still a 400.
    expect(path.statusCode, path.body).toBe(400);
    expect(['BAD_REQUEST', 'VALIDATION_ERROR']).toContain(path.json().code);
  });

  it('refuses deeply nested JSON with 400, not 500', async () => {
    for (const depth of [1000, 100_000]) {
      const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const objects = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      for (const [kind, nested] of [
        ['arrays', arrays],
        ['objects', objects],
      ]) {
        const events = await t.app.inject({
          method: 'POST',
          url: '/api/v1/events',
          headers: { 'content-type': 'application/json' },
          payload: `{"events":[${nested}]}`,
          remoteAddress: nextIp(),
        });
        const where = `${kind} ${depth} deep: ${events.body.slice(0, 200)}`;
        expect(events.statusCode, where).toBeLessThan(500);
        expect([400, 202], where).toContain(events.statusCode);
        const me = await t.app.inject({
          method: 'PATCH',
          url: '/api/v1/me',
          headers: { ...user.headers, 'content-type': 'application/json' },
          payload: `{"name":${nested}}`,
        });
        expect(me.statusCode, `PATCH /me ${kind} ${depth}: ${me.body.slice(0, 200)}`).toBe(400);
      }
    }
    // The app is still well.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers })).statusCode).toBe(200);
  });
});

describe('how much one request may ask for', () => {
  it('every documented `limit` stops at 100: 101 answers 400 naming query.limit, 100 is served', async () => {
    const spec = t.app.swagger() as {
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; in: string; schema: { maximum?: number } }[] }>
      >;
    };
    const rules = new Map(t.app.guardedRoutes.map((route) => [`${route.method} ${route.url}`, route.rule]));
    const limited = Object.entries(spec.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(
          ([method, operation]) =>
            method === 'get' && operation.parameters?.some((p) => p.in === 'query' && p.name === 'limit'),
        )
        .map(([, operation]) => ({
          path,
          maximum: operation.parameters?.find((p) => p.name === 'limit')?.schema.maximum,
        })),
    );
    expect(limited.length).toBeGreaterThan(10);
    for (const { path, maximum } of limited) {
      expect(maximum, `${path} documents its largest page`).toBeLessThanOrEqual(100);
      const rule = rules.get(`GET ${path.replace(/\{(\w+)\}/g, ':$1')}`);
      const caller = !rule
        ? undefined
        : [user, provider, admin].find(
            (candidate) =>
              (!rule.roles || rule.roles.includes(candidate.role)) &&
              (!rule.permission || can(candidate.role, rule.permission)),
          );
      const url = path.replace(/\{(\w+)\}/g, () => randomUUID());
      for (const limit of ['101', '100000', '0', '-1']) {
        const response = await t.app.inject({
          method: 'GET',
          url: `${url}?limit=${limit}`,
          headers: caller?.headers ?? {},
          remoteAddress: nextIp(),
        });
        expectValidation(response, 'query.limit', `GET ${path}?limit=${limit}`);
      }
    }
    const full = await t.app.inject({ method: 'GET', url: '/api/v1/admin/users?limit=100', headers: admin.headers });
    expect(full.statusCode).toBe(200);
  });

  const clientViews = async () =>
    (
      await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from product_events where name = 'content_viewed' and source = 'client'`,
      )
    )[0]?.n;

  it('takes at most 500 analytics events a request: 501 answers 400 and nothing is stored', async () => {
    const event = (i: number) => ({
      name: 'content_viewed',
      time: clock.now().toISOString(),
      device_id: `batch-device-${i}`,
      properties: { content_id: randomUUID() },
    });
    const over = await t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: { events: Array.from({ length: 501 }, (_, i) => event(i)) },
      remoteAddress: nextIp(),
    });
    expectValidation(over, 'body.events');
    expect(await clientViews()).toBe(0);
    const at = await t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      payload: { events: Array.from({ length: 500 }, (_, i) => event(i)) },
      remoteAddress: nextIp(),
    });
    expect(at.statusCode, at.body.slice(0, 200)).toBe(202);
    expect(at.json().data.accepted).toBe(500);
    expect(await clientViews()).toBe(500);
  });
});

describe('how often one may ask', () => {
  it('an anonymous address gets its budget, then 429 RATE_LIMITED with RateLimit-* and Retry-After; unknown routes count', async () => {
    const ip = nextIp();
    const remaining: string[] = [];
    for (let i = 0; i < ANON_MAX; i++) {
      // Half on a route, half on no route at all: a scanner's 404s are not free.
      const response = await t.app.inject({
        method: 'GET',
        url: i % 2 ? '/api/v1/categories' : '/api/v1/no-such-route',
        remoteAddress: ip,
      });
      expect([200, 404]).toContain(response.statusCode);
      remaining.push(response.headers['ratelimit-remaining'] as string);
    }
    expect(remaining).toEqual(Array.from({ length: ANON_MAX }, (_, i) => String(ANON_MAX - 1 - i)));
    const limited = await t.app.inject({ method: 'GET', url: '/api/v1/categories', remoteAddress: ip });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('RATE_LIMITED');
    expect(limited.headers['ratelimit-limit']).toBe(String(ANON_MAX));
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Someone else is served.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/categories', remoteAddress: nextIp() })).statusCode).toBe(
      200,
    );
  });

  it('sensitive routes have a tighter budget per address, refused before the body is even looked at', async () => {
    const ip = nextIp();
    const statuses: number[] = [];
    for (let i = 0; i <= SENSITIVE_MAX; i++) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password-reset/request',
        payload: { email: `someone-${i}@example.test` },
        remoteAddress: ip,
      });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        expect(response.headers['ratelimit-limit']).toBe(String(SENSITIVE_MAX));
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([...Array(SENSITIVE_MAX).fill(202), 429]);
    // Sign-in from that address is another sensitive route with its own budget; a bad body still spends it.
    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {}, remoteAddress: ip });
    expect(login.statusCode).toBe(400);
  });

  it('a signed-in person is limited per account, whatever address they come from', async () => {
    const [first, second] = [nextIp(), nextIp()];
    const a = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers, remoteAddress: first });
    const b = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers, remoteAddress: second });
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(a.headers['ratelimit-limit']).toBe(String(USER_MAX));
    // One budget: the second address continued the first's count.
    expect(Number(b.headers['ratelimit-remaining'])).toBe(Number(a.headers['ratelimit-remaining']) - 1);
  });
});

describe('password hashing is a queue, not a pile-up', () => {
  // Last in the file: PASSWORD_HASH_CONCURRENCY=1 makes every sign-in here wait its turn.
  it('20 sign-ins at once: the ones over the queue get 503 with Retry-After; liveness answers during the burst', async () => {
    let settled = 0;
    const logins = Array.from({ length: 20 }, (_, i) =>
      t.app
        .inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: `burst-${i}@example.test`, password: 'Not-a-real-password-123' },
          remoteAddress: `192.0.2.${100 + i}`,
        })
        .then((response) => {
          settled += 1;
          return response;
        }),
    );
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live', remoteAddress: nextIp() });
    const settledWhenLiveAnswered = settled;
    const answers = await Promise.all(logins);

    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ success: true, status: 'alive' });
    // Liveness did not wait for the hashes: sign-ins were still being checked when it answered.
    expect(settledWhenLiveAnswered).toBeLessThan(20);

    const statuses = answers.map((response) => response.statusCode);
    const busy = answers.filter((response) => response.statusCode === 503);
    expect(busy.length, JSON.stringify(statuses)).toBeGreaterThan(0);
    for (const response of busy) {
      expect(response.json().code).toBe('SERVICE_UNAVAILABLE');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    }
    // The ones that got a turn were checked and refused as usual; nothing else happened.
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThan(0);
    expect(
      statuses.every((status) => status === 401 || status === 503),
      JSON.stringify(statuses),
    ).toBe(true);
  });
});
