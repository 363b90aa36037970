import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const bigPayload = {
  success: true,
  data: Array.from({ length: 200 }, (_, i) => ({ id: i, text: `item number ${i}` })),
};

describe('security headers, CORS, compression, ETag', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({
      env: { CORS_ORIGINS: 'https://app.example.com' },
      extend: (app) => {
        app.get('/test/big', async () => bigPayload);
        app.get('/test/small', async () => ({ success: true, data: 'tiny' }));
        app.post('/test/big', async () => bigPayload);
      },
    });
  });
  afterAll(() => t.close());

  it.each(['/api/health/live', '/nope', '/test/small'])('sets the security headers on %s', async (url) => {
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-correlation-id']).toBeTruthy();
  });

  it('allows listed origins with credentials and refuses others', async () => {
    const allowed = await t.app.inject({
      method: 'OPTIONS',
      url: '/test/small',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');

    const other = await t.app.inject({
      method: 'GET',
      url: '/test/small',
      headers: { origin: 'https://evil.example.com' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('compresses bodies above 1 KiB with brotli or gzip, and leaves small ones alone', async () => {
    const br = await t.app.inject({ method: 'GET', url: '/test/big', headers: { 'accept-encoding': 'br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(JSON.parse(brotliDecompressSync(br.rawPayload).toString())).toEqual(bigPayload);

    const gz = await t.app.inject({ method: 'GET', url: '/test/big', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(gz.rawPayload).toString())).toEqual(bigPayload);

    const small = await t.app.inject({ method: 'GET', url: '/test/small', headers: { 'accept-encoding': 'gzip, br' } });
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('sends an ETag on GET and answers 304 to a matching If-None-Match, whatever the encoding', async () => {
    const first = await t.app.inject({ method: 'GET', url: '/test/big' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const gz = await t.app.inject({ method: 'GET', url: '/test/big', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.etag).toBe(etag);

    const again = await t.app.inject({ method: 'GET', url: '/test/big', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const listed = await t.app.inject({
      method: 'GET',
      url: '/test/big',
      headers: { 'if-none-match': `"other", W/${etag}` },
    });
    expect(listed.statusCode).toBe(304);

    const stale = await t.app.inject({ method: 'GET', url: '/test/big', headers: { 'if-none-match': '"stale"' } });
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toEqual(bigPayload);
  });

  it('sends no ETag on non-GET responses, errors or no-store probes', async () => {
    const post = await t.app.inject({ method: 'POST', url: '/test/big', payload: {} });
    expect(post.headers.etag).toBeUndefined();
    const missing = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(missing.headers.etag).toBeUndefined();
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live' });
    expect(live.headers.etag).toBeUndefined();
  });
});

describe('CORS with a wildcard', () => {
  it('never combines * with credentials', async () => {
    const t = await buildTestApp({ env: { CORS_ORIGINS: '*' } });
    try {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/health/live',
        headers: { origin: 'https://x.example' },
      });
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
