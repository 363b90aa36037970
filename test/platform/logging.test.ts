import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redact } from '../../src/infra/logger.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('request logging', () => {
  let t: TestApp;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    t = await buildTestApp({
      logLines: lines,
      extend: (app) => {
        app.post('/test/login', async (request) => {
          request.log.info({ body: request.body, headers: request.headers }, 'login attempt');
          return { success: true };
        });
      },
    });
  });
  afterAll(() => t.close());

  it('writes one JSON line per finished request with correlation id, method, route, status and duration', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/health/live?probe=1' });
    const finished = lines.filter(
      (l) => l.msg === 'request finished' && l.correlation_id === res.headers['x-correlation-id'],
    );
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/api/health/live',
      path: '/api/health/live',
      status: 200,
    });
    expect(typeof finished[0]?.duration_ms).toBe('number');
    expect(typeof finished[0]?.time).toBe('number');
  });

  it('masks an email address in the request path of the request line', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/unknown/jane@example.com' });
    const line = lines.find(
      (l) => l.msg === 'request finished' && l.correlation_id === res.headers['x-correlation-id'],
    );
    expect(line).toMatchObject({ level: 'info', status: 404 });
    expect(line?.path).toContain('[redacted]');
    expect(JSON.stringify(line)).not.toContain('jane@example.com');
  });

  it('escapes a request path that would break the JSON line', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/unknown/%22quote%5C' });
    const line = lines.find(
      (l) => l.msg === 'request finished' && l.correlation_id === res.headers['x-correlation-id'],
    );
    expect(line?.path).toBe('/api/v1/unknown/%22quote%5C');
  });

  it('redacts credentials, tokens, email and phone at any depth', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/test/login',
      headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=s3cr3t' },
      payload: {
        email: 'jane@example.com',
        password: 'hunter2hunter2',
        profile: { phone: '+447700900123', note: 'reach me at jane.doe@example.org please' },
        tokens: [{ refresh_token: 'rt-123' }],
      },
    });
    const line = lines.find((l) => l.msg === 'login attempt');
    const text = JSON.stringify(line);
    for (const secret of [
      'abc.def.ghi',
      's3cr3t',
      'jane@example.com',
      'hunter2',
      '+447700900123',
      'jane.doe@example.org',
      'rt-123',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(text).toContain('reach me at');
  });

  it('redact() leaves ordinary values alone', () => {
    expect(redact({ a: 1, b: 'plain', c: [true, null], d: { route: '/x' } })).toEqual({
      a: 1,
      b: 'plain',
      c: [true, null],
      d: { route: '/x' },
    });
  });
});
