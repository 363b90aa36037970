import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { literals, Nullable } from '../../src/shared/http-schemas.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('error envelope and correlation ids', () => {
  let t: TestApp;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    t = await buildTestApp({
      logLines,
      env: { BODY_LIMIT_BYTES: '2048' },
      extend: (app) => {
        app.post(
          '/test/echo',
          {
            schema: {
              body: Type.Object(
                {
                  email: Type.String({ format: 'email' }),
                  age: Type.Integer({ minimum: 0 }),
                  nested: Type.Optional(Type.Object({ value: Type.String({ minLength: 2 }) })),
                },
                { additionalProperties: false },
              ),
            },
          },
          async (request) => ({ success: true, data: request.body }),
        );
        // Unions as the modules write them: a nullable enum, a choice of object shapes, codes in a list.
        app.post(
          '/test/unions',
          {
            schema: {
              body: Type.Object(
                {
                  tier: Nullable(literals(['free', 'trial', 'premium'])),
                  window: Type.Optional(
                    Type.Union([
                      Type.Object({ closed: Type.Literal(true) }, { additionalProperties: false }),
                      Type.Object(
                        { start: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }) },
                        { additionalProperties: false },
                      ),
                    ]),
                  ),
                  countries: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }))),
                  code: Type.Optional(Type.String({ pattern: '^[A-Za-z]{4}[0-9]$' })),
                  market: Type.Optional(Type.Union([Type.String({ pattern: '^[A-Z]{2}$' }), Type.Literal('any')])),
                },
                { additionalProperties: false },
              ),
            },
          },
          async (request) => ({ success: true, data: request.body }),
        );
        app.get('/test/boom', async () => {
          throw new Error('relation "secret_table" does not exist at /srv/app/src/repo.ts:42');
        });
        app.get('/test/conflict', async () => {
          throw new AppError('CONFLICT', 'Already exists');
        });
      },
    });
  });
  afterAll(() => t.close());

  it('answers unknown routes with 404 NOT_FOUND in the envelope, carrying the correlation id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    const body = res.json();
    expect(body).toMatchObject({ success: false, code: 'NOT_FOUND' });
    expect(body.correlation_id).toBe(res.headers['x-correlation-id']);
    expect(body.correlation_id).toMatch(/^req_[0-9a-z]+_[0-9a-f]{12}$/);
  });

  it('keeps a well-formed inbound correlation id and replaces a malformed one', async () => {
    const kept = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-correlation-id': 'lb-1234abcd' } });
    expect(kept.headers['x-correlation-id']).toBe('lb-1234abcd');
    expect(kept.json().correlation_id).toBe('lb-1234abcd');
    const replaced = await t.app.inject({
      method: 'GET',
      url: '/nope',
      headers: { 'x-correlation-id': 'bad id with spaces; drop table' },
    });
    expect(replaced.headers['x-correlation-id']).toMatch(/^req_/);
  });

  it('lists every bad field of a validation error', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      payload: { email: 'not-an-email', age: -1, nested: { value: 'x' }, role: 'admin' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_ERROR');
    const fields = body.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(['body.age', 'body.email', 'body.nested.value', 'body.role']);
    expect(body.details.find((d: { field: string }) => d.field === 'body.role').message).toBe(
      'is not an accepted field',
    );
  });

  it('reports a missing required field by name', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', payload: { age: 3 } });
    expect(res.json().details).toEqual([{ field: 'body.email', message: 'is required' }]);
  });

  describe('a union answers once, saying what to send', () => {
    const post = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/test/unions', payload });

    it('an enum, nullable or not, lists its values whatever kind of value was sent', async () => {
      for (const tier of ['gold', 5, true, {}]) {
        const res = await post({ tier });
        expect(res.statusCode).toBe(400);
        expect(res.json().details).toEqual([
          { field: 'body.tier', message: 'must be one of: free, trial, premium (or null)' },
        ]);
      }
    });

    it('a choice of objects answers with the shape the value was closest to', async () => {
      const hours = await post({ tier: null, window: { start: '25:00' } });
      expect(hours.json().details).toEqual([
        { field: 'body.window.start', message: 'must be a time of day HH:MM, 00:00 to 23:59' },
      ]);
      const closed = await post({ tier: null, window: { closed: false } });
      expect(closed.json().details).toEqual([{ field: 'body.window.closed', message: 'must be true' }]);
      const scalar = await post({ tier: null, window: 'x' });
      expect(scalar.json().details).toEqual([{ field: 'body.window', message: 'must be an object' }]);
    });

    it('names an unknown pattern as it is, and normalises country codes in a list', async () => {
      const res = await post({ tier: 'free', countries: ['gb', 'G1'], code: 'x' });
      expect(res.json().details).toEqual([
        { field: 'body.countries.1', message: 'must be a two-letter ISO 3166-1 country code, e.g. GB' },
        { field: 'body.code', message: 'must match the pattern ^[A-Za-z]{4}[0-9]$' },
      ]);
      const ok = await post({ tier: 'free', countries: ['gb', 'Ke'] });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json().data.countries).toEqual(['GB', 'KE']);
    });

    it('leaves the case alone where another branch could take the value as sent', async () => {
      const any = await post({ tier: 'free', market: 'any' });
      expect(any.statusCode, any.body).toBe(200);
      expect(any.json().data.market).toBe('any');
      const lower = await post({ tier: 'free', market: 'gb' });
      expect(lower.json().details).toEqual([
        { field: 'body.market', message: 'must be a two-letter ISO 3166-1 country code, e.g. GB (or any)' },
      ]);
    });
  });

  it('rejects malformed JSON with 400 INVALID_JSON', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_JSON');
  });

  it('rejects a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      payload: { email: 'a@b.co', age: 1, nested: { value: 'x'.repeat(4096) } },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('rejects an unsupported media type with 415', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('never leaks internals from a 5xx, but logs them', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/boom' });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toEqual({
      success: false,
      message: 'Internal server error',
      code: 'INTERNAL_ERROR',
      correlation_id: res.headers['x-correlation-id'],
    });
    expect(res.body).not.toContain('secret_table');
    expect(res.body).not.toContain('repo.ts');
    const logged = logLines.find((line) => line.correlation_id === body.correlation_id && line.level === 'error');
    expect(JSON.stringify(logged)).toContain('secret_table');
  });

  it('maps an AppError to its status', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ success: false, code: 'CONFLICT', message: 'Already exists' });
  });
});

describe('errors raised before routing', () => {
  it('answers a malformed URL in the envelope with a correlation id', async () => {
    const t = await buildTestApp();
    try {
      const res = await t.app.inject({ method: 'GET', url: '/api/%zz' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ success: false, code: 'BAD_REQUEST' });
      expect(res.json().correlation_id).toBeTruthy();
    } finally {
      await t.close();
    }
  });
});
