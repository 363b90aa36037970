/**
 * OWASP API8:2023 Security Misconfiguration, on the production configuration. Every kind of
 * answer (success, each client error, a server error, the docs, the admin dashboard) carries the
 * security headers and no X-Powered-By; token answers are not cacheable; CORS gives no foreign
 * origin access unless configured; error bodies never carry a stack trace, a file path or SQL,
 * also when the database itself fails; and what operators need but attackers want stays closed by
 * default: /docs and /docs/json are 404 unless DOCS_ENABLED=true, /metrics is 404 without
 * METRICS_TOKEN and 401 without the token, and /api/health names its components only to an admin
 * or HEALTH_TOKEN.
 */
import { sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const JWT_SECRET = 'api8-misconfiguration-secret-0123456789abcdef';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const HEALTH_TOKEN = 'health-token-0123456789abcdef';
/** Production as deployed by someone who turned the docs on and set the monitoring tokens. */
let open: TestApp;
/** Production with nothing optional set. */
let bare: TestApp;
let admin: TestUser;
let user: TestUser;

beforeAll(async () => {
  [open, bare] = await Promise.all([
    buildTestApp({
      env: { NODE_ENV: 'production', JWT_SECRET, DOCS_ENABLED: 'true', METRICS_TOKEN, HEALTH_TOKEN },
      // Server errors on purpose: a thrown error carrying internals, and a failing query.
      extend: (app) => {
        app.get('/test/throws', { schema: { hide: true } }, async () => {
          throw new Error('relation "users" password_hash at /srv/app/src/repo.ts:42 SELECT * FROM users');
        });
        app.get('/test/bad-query', { schema: { hide: true } }, async () => {
          await app.platform.db.execute(sql`select password_hash from no_such_table where email = 'x@example.test'`);
          return { success: true };
        });
      },
    }),
    buildTestApp({ env: { NODE_ENV: 'production', JWT_SECRET } }),
  ]);
  [admin, user] = await Promise.all([createUser(open.app, { role: 'admin' }), createUser(open.app)]);
});

afterAll(async () => {
  await Promise.all([open?.close(), bare?.close()]);
});

const expectSecurityHeaders = (response: LightMyRequestResponse, where: string) => {
  expect(response.headers['x-content-type-options'], where).toBe('nosniff');
  expect(response.headers['x-frame-options'], where).toBe('DENY');
  expect(String(response.headers['content-security-policy']), where).toContain("default-src 'self'");
  expect(String(response.headers['content-security-policy']), where).toContain("frame-ancestors 'none'");
  expect(response.headers['strict-transport-security'], where).toMatch(/max-age=\d{7,}/);
  expect(response.headers['referrer-policy'], where).toBe('no-referrer');
  expect(response.headers['x-powered-by'], where).toBeUndefined();
  expect(response.headers.server, where).toBeUndefined();
};

/** What an error body must never carry. */
const LEAKS = [
  /\bat [\w.<>]+ \(/, // a stack frame
  /\.(?:ts|js):\d+/, // a file and line
  /\/srv\/|\/work\/|node_modules/,
  /\bselect\b.+\bfrom\b/i,
  /no_such_table|password_hash|relation "/i,
  /pglite|postgres|drizzle|fastify|ajv/i,
  /"stack"|"cause"/,
];

const expectCleanError = (response: LightMyRequestResponse, status: number, where: string) => {
  expect(response.statusCode, `${where}: ${response.body}`).toBe(status);
  const body = response.json();
  expect(Object.keys(body).sort(), where).toEqual(
    expect.arrayContaining(['code', 'correlation_id', 'message', 'success']),
  );
  expect(
    Object.keys(body).filter((key) => !['code', 'correlation_id', 'message', 'success', 'details'].includes(key)),
    where,
  ).toEqual([]);
  for (const leak of LEAKS) expect(response.body, `${where} leaks ${leak}`).not.toMatch(leak);
  expectSecurityHeaders(response, where);
  return body as { code: string; message: string };
};

describe('security headers', () => {
  it('are on every kind of answer, and no X-Powered-By or Server header', async () => {
    const answers: [string, LightMyRequestResponse][] = [
      ['200 JSON', await open.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers })],
      ['200 public', await open.app.inject({ method: 'GET', url: '/api/v1/categories' })],
      ['401', await open.app.inject({ method: 'GET', url: '/api/v1/me' })],
      ['403', await open.app.inject({ method: 'GET', url: '/api/v1/admin/users', headers: user.headers })],
      ['404', await open.app.inject({ method: 'GET', url: '/api/v1/nothing-here' })],
      ['500', await open.app.inject({ method: 'GET', url: '/test/throws' })],
      [
        'metrics',
        await open.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: { authorization: `Bearer ${METRICS_TOKEN}` },
        }),
      ],
    ];
    for (const [where, response] of answers) expectSecurityHeaders(response, where);
  });

  it('the docs and the admin dashboard keep nosniff and frame-ancestors with their own CSP', async () => {
    for (const url of ['/docs', '/docs/json', '/admin']) {
      const response = await open.app.inject({ method: 'GET', url });
      expect([200, 302], `${url}: ${response.statusCode}`).toContain(response.statusCode);
      const csp = String(response.headers['content-security-policy']);
      expect(csp, url).toMatch(/default-src '(?:self|none)'/);
      expect(csp, url).toContain("frame-ancestors 'none'");
      expect(csp, url).not.toContain("'unsafe-eval'");
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['x-powered-by'], url).toBeUndefined();
    }
  });

  it('answers with tokens are never cached (Cache-Control: no-store)', async () => {
    const login = await open.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(login.statusCode).toBe(200);
    const refresh = await open.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: login.json().data.refresh_token },
    });
    expect(refresh.statusCode).toBe(200);
    for (const [where, response] of [
      ['login', login],
      ['refresh', refresh],
    ] as const) {
      expect.soft(String(response.headers['cache-control']), `${where} Cache-Control`).toContain('no-store');
    }
  });
});

