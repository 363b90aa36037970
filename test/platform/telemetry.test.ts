import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/app.js';
import { queryRows } from '../../src/infra/db/client.js';
import { traced, tracingActive } from '../../src/infra/tracing.js';
import { buildTestApp, type TestApp, type TestAppOptions } from '../helpers/app.js';

/**
 * OpenTelemetry traces from the real app to a real OTLP/HTTP receiver on 127.0.0.1 (the exporter
 * posts JSON to <endpoint>/v1/traces). Spans are read once the app is closed: closing flushes them.
 */

type OtlpValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  events?: { name: string }[];
  status?: { code?: number };
}
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  events: string[];
  statusCode: number;
  resource: Record<string, unknown>;
}

const SPAN_KIND = { internal: 1, server: 2, consumer: 5 };
const STATUS_ERROR = 2;

const otlpValue = (value: OtlpValue) => value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue;

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, otlpValue(value)]));
}

async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      contentTypes.push(String(request.headers['content-type']));
      const payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const resourceSpans of payload.resourceSpans ?? []) {
        const resource = attributesOf(resourceSpans.resource?.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of (scopeSpans.spans ?? []) as OtlpSpan[]) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              events: (span.events ?? []).map((event) => event.name),
              statusCode: span.status?.code ?? 0,
              resource,
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;

/** Every span below `root` in its trace, at any depth. */
function descendantsOf(spans: ReceivedSpan[], root: ReceivedSpan): ReceivedSpan[] {
  const inTrace = spans.filter((span) => span.traceId === root.traceId);
  const found: ReceivedSpan[] = [];
  let parents = new Set([root.spanId]);
  while (parents.size > 0) {
    const children = inTrace.filter((span) => span.parentSpanId !== undefined && parents.has(span.parentSpanId));
    found.push(...children);
    parents = new Set(children.map((span) => span.spanId));
  }
  return found;
}

const INCOMING_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT_ID = '00f067aa0ba902b7';

describe('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const apps: TestApp[] = [];
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  async function tracedApp(extend?: TestAppOptions['extend']) {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const t = await buildTestApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, extend });
    apps.push(t);
    return { t, receiver };
  }

  it('sends a server span per request with route, status and correlation id; work in the handler is its child', async () => {
    const { t, receiver } = await tracedApp((app) => {
      app.post('/test/traced/:id', async () => {
        const rows = await traced('test.work', { step: 'query' }, () =>
          queryRows<{ one: number }>(app.platform.db, sql`select 1 as one`),
        );
        return { one: rows[0]?.one };
      });
      app.get('/test/failing', async () => {
        throw new Error('exploded on purpose');
      });
    });

    // A POST over a real socket: its body arrives in stream events, outside the request's async context.
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const posted = await fetch(`${address}/test/traced/42?x=1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-correlation-id': 'corr-telemetry-0001',
        traceparent: `00-${INCOMING_TRACE_ID}-${INCOMING_PARENT_ID}-01`,
      },
      // Large enough to arrive in many socket reads, the last of them after the hooks ran.
      body: JSON.stringify({ hello: 'world'.repeat(100_000) }),
    });
    expect(posted.status).toBe(200);
    expect(await posted.json()).toEqual({ one: 1 });
    const content = await t.app.inject({
      method: 'GET',
      url: '/api/v1/content',
      headers: { 'x-correlation-id': 'corr-telemetry-0002' },
    });
    expect(content.statusCode).toBe(200);
    const failing = await t.app.inject({ method: 'GET', url: '/test/failing' });
    expect(failing.statusCode).toBe(500);
    const probe = await t.app.inject({ method: 'GET', url: '/api/health/live' });
    expect(probe.statusCode).toBe(200);

    await t.close();
    const { spans } = receiver;
    expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);

    const server = spans.find((span) => span.name === 'POST /test/traced/:id');
    expect(server).toMatchObject({
      kind: SPAN_KIND.server,
      // The caller's trace goes on.
      traceId: INCOMING_TRACE_ID,
      parentSpanId: INCOMING_PARENT_ID,
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/test/traced/:id',
        'http.response.status_code': 200,
        correlation_id: 'corr-telemetry-0001',
      },
      resource: {
        'service.name': 'care-platform',
        'service.version': VERSION,
        'deployment.environment.name': 'test',
      },
    });
    const work = spans.find((span) => span.name === 'test.work');
    expect(work).toMatchObject({ kind: SPAN_KIND.internal, parentSpanId: server?.spanId, traceId: INCOMING_TRACE_ID });
    // The query the work made is a client span below it, with its statement and no parameters.
    const query = spans.find((span) => span.parentSpanId === work?.spanId);
    expect(query).toMatchObject({ name: 'db.query', attributes: { 'db.statement': 'select 1 as one' } });
    for (const span of spans.filter((s) => s.traceId === INCOMING_TRACE_ID && s !== server)) {
      expect(descendantsOf(spans, server as ReceivedSpan)).toContain(span);
    }

    const list = spans.find((span) => span.name === 'GET /api/v1/content');
    expect(list).toMatchObject({
      kind: SPAN_KIND.server,
      attributes: {
        'http.route': '/api/v1/content',
        'http.response.status_code': 200,
        correlation_id: 'corr-telemetry-0002',
      },
    });
    expect(list?.parentSpanId).toBeUndefined();
    // Every query of the request is in its trace, below its server span.
    const listQueries = spans.filter((span) => span.traceId === list?.traceId && span.name === 'db.query');
    expect(listQueries.length).toBeGreaterThan(0);
    for (const span of spans.filter((s) => s.traceId === list?.traceId && s !== list)) {
      expect(descendantsOf(spans, list as ReceivedSpan)).toContain(span);
    }

    const failed = spans.find((span) => span.name === 'GET /test/failing');
    expect(failed).toMatchObject({
      statusCode: STATUS_ERROR,
      attributes: { 'http.response.status_code': 500, 'error.type': '500' },
    });
    expect(failed?.events).toContain('exception');

    // Probes and scrapes are not traced.
    expect(spans.some((span) => span.attributes['http.route'] === '/api/health/live')).toBe(false);
  });

  it('gives each outbox delivery a root consumer span, with the handler work below it', async () => {
    const { t, receiver } = await tracedApp();
    const { outbox, db, dispatcher } = t.app.platform;
    outbox.register('test.traced', async () => {
      await traced('test.deliver', {}, () => queryRows(db, sql`select 1`));
    });
    outbox.register('test.failing', async () => {
      throw new Error('receiver down');
    });
    const delivered = await outbox.enqueue(db, { type: 'test.traced', payload: { n: 1 } });
    const failing = await outbox.enqueue(db, { type: 'test.failing', payload: { n: 2 } });
    expect(await dispatcher.runOnce()).toBe(2);

    await t.close();
    const dispatches = receiver.spans.filter((span) => span.name === 'outbox.dispatch');
    const ok = dispatches.find((span) => span.attributes['messaging.message.id'] === delivered);
    expect(ok).toMatchObject({
      kind: SPAN_KIND.consumer,
      parentSpanId: undefined,
      attributes: { 'messaging.system': 'outbox', 'messaging.destination.name': 'test.traced', 'outbox.attempt': 1 },
    });
    expect(ok?.statusCode).not.toBe(STATUS_ERROR);
    const work = receiver.spans.find((span) => span.name === 'test.deliver');
    expect(work?.parentSpanId).toBe(ok?.spanId);
    expect(receiver.spans.some((span) => span.name === 'db.query' && span.parentSpanId === work?.spanId)).toBe(true);
    const bad = dispatches.find((span) => span.attributes['messaging.message.id'] === failing);
    expect(bad).toMatchObject({
      statusCode: STATUS_ERROR,
      attributes: { 'messaging.destination.name': 'test.failing' },
    });
  });

  it('is off by default: no span is recording', async () => {
    const t = await buildTestApp({
      extend: (app) => {
        app.get('/test/active', async () => ({ active: tracingActive() }));
      },
    });
    apps.push(t);
    const res = await t.app.inject({ method: 'GET', url: '/test/active' });
    expect(res.json()).toEqual({ active: false });
  });
});
