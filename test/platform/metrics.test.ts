import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('GET /metrics', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it('exposes request, database, event-loop, process, rate-limit and cache metrics in Prometheus text', async () => {
    const t = await buildTestApp();
    apps.push(t);
    await t.app.inject({ method: 'GET', url: '/api/health' });
    await t.app.inject({ method: 'GET', url: '/nope' });
    t.app.platform.metrics.cacheRequests.inc({ cache: 'example', result: 'hit' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/api\/health",status_code="200"\} 1/,
    );
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1/);
    expect(text).toMatch(/http_requests_in_flight 1/); // this very request
    expect(text).toMatch(/db_query_duration_seconds_count\{operation="select"\} [1-9]/);
    expect(text).toMatch(/nodejs_eventloop_lag_p99_seconds /);
    expect(text).toMatch(/process_resident_memory_bytes /);
    expect(text).toContain('# TYPE rate_limit_rejections_total counter');
    expect(text).toMatch(/cache_requests_total\{cache="example",result="hit"\} 1/);
    expect(text).toContain('# TYPE outbox_messages_total counter');
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const token = 'metrics-secret-0123456789';
    const t = await buildTestApp({ env: { METRICS_TOKEN: token } });
    apps.push(t);
    const none = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('UNAUTHORIZED');
    const wrong = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    const right = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
    expect(right.statusCode).toBe(200);
    expect(right.body).toContain('http_request_duration_seconds');
  });
});
