/**
 * What the per-request savings of issue 18 must not change: the request-duration histogram exports
 * what prom-client's own would, batched log lines keep their order and are all written (also at
 * exit), correlation ids stay unique within a millisecond, a scanner's user agent is refused on
 * every request (its verdict is remembered), and the embedded database starts with its tuning.
 */
import { spawnSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Histogram, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createPglite } from '../../src/infra/db/client.js';
import { openInfrastructure } from '../../src/infra/index.js';
import { BatchedDestination, type ChunkSink, createLogger, createRequestLineWriter } from '../../src/infra/logger.js';
import { HotPathHistogram } from '../../src/infra/metrics.js';
import { correlationIdFor } from '../../src/plugins/request-context.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const LABELS = ['method', 'route', 'status_code'] as const;

/** The same observations into a prom-client Histogram and a HotPathHistogram, each in its own registry. */
function twinHistograms() {
  const reference = new Registry();
  const fast = new Registry();
  const options = { name: 'http_request_duration_seconds', help: 'duration', labelNames: LABELS, buckets: BUCKETS };
  const expected = new Histogram({ ...options, registers: [reference] });
  const actual = new HotPathHistogram({ ...options, registers: [fast] });
  const observe = (method: string, route: string, status: string, seconds: number) => {
    expected.labels(method, route, status).observe(seconds);
    actual.labels(method, route, status).observe(seconds);
  };
  return { reference, fast, expected, actual, observe };
}

describe('HotPathHistogram', () => {
  it('exports exactly what a prom-client Histogram exports for the same observations', async () => {
    const { reference, fast, observe } = twinHistograms();
    // Every bucket, a value on a bound, one above all bounds, and a route needing escapes.
    for (const seconds of [0.0005, 0.001, 0.005, 0.05, 0.5, 1, 7]) observe('GET', '/api/items/:id', '200', seconds);
    observe('POST', '/api/items', '201', 0.02);
    observe('GET', 'a "quoted" \\ route', '404', 0.003);
    expect(await fast.metrics()).toBe(await reference.metrics());
    expect(await fast.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
  });

  it('forgets its observations on reset, as prom-client does, and observers handed out stay valid', async () => {
    const { reference, fast, expected, actual, observe } = twinHistograms();
    const kept = actual.labels('GET', '/kept', '200');
    observe('GET', '/kept', '200', 0.2);
    expected.reset();
    actual.reset();
    expect(await fast.metrics()).toBe(await reference.metrics());
    kept.observe(0.05);
    expected.labels('GET', '/kept', '200').observe(0.05);
    expect(await fast.metrics()).toBe(await reference.metrics());
  });

  it('refuses a wrong number of label values and a value that is not a finite number', () => {
    const { actual } = twinHistograms();
    expect(() => actual.labels('GET', '/only-two')).toThrow(/takes 3 label values/);
    expect(() => actual.labels('GET', '/x', '200').observe(Number.NaN)).toThrow(TypeError);
    expect(() => actual.labels('GET', '/x', '200').observe(Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });

  it('refuses buckets out of order', () => {
    expect(
      () =>
        new HotPathHistogram({
          name: 'h',
          help: 'h',
          labelNames: ['a'],
          buckets: [0.1, 0.01],
          registers: [new Registry()],
        }),
    ).toThrow(/ascending order/);
  });
});

/** A sink that records each chunk it is handed. */
function recordingSink() {
  const chunks: string[] = [];
  const calls = { flush: 0, flushSync: 0 };
  const sink: ChunkSink = {
    write: (chunk) => chunks.push(chunk),
    flush: (callback) => {
      calls.flush += 1;
      callback?.();
    },
    flushSync: () => {
      calls.flushSync += 1;
    },
  };
  return { sink, chunks, calls };
}

describe('batched log destination', () => {
  it('hands lines over in chunks of at least the batch size, in the order written', () => {
    const { sink, chunks } = recordingSink();
    const destination = new BatchedDestination(sink, 100);
    const lines = Array.from({ length: 30 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 7)}"}\n`);
    for (const line of lines) destination.write(line);
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) expect(chunk.length).toBeGreaterThanOrEqual(100);
    destination.flushSync();
    expect(chunks.join('')).toBe(lines.join(''));
  });

  it('hands over what waits on flush() and flushSync(), then flushes the sink', () => {
    const { sink, chunks, calls } = recordingSink();
    const destination = new BatchedDestination(sink, 10_000);
    destination.write('{"a":1}\n');
    expect(chunks).toEqual([]);
    let flushed = false;
    destination.flush(() => {
      flushed = true;
    });
    expect(chunks).toEqual(['{"a":1}\n']);
    expect(flushed).toBe(true);
    destination.write('{"b":2}\n');
    destination.flushSync();
    expect(chunks).toEqual(['{"a":1}\n', '{"b":2}\n']);
    expect(calls).toEqual({ flush: 1, flushSync: 1 });
    // Nothing waiting: nothing handed over, the sink is still flushed.
    destination.flush();
    expect(chunks).toHaveLength(2);
  });

  it("keeps pino's lines and the request lines in the order they were written", () => {
    const { sink, chunks } = recordingSink();
    const logger = createLogger({ level: 'info', destination: new BatchedDestination(sink, 256) });
    const writeRequestLine = createRequestLineWriter(logger);
    for (let i = 0; i < 20; i++) {
      logger.info({ step: i }, 'before');
      writeRequestLine({
        correlation_id: `req_${i}`,
        method: 'GET',
        route: '/r',
        path: `/r/${i}`,
        status: 200,
        duration_ms: 1,
      });
    }
    logger.flush();
    const lines = chunks
      .join('')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; step?: number; correlation_id?: string });
    expect(lines).toHaveLength(40);
    lines.forEach((line, i) => {
      if (i % 2 === 0) expect(line).toMatchObject({ msg: 'before', step: i / 2 });
      else expect(line).toMatchObject({ msg: 'request finished', correlation_id: `req_${(i - 1) / 2}` });
    });
  });

  it('writes every line to stdout when the process exits right after logging', () => {
    const fixture = fileURLToPath(new URL('./fixtures/log-burst.ts', import.meta.url));
    const count = 3000;
    const child = spawnSync(process.execPath, ['--import', 'tsx', fixture, String(count)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 30_000,
    });
    expect(child.status).toBe(0);
    const lines = child.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; n?: number; correlation_id?: string });
    const requests = lines.filter((line) => line.msg === 'request finished');
    expect(requests.map((line) => line.correlation_id)).toEqual(Array.from({ length: count }, (_, i) => `req_${i}`));
    expect(lines.filter((line) => line.msg === 'progress')).toHaveLength(count / 100);
  });
});

