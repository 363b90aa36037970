import { afterEach, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const HEALTH_TOKEN = 'monitor-token-0123456789';
const monitor = { authorization: `Bearer ${HEALTH_TOKEN}` };

import { servicesMode } from '../helpers/database.js';

describe('health', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it('reports healthy with each service and its latency', async () => {
    const t = await buildTestApp({ env: { HEALTH_TOKEN } });
    apps.push(t);
    const res = await t.app.inject({ method: 'GET', url: '/api/health', headers: monitor });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      success: true,
      status: 'healthy',
      services: {
        database: { status: 'up', kind: servicesMode ? 'postgres' : 'pglite' },
        cache: { status: 'up' },
      },
      version: expect.any(String),
    });
    expect(body.services.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.uptime).toBeGreaterThanOrEqual(0);
    expect(body.memory.heap_used).toBeGreaterThan(0);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('is critical with 503 when the database is down, and not ready', async () => {
    const t = await buildTestApp({ env: { HEALTH_TOKEN } });
    apps.push(t);
    await t.database.close();
    const res = await t.app.inject({ method: 'GET', url: '/api/health', headers: monitor });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      success: false,
      status: 'critical',
      services: { database: { status: 'down' } },
    });
    const ready = await t.app.inject({ method: 'GET', url: '/api/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready', reason: 'database unreachable' });
    // Liveness is about the process, not its dependencies.
    expect((await t.app.inject({ method: 'GET', url: '/api/health/live' })).statusCode).toBe(200);
  });

  it('is degraded (still 200) when Redis is configured but down', async () => {
    // Nothing listens on port 1.
    const t = await buildTestApp({ env: { HEALTH_TOKEN }, kv: createRedisStore('redis://127.0.0.1:1') });
    apps.push(t);
    const res = await t.app.inject({ method: 'GET', url: '/api/health', headers: monitor });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      success: true,
      status: 'degraded',
      services: { cache: { status: 'down', kind: 'redis' } },
    });
    expect((await t.app.inject({ method: 'GET', url: '/api/health/ready' })).statusCode).toBe(200);
  });

  it('shows components only to a monitor with HEALTH_TOKEN (or an admin); others get the status alone', async () => {
    const t = await buildTestApp({ env: { HEALTH_TOKEN } });
    apps.push(t);
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/health' });
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.json()).toEqual({ success: true, status: 'healthy' });
    const wrong = await t.app.inject({ method: 'GET', url: '/api/health', headers: { authorization: 'Bearer nope' } });
    expect(wrong.json()).toEqual({ success: true, status: 'healthy' });
    const withToken = await t.app.inject({ method: 'GET', url: '/api/health', headers: monitor });
    expect(withToken.json().services.database.status).toBe('up');
  });

  it('answers liveness and readiness, and readiness turns false while draining', async () => {
    const t = await buildTestApp({ env: { HEALTH_TOKEN } });
    apps.push(t);
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live' });
    expect(live.json()).toEqual({ success: true, status: 'alive' });
    const ready = await t.app.inject({ method: 'GET', url: '/api/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ success: true, status: 'ready' });
    t.app.platform.lifecycle.draining = true;
    const draining = await t.app.inject({ method: 'GET', url: '/api/health/ready' });
    expect(draining.statusCode).toBe(503);
    expect(draining.json()).toMatchObject({ status: 'not_ready', reason: 'shutting down' });
  });
});
