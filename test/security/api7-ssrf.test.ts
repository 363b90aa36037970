/**
 * OWASP API7:2023 Server Side Request Forgery, on the production configuration. Request
 * inspection refuses URLs aimed inside our network or at dangerous schemes (cloud metadata,
 * loopback services, gopher://, file://, an address written as one number) with 403
 * REQUEST_REJECTED naming where, in the query and in JSON bodies, and records them; an admin
 * article's `source_url` (not a free-text field) is refused the same way. The server fetches no
 * URL a caller supplies except a Web Push subscription's endpoint, which must be https, carry no
 * credentials and name a push service; the API's URL-shaped inputs and the source files that make
 * outbound requests are inventoried, so a new one fails here until it is reviewed.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { securityEvents } from '../../src/modules/security/security.tables.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const SRC = new URL('../../src/', import.meta.url).pathname;
let t: TestApp;
let admin: TestUser;
let user: TestUser;
let address = 10;
/** A finding is worth 20 points and 100 blocks an address: each attack comes from its own. */
const nextIp = () => `198.51.100.${address++}`;

const SSRF_URLS = [
  'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
  'http://127.0.0.1:6379/',
  'gopher://127.0.0.1:6379/_FLUSHALL',
  'file:///etc/passwd',
  'http://2130706433/',
  'http://0x7f000001/admin',
  'http://[::ffff:127.0.0.1]/',
  'http://metadata.google.internal/computeMetadata/v1/',
];

beforeAll(async () => {
  t = await buildTestApp({
    env: { NODE_ENV: 'production', JWT_SECRET: 'api7-ssrf-production-secret-0123456789abcdef' },
  });
  [admin, user] = await Promise.all([createUser(t.app, { role: 'admin' }), createUser(t.app)]);
});

afterAll(async () => {
  await t?.close();
});

const expectRejected = (response: { statusCode: number; body: string }, field: string, where: string) => {
  expect(response.statusCode, `${where}: ${response.body}`).toBe(403);
  const body = JSON.parse(response.body);
  expect(body.code, where).toBe('REQUEST_REJECTED');
  expect(body.details?.[0]?.field, where).toBe(field);
};

describe('request inspection', () => {
  it.each(SSRF_URLS)('refuses %s in a query parameter and in a JSON body field', async (url) => {
    const queryIp = nextIp();
    const inQuery = await t.app.inject({
      method: 'GET',
      url: `/api/v1/services/search?q=${encodeURIComponent(url)}`,
      remoteAddress: queryIp,
    });
    expectRejected(inQuery, 'query.q', `query ${url}`);

    const inBody = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { name: url },
      remoteAddress: nextIp(),
    });
    expectRejected(inBody, 'body.name', `body ${url}`);
    const me = (await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers })).json().data;
    expect(me.name).not.toBe(url);

    await t.app.platform.services.security.flush();
    const [event] = await t.app.platform.db.select().from(securityEvents).where(eq(securityEvents.ip, queryIp));
    expect(event).toMatchObject({ action: 'refused', location: 'query.q', route: '/api/v1/services/search' });
    expect(['ssrf', 'path_traversal']).toContain(event?.type);
  });

  it('refuses an admin article whose source_url points inside the network: source_url is not free text', async () => {
    const slug = 'metadata-source';
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      headers: admin.headers,
      remoteAddress: nextIp(),
      payload: {
        type: 'article',
        slug,
        title: 'Where results come from',
        summary: 'Sources',
        body: 'Plain text.',
        source_url: 'http://169.254.169.254/latest/meta-data/',
      },
    });
    expectRejected(response, 'body.source_url', 'source_url');
    const rows = await queryRows(t.app.platform.db, sql`select id from content_items where slug = ${slug}`);
    expect(rows).toEqual([]);

    // A public https source is fine; an internal URL quoted in the Markdown body (free text) is scored, not refused.
    const ip = nextIp();
    const fine = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/content',
      headers: admin.headers,
      remoteAddress: ip,
      payload: {
        type: 'article',
        slug: 'public-source',
        title: 'A public source',
        summary: 'Sources',
        body: 'Never fetch `http://169.254.169.254/latest/meta-data/` from a browser.',
        source_url: 'https://www.who.int/news-room/fact-sheets/detail/cervical-cancer',
      },
    });
    expect(fine.statusCode, fine.body).toBe(201);
    await t.app.platform.services.security.flush();
    const scored = await t.app.platform.db
      .select()
      .from(securityEvents)
      .where(and(eq(securityEvents.ip, ip), eq(securityEvents.location, 'body.body')));
    expect(scored.map((event) => event.action)).toEqual(['scored']);
  });
});