describe('CORS', () => {
  it('gives a foreign origin nothing by default: no Access-Control-* on a preflight or a request', async () => {
    const preflight = await bare.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/me',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.statusCode).not.toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    const request = await bare.app.inject({
      method: 'GET',
      url: '/api/v1/categories',
      headers: { origin: 'https://evil.example' },
    });
    expect(request.statusCode).toBe(200);
    expect(request.headers['access-control-allow-origin']).toBeUndefined();
    for (const name of Object.keys(request.headers)) expect(name).not.toMatch(/^access-control-/);
  });
});

describe('error bodies carry a code, a message and a correlation id, never a stack, a path or SQL', () => {
  const cases: [string, number, () => Promise<LightMyRequestResponse>][] = [
    ['unknown route', 404, () => open.app.inject({ method: 'GET', url: '/api/v1/no/such/route' })],
    ['unknown method on a route', 404, () => open.app.inject({ method: 'PUT', url: '/api/v1/categories' })],
    ['TRACE', 404, () => open.app.inject({ method: 'TRACE' as 'GET', url: '/api/v1/me', headers: user.headers })],
    [
      'malformed JSON',
      400,
      () =>
        open.app.inject({
          method: 'PATCH',
          url: '/api/v1/me',
          headers: { ...user.headers, 'content-type': 'application/json' },
          payload: '{"name": "unterminated',
        }),
    ],
    [
      'validation',
      400,
      () => open.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: user.headers, payload: { locale: 42 } }),
    ],
    [
      'malformed id',
      400,
      () => open.app.inject({ method: 'GET', url: '/api/v1/bookings/not-a-uuid', headers: user.headers }),
    ],
    ['bad percent-encoding', 400, () => open.app.inject({ method: 'GET', url: '/api/v1/providers/%ZZ' })],
    [
      'garbage cursor',
      400,
      () => open.app.inject({ method: 'GET', url: '/api/v1/me/bookings?cursor=%7B%7D%7B', headers: user.headers }),
    ],
    [
      'wrong content type',
      415,
      () =>
        open.app.inject({
          method: 'PATCH',
          url: '/api/v1/me',
          headers: { ...user.headers, 'content-type': 'text/xml' },
          payload: '<name>x</name>',
        }),
    ],
    [
      'body too large',
      413,
      () =>
        open.app.inject({
          method: 'PATCH',
          url: '/api/v1/me',
          headers: user.headers,
          payload: { name: 'x'.repeat(1_100_000) },
        }),
    ],
    ['thrown error', 500, () => open.app.inject({ method: 'GET', url: '/test/throws' })],
    ['failing query', 500, () => open.app.inject({ method: 'GET', url: '/test/bad-query' })],
  ];

  it.each(cases)('%s (%i), with the security headers', async (where, status, send) => {
    const body = expectCleanError(await send(), status, where);
    if (status === 500) expect(body).toMatchObject({ code: 'INTERNAL_ERROR', message: 'Internal server error' });
  });
});

