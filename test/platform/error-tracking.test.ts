import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/app.js';
import { queryRows } from '../../src/infra/db/client.js';
import { scrubEvent } from '../../src/infra/error-tracking.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

/**
 * Sentry error reports from the real app to a stand-in Sentry ingest on 127.0.0.1: the DSN
 * `http://publickey@127.0.0.1:<port>/1` makes the SDK post envelopes to /api/1/envelope/.
 * Reports are read once the app is closed: closing flushes them.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Envelope {
  /** The envelope as it came over the wire (decompressed): what must hold no personal data. */
  raw: string;
  events: Record<string, unknown>[];
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', reject);
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      resolve((request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
    });
  });
}

/** An envelope: a header line, then an item header line and its payload line per item. */
function parseEnvelope(raw: string): Envelope {
  const lines = raw.split('\n').filter(Boolean);
  const events: Record<string, unknown>[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    const header = JSON.parse(lines[i] as string) as { type?: string };
    if (header.type === 'event') events.push(JSON.parse(lines[i + 1] as string));
  }
  return { raw, events };
}

/** Answers 200 to anything; keeps Sentry envelopes (POST /api/<project>/envelope/). */
async function startReceiver() {
  const envelopes: Envelope[] = [];
  const paths: string[] = [];
  const server: Server = createServer((request, response) => {
    void readBody(request).then((body) => {
      paths.push(`${request.method} ${request.url?.split('?', 1)[0]}`);
      if (request.url?.startsWith('/api/1/envelope/')) envelopes.push(parseEnvelope(body));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    dsn: `http://publickey@127.0.0.1:${port}/1`,
    envelopes,
    paths,
    events: () => envelopes.flatMap((envelope) => envelope.events),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

const SECRETS = {
  email: 'alice.secret@example.com',
  bodyEmail: 'bob.body@example.com',
  bodyPassword: 'hunter2-body-secret',
  bearer: 'topsecret-access-token-123',
  cookie: 'sid=cookie-secret-456',
  queryToken: 'query-secret-789',
  messageToken: 'message-token-abc',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNlY3JldA',
  queryParam: 'carol.param@example.com',
};

function expectNoSecrets(raw: string) {
  for (const secret of Object.values(SECRETS)) expect(raw).not.toContain(secret);
  expect(raw).not.toMatch(/@example\.com/);
  expect(raw.toLowerCase()).not.toContain('cookie-secret');
}

describe('Sentry error tracking (SENTRY_DSN)', () => {
  const apps: TestApp[] = [];
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  const newReceiver = async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    return receiver;
  };

  it('reports a 500 with correlation id, route, release and environment, and nothing personal; 4xx are not reported', async () => {
    const sentry = await newReceiver();
    // Tracing on as well: the two SDKs coexist, and the report names the request's trace.
    const otlp = await newReceiver();
    const t = await buildTestApp({
      env: { SENTRY_DSN: sentry.dsn, SENTRY_ENVIRONMENT: 'ci', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url },
      extend: (app) => {
        app.post('/test/explode/:id', async () => {
          throw new Error(
            `charge for ${SECRETS.email} failed: https://gw.example/cb?token=${SECRETS.messageToken}&n=1 ` +
              `Bearer ${SECRETS.bearer} ${SECRETS.jwt}`,
          );
        });
        app.get('/test/query-fails', async () => {
          // The database's error message lists the query's parameters.
          await queryRows(app.platform.db, sql`select * from no_such_table where email = ${SECRETS.queryParam}`);
          return {};
        });
      },
    });
    apps.push(t);

    const exploded = await t.app.inject({
      method: 'POST',
      url: `/test/explode/7?token=${SECRETS.queryToken}`,
      headers: {
        authorization: `Bearer ${SECRETS.bearer}`,
        cookie: SECRETS.cookie,
        'x-correlation-id': 'corr-sentry-0001',
      },
      payload: { email: SECRETS.bodyEmail, password: SECRETS.bodyPassword },
    });
    expect(exploded.statusCode).toBe(500);
    const failedQuery = await t.app.inject({
      method: 'GET',
      url: '/test/query-fails',
      headers: { 'x-correlation-id': 'corr-sentry-0002' },
    });
    expect(failedQuery.statusCode).toBe(500);
    // Client errors: not ours to fix, never reported.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/nope' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me' })).statusCode).toBe(401);
    const invalid = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'x' } });
    expect(invalid.statusCode).toBe(400);

    await t.close();
    const events = sentry.events();
    expect(events).toHaveLength(2);
    const byCorrelation = (id: string) =>
      events.find((event) => (event.tags as Record<string, unknown>).correlation_id === id);

    const explosion = byCorrelation('corr-sentry-0001');
    expect(explosion).toMatchObject({
      release: VERSION,
      environment: 'ci',
      level: 'error',
      transaction: 'POST /test/explode/:id',
      tags: { correlation_id: 'corr-sentry-0001', route: '/test/explode/:id', method: 'POST', status_code: 500 },
    });
    expect(explosion?.tags).toMatchObject({ trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const value = JSON.stringify(explosion?.exception);
    expect(value).toContain('charge for [email] failed');
    expect(value).toContain('token=[redacted]&n=1');
    expect(value).toContain('Bearer [redacted]');
    expect(explosion?.request).toBeUndefined();
    expect(explosion?.user).toBeUndefined();

    const query = byCorrelation('corr-sentry-0002');
    expect(query?.tags).toMatchObject({ route: '/test/query-fails', status_code: 500 });
    expect(JSON.stringify(query?.exception)).toContain('params: [redacted]');

    for (const envelope of sentry.envelopes) expectNoSecrets(envelope.raw);
    expect(sentry.paths.every((path) => path === 'POST /api/1/envelope/')).toBe(true);
  });

  it('scrubs request data, users and breadcrumbs from any event', () => {
    const event = scrubEvent({
      type: undefined,
      message: `sign-in of ${SECRETS.email} failed`,
      request: {
        method: 'POST',
        url: `https://care.example/api/v1/auth/reset?token=${SECRETS.queryToken}`,
        query_string: `token=${SECRETS.queryToken}&page=2`,
        headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: SECRETS.cookie, 'user-agent': 'test' },
        cookies: { sid: SECRETS.cookie },
        data: { email: SECRETS.bodyEmail, password: SECRETS.bodyPassword },
      },
      user: { id: 'user-1', email: SECRETS.email, ip_address: '203.0.113.9' },
      breadcrumbs: [{ message: `GET ?token=${SECRETS.queryToken}` }],
      extra: { session: { refresh_token: SECRETS.messageToken, note: SECRETS.jwt } },
      exception: {
        values: [{ value: 'boom', stacktrace: { frames: [{ filename: 'file:///app/node_modules/@scope/pkg/x.js' }] } }],
      },
    });
    expect(event.request).toEqual({
      method: 'POST',
      url: 'https://care.example/api/v1/auth/reset',
      query_string: 'token=[redacted]&page=2',
      headers: { authorization: '[redacted]', cookie: '[redacted]', 'user-agent': 'test' },
    });
    expect(event.user).toEqual({ id: 'user-1' });
    expect(event.breadcrumbs).toBeUndefined();
    expect(event.message).toBe('sign-in of [email] failed');
    // A module path with an @scope is no email.
    expect(event.exception?.values?.[0]?.stacktrace?.frames?.[0]?.filename).toBe(
      'file:///app/node_modules/@scope/pkg/x.js',
    );
    expectNoSecrets(JSON.stringify(event));
    expect(JSON.stringify(event)).not.toContain('203.0.113.9');
  });

  it('reports an unhandled rejection, then the process exits as it would without Sentry', async () => {
    const sentry = await newReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'care-sentry-'));
    try {
      const script = join(dir, 'unhandled.mts');
      writeFileSync(
        script,
        [
          `import { startErrorTracking } from ${JSON.stringify(join(ROOT, 'src/infra/error-tracking.ts'))};`,
          `import { createLogger } from ${JSON.stringify(join(ROOT, 'src/infra/logger.ts'))};`,
          `await startErrorTracking({ dsn: ${JSON.stringify(sentry.dsn)}, environment: 'ci', sampleRate: 1, release: '9.9.9' }, createLogger({ level: 'silent' }));`,
          `Promise.reject(new Error('background job failed for ${SECRETS.email}'));`,
          'setTimeout(() => {}, 10_000);',
        ].join('\n'),
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const [event] = sentry.events();
    expect(event).toMatchObject({ level: 'fatal', release: '9.9.9', environment: 'ci' });
    expect(JSON.stringify(event?.exception)).toContain('background job failed for [email]');
    expect(JSON.stringify(event?.exception)).toContain('"handled":false');
    for (const envelope of sentry.envelopes) expectNoSecrets(envelope.raw);
  });
});
