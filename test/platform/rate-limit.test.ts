import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { errorHandlerPlugin } from '../../src/plugins/error-handler.js';
import { rateLimitPlugin } from '../../src/plugins/rate-limit.js';
import { buildTestApp, createTestClock, type TestApp, testRedisUrl } from '../helpers/app.js';

const limited = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_ANON_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000' };

describe('rate limiting in the app', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it('gives an anonymous IP its budget, then 429 RATE_LIMITED with RateLimit-* and Retry-After', async () => {
    const clock = createTestClock();
    const t = await buildTestApp({ env: limited, clock, kv: createMemoryStore(clock) });
    apps.push(t);
    const ip = '203.0.113.7';
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: ip });
      expect(res.statusCode).toBe(404); // unknown routes spend the budget too
      remaining.push(res.headers['ratelimit-remaining'] as string);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    const rejected = await t.app.inject({ method: 'GET', url: '/docs/json', remoteAddress: ip });
    expect(rejected.statusCode).toBe(429);
    expect(rejected.json()).toMatchObject({ success: false, code: 'RATE_LIMITED' });
    expect(rejected.headers['ratelimit-limit']).toBe('5');
    expect(rejected.headers['ratelimit-remaining']).toBe('0');
    expect(Number(rejected.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(rejected.headers['retry-after'])).toBeLessThanOrEqual(60);

    // Another IP has its own budget.
    const other = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '198.51.100.1' });
    expect(other.statusCode).toBe(404);

    // The rejection is counted.
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.2' });
    expect(metrics.body).toMatch(/rate_limit_rejections_total\{preset="default"\} 1/);

    // The window passes: the budget is back.
    clock.advance(61_000);
    const later = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: ip });
    expect(later.statusCode).toBe(404);
    expect(later.headers['ratelimit-remaining']).toBe('4');
  });

  it('gives health probes ten times the anonymous budget', async () => {
    const t = await buildTestApp({ env: limited });
    apps.push(t);
    for (let i = 0; i < 50; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/api/health/live', remoteAddress: '192.0.2.9' });
      expect(res.statusCode).toBe(200);
    }
    const res = await t.app.inject({ method: 'GET', url: '/api/health/live', remoteAddress: '192.0.2.9' });
    expect(res.statusCode).toBe(429);
  });

  it('does nothing when turned off', async () => {
    const t = await buildTestApp({ env: { ...limited, RATE_LIMIT_ENABLED: 'false' } });
    apps.push(t);
    for (let i = 0; i < 8; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/nope' });
      expect(res.statusCode).toBe(404);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });

  it('shares one budget between two app instances on one store', async () => {
    const prefix = `test:shared:${randomBytes(4).toString('hex')}:`;
    const sharedKv = testRedisUrl ? undefined : createMemoryStore({ now: () => new Date() });
    const first = await buildTestApp({ env: limited, redisPrefix: prefix, kv: sharedKv });
    apps.push(first);
    const second = await buildTestApp({ env: limited, redisPrefix: prefix, kv: sharedKv });
    apps.push(second);
    expect(first.kv.kind).toBe(testRedisUrl ? 'redis' : 'memory');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = i % 2 === 0 ? first : second;
      const res = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '203.0.113.50' });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
  });
});

describe('rate-limit presets', () => {
  async function presetApp(env: { sensitiveMax?: number; userMax?: number; anonMax?: number }) {
    const app = Fastify();
    // Stands in for authentication, which runs before the limiter and sets request.actor.
    app.addHook('onRequest', async (request) => {
      const user = request.headers['x-user'];
      if (typeof user === 'string') {
        request.actor = { id: user, role: 'user', sessionId: 's', ip: request.ip, correlationId: request.id };
      }
    });
    await app.register(errorHandlerPlugin);
    await app.register(rateLimitPlugin, {
      options: {
        enabled: true,
        windowMs: 60_000,
        anonMax: env.anonMax ?? 100,
        userMax: env.userMax ?? 100,
        sensitiveMax: env.sensitiveMax ?? 100,
      },
      kv: createMemoryStore({ now: () => new Date() }),
      metrics: createMetrics(),
      logger: createLogger({ level: 'silent' }),
    });
    app.post('/login', { config: { rateLimit: 'sensitive' } }, async () => ({ ok: true }));
    app.get('/open', { config: { rateLimit: false } }, async () => ({ ok: true }));
    app.get('/me', async () => ({ ok: true }));
    await app.ready();
    return app;
  }

  it('budgets a signed-in caller per user, not per IP', async () => {
    const app = await presetApp({ anonMax: 2, userMax: 4 });
    const codes = [];
    for (let i = 0; i < 5; i++) {
      // Same user from a different address each time: still one budget.
      const res = await app.inject({ url: '/me', headers: { 'x-user': 'u1' }, remoteAddress: `10.0.0.${i + 1}` });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 200, 429]);
    const otherUser = await app.inject({ url: '/me', headers: { 'x-user': 'u2' }, remoteAddress: '10.0.0.1' });
    expect(otherUser.statusCode).toBe(200);
    expect(otherUser.headers['ratelimit-limit']).toBe('4');
    await app.close();
  });

  it('applies the tighter sensitive budget on top of the default one', async () => {
    const app = await presetApp({ sensitiveMax: 3 });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await app.inject({ method: 'POST', url: '/login' })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    // Only the sensitive route is exhausted.
    expect((await app.inject({ url: '/me' })).statusCode).toBe(200);
    await app.close();
  });

  it('leaves routes with rateLimit: false alone', async () => {
    const app = await presetApp({ anonMax: 1 });
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: '/open' })).statusCode).toBe(200);
    await app.close();
  });

  it('lets requests through when the store is down', async () => {
    const app = Fastify();
    await app.register(errorHandlerPlugin);
    await app.register(rateLimitPlugin, {
      options: { enabled: true, windowMs: 60_000, anonMax: 1, userMax: 1, sensitiveMax: 1 },
      // Nothing listens on port 1: every increment fails.
      kv: createRedisStore('redis://127.0.0.1:1'),
      metrics: createMetrics(),
      logger: createLogger({ level: 'silent' }),
    });
    app.get('/me', async () => ({ ok: true }));
    app.post('/login', { config: { rateLimit: 'sensitive' } }, async () => ({ ok: true }));
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ url: '/me' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
    // Routes that spend two budgets are served too.
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'POST', url: '/login' })).statusCode).toBe(200);
    await app.close();
  });
});