describe('operator surfaces in production', () => {
  it('/docs and /docs/json are 404 unless DOCS_ENABLED=true', async () => {
    for (const url of ['/docs', '/docs/json', '/docs/yaml', '/docs/static/index.html']) {
      const response = await bare.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.body, url).not.toContain('/api/v1/admin');
    }
    const enabled = await open.app.inject({ method: 'GET', url: '/docs/json' });
    expect(enabled.statusCode).toBe(200);
    expect(enabled.json().openapi).toMatch(/^3\./);
  });

  it('/metrics is 404 without METRICS_TOKEN, and 401 when the token is set but not (or wrongly) sent', async () => {
    const none = await bare.app.inject({ method: 'GET', url: '/metrics' });
    expect(none.statusCode).toBe(404);
    expect(none.body).not.toContain('process_cpu');
    const missing = await open.app.inject({ method: 'GET', url: '/metrics' });
    expectCleanError(missing, 401, 'metrics without a token');
    expect(missing.json().code).toBe('UNAUTHORIZED');
    const wrong = await open.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}x` },
    });
    expect(wrong.statusCode).toBe(401);
    // A signed-in admin's access token is not the metrics token either.
    const asAdmin = await open.app.inject({ method: 'GET', url: '/metrics', headers: admin.headers });
    expect(asAdmin.statusCode).toBe(401);
    const right = await open.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.statusCode).toBe(200);
    expect(right.body).toContain('http_request_duration_seconds');
  });

  it('/api/health names its components only to an admin or HEALTH_TOKEN; others get the status alone', async () => {
    for (const [who, headers] of [
      ['anonymous', {}],
      ['a user', user.headers],
      ['a wrong token', { authorization: 'Bearer not-the-health-token-at-all' }],
      ['the metrics token', { authorization: `Bearer ${METRICS_TOKEN}` }],
    ] as const) {
      const response = await open.app.inject({ method: 'GET', url: '/api/health', headers });
      expect(response.statusCode, who).toBe(200);
      expect(response.json(), who).toEqual({ success: true, status: expect.any(String) });
    }
    for (const [who, headers] of [
      ['an admin', admin.headers],
      ['HEALTH_TOKEN', { authorization: `Bearer ${HEALTH_TOKEN}` }],
    ] as const) {
      const response = await open.app.inject({ method: 'GET', url: '/api/health', headers });
      expect(response.statusCode, who).toBe(200);
      expect(response.json().services?.database?.status, who).toBe('up');
    }
    const bareHealth = await bare.app.inject({ method: 'GET', url: '/api/health' });
    expect(Object.keys(bareHealth.json()).sort()).toEqual(['status', 'success']);
  });

  it('the simulated payment gateway and its simulate route do not exist in production', async () => {
    const spec = bare.app.swagger() as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).not.toContain('/api/v1/payments/{id}/simulate');
    const response = await bare.app.inject({
      method: 'POST',
      url: '/api/v1/payments/00000000-0000-4000-8000-000000000000/simulate',
      payload: { outcome: 'succeeded' },
    });
    expect(response.statusCode).toBe(404);
  });
});