describe('Web Push subscriptions: the one user-supplied URL the server calls', () => {
  const keys = () => ({
    p256dh: createECDH('prime256v1').generateKeys().toString('base64url'),
    auth: randomBytes(16).toString('base64url'),
  });
  const register = (endpoint: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/me/devices',
      headers: user.headers,
      payload: { kind: 'webpush', endpoint, keys: keys() },
      remoteAddress: nextIp(),
    });
  const stored = async (endpoint: string) =>
    (await queryRows(t.app.platform.db, sql`select id from push_devices where token = ${endpoint}`)).length;

  it("accepts the browsers' push services over https", async () => {
    for (const endpoint of [
      'https://fcm.googleapis.com/fcm/send/dGVzdC1zdWJzY3JpcHRpb24',
      'https://updates.push.services.mozilla.com/wpush/v2/gAAAAABtest',
      'https://web.push.apple.com/QGtestsubscription',
    ]) {
      const response = await register(endpoint);
      expect(response.statusCode, `${endpoint}: ${response.body}`).toBe(201);
      expect(await stored(endpoint)).toBe(1);
    }
  });

  it('refuses plain http, credentials in the URL, and private, loopback or link-local addresses', async () => {
    const accepted: string[] = [];
    for (const endpoint of [
      'http://fcm.googleapis.com/fcm/send/plain-http-subscription',
      'https://user:secret@fcm.googleapis.com/fcm/send/with-credentials',
      'https://127.0.0.1/push/loopback',
      'https://10.1.2.3/push/private',
      'https://192.168.0.10/push/private',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::1]/push/loopback',
      // IPv4-mapped IPv6: 10.1.2.3 and 127.0.0.1 in another spelling.
      'https://[::ffff:10.1.2.3]/push/mapped',
      'https://[::ffff:127.0.0.1]/push/mapped-loopback',
      'https://[fd00::1]/push/unique-local',
      'https://push.localhost/push/name',
      'https://instance-data.ec2.internal/latest/meta-data/',
    ]) {
      const response = await register(endpoint);
      if (response.statusCode === 201) {
        accepted.push(endpoint);
        continue;
      }
      expect([400, 403], `${endpoint}: ${response.body}`).toContain(response.statusCode);
      expect(['VALIDATION_ERROR', 'REQUEST_REJECTED']).toContain(response.json().code);
      expect(await stored(endpoint), endpoint).toBe(0);
    }
    expect(accepted, 'registered as push endpoints the server will POST to').toEqual([]);
  });

  it('refuses an endpoint on a host that is not a push service (the server would POST there)', async () => {
    const accepted: string[] = [];
    for (const endpoint of [
      // Any public host an attacker controls, or a name that resolves inside our network.
      'https://collector.attacker.example/push/abc',
      'https://push.corp.example.com/internal/abc',
      // Shared address space (RFC 6598), used inside clouds and VPNs.
      'https://100.64.0.1/push/abc',
    ]) {
      const response = await register(endpoint);
      if (response.statusCode === 201) accepted.push(endpoint);
      else expect(response.statusCode).toBe(400);
    }
    expect(accepted, 'registered as push endpoints the server will POST to').toEqual([]);
  });
});