describe('correlation ids', () => {
  const request = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage;

  it('are unique across many made within the same milliseconds, and say when they were made', () => {
    const before = Date.now();
    const ids = Array.from({ length: 50_000 }, () => correlationIdFor(request()));
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0], ids.at(-1)] as string[]) {
      const [, time, random] = /^req_([0-9a-z]+)_([0-9a-f]{12})$/.exec(id) ?? [];
      expect(random).toBeDefined();
      const ms = Number.parseInt(time as string, 36);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
  });

  it('keeps a well-formed inbound x-correlation-id', () => {
    expect(correlationIdFor(request({ 'x-correlation-id': 'upstream-id-1234' }))).toBe('upstream-id-1234');
    expect(correlationIdFor(request({ 'x-correlation-id': 'bad id' }))).toMatch(/^req_/);
  });
});

describe('request inspection of user agents', () => {
  let t: TestApp;
  afterAll(() => t?.close());

  it('refuses a scanner on every request and serves an ordinary agent every time, with the verdict remembered', async () => {
    t = await buildTestApp({ env: { SECURITY_INSPECTION: 'block' } });
    const send = (userAgent: string, ip: string) =>
      t.app.inject({ method: 'GET', url: '/api/health/live', headers: { 'user-agent': userAgent }, remoteAddress: ip });
    const browser = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
    for (let i = 0; i < 3; i++) expect((await send(browser, '198.51.100.20')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) {
      // A new address each time, so what is refused is the agent, not an address blocked by now.
      const refused = await send('sqlmap/1.7.2#stable (https://sqlmap.org)', `203.0.113.${30 + i}`);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe('REQUEST_REJECTED');
    }
  });
});

describe('embedded database tuning', () => {
  it('starts with a 16 MiB buffer cache by default, and with the settings it is given', async () => {
    const byDefault = await createPglite();
    const tuned = await createPglite(undefined, undefined, { settings: { shared_buffers: '8MB', work_mem: '2MB' } });
    try {
      const show = async (db: typeof byDefault, name: string) =>
        (await db.query<Record<string, string>>(`show ${name}`)).rows[0]?.[name];
      expect(await show(byDefault, 'shared_buffers')).toBe('16MB');
      expect(await show(tuned, 'shared_buffers')).toBe('8MB');
      expect(await show(tuned, 'work_mem')).toBe('2MB');
    } finally {
      await Promise.all([byDefault.close(), tuned.close()]);
    }
  });

  it('takes its buffer cache from PGLITE_SHARED_BUFFERS', async () => {
    const config = loadConfig({ DATA_DIR: 'memory://', PGLITE_SHARED_BUFFERS: '24MB', LOG_LEVEL: 'silent' });
    const infra = await openInfrastructure(config);
    try {
      const client = infra.database.db as unknown as { $client: Awaited<ReturnType<typeof createPglite>> };
      expect((await client.$client.query<{ shared_buffers: string }>('show shared_buffers')).rows[0]).toEqual({
        shared_buffers: '24MB',
      });
    } finally {
      await infra.database.close();
    }
  });
});