describe('inventory of what could make the server fetch', () => {
  /** URL-shaped inputs of the API, and why each is safe. */
  const URL_INPUTS: Record<string, string> = {
    'POST /api/v1/admin/content body.source_url':
      'stored and shown as a link; never fetched (inspected: not free text)',
    'PATCH /api/v1/admin/content/{id} body.source_url': 'stored and shown as a link; never fetched',
    'POST /api/v1/me/devices body.endpoint': 'the Web Push endpoint: https and a push service only (above)',
  };

  it('every URL-shaped input in the OpenAPI document is known', () => {
    const spec = t.app.swagger() as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; in: string; schema?: Record<string, unknown> }[];
            requestBody?: { content?: Record<string, { schema?: unknown }> };
          }
        >
      >;
    };
    const found = new Set<string>();
    const looksLikeUrl = (name: string, schema: Record<string, unknown>) =>
      schema.format === 'uri' ||
      schema.format === 'url' ||
      /https?/.test(String(schema.pattern ?? '')) ||
      /(url|uri|endpoint|callback|webhook|redirect|href|link)$/i.test(name);
    const walk = (schema: unknown, where: string, operation: string) => {
      if (schema === null || typeof schema !== 'object') return;
      const node = schema as Record<string, unknown>;
      for (const [name, property] of Object.entries(
        (node.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        if (property && looksLikeUrl(name, property)) found.add(`${operation} ${where}.${name}`);
        walk(property, `${where}.${name}`, operation);
      }
      for (const key of ['items', 'anyOf', 'oneOf', 'allOf']) {
        const child = node[key];
        for (const item of Array.isArray(child) ? child : [child]) walk(item, where, operation);
      }
    };
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`;
        for (const parameter of operation.parameters ?? []) {
          if (parameter.schema && looksLikeUrl(parameter.name, parameter.schema)) {
            found.add(`${name} ${parameter.in}.${parameter.name}`);
          }
        }
        walk(operation.requestBody?.content?.['application/json']?.schema, 'body', name);
      }
    }
    expect([...found].sort()).toEqual(Object.keys(URL_INPUTS).sort());
  });

  /** Source files that make outbound requests, and where each one's URL comes from. */
  const OUTBOUND: Record<string, string> = {
    'modules/notifications/channels/fcm.client.ts': 'FCM_API_URL and Google token URL (configuration)',
    'modules/notifications/channels/webpush.client.ts': "the device's endpoint (checked at registration)",
    'modules/notifications/channels/twilio.channel.ts': 'TWILIO_API_URL (configuration)',
    'modules/notifications/channels/smtp.channel.ts': 'SMTP_URL (configuration)',
    'modules/notifications/channels/n8n.channel.ts': 'N8N_WEBHOOK_URL (configuration)',
    'modules/payments/gateways/moyasar.ts': 'MOYASAR_API_URL (configuration)',
    'modules/payments/gateways/stripe.ts': 'STRIPE_API_URL (configuration, through the SDK)',
    'modules/security/security.alerts.ts': 'SECURITY_ALERT_WEBHOOK_URL (configuration)',
    'modules/analytics/analytics.sheets-sync.ts': 'GOOGLE_SHEETS_ROOT_URL and GOOGLE_TOKEN_URL (configuration)',
    'infra/telemetry.ts': 'OTEL_EXPORTER_OTLP_ENDPOINT (configuration, through the OTLP exporter)',
    'infra/error-tracking.ts': 'SENTRY_DSN (configuration, through the Sentry SDK)',
  };

  it('only the reviewed integrations make outbound requests', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.ts')) files.push(path);
      }
    };
    walk(SRC);
    const outbound = files
      .filter((file) =>
        /\bfetch\(|\bhttps?\.(?:request|get)\(|new Stripe(?:Sdk)?\(|createTransport\(|@googleapis\/|from 'undici'|WebSocket\(|new OTLPTraceExporter\(|Sentry\.init\(/.test(
          readFileSync(file, 'utf8'),
        ),
      )
      .map((file) => relative(SRC, file))
      .sort();
    expect(outbound).toEqual(Object.keys(OUTBOUND).sort());
  });
});
