/**
 * What the database layer reports about its queries (src/infra/db/client.ts): slow queries as a
 * warning with the statement and never its parameters, counted by operation; a CLIENT span per
 * query while a trace records; and, on PostgreSQL (npm run test:services), the timeouts that keep
 * a slow or silent server from holding a request for ever.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createPglite,
  type Database,
  type DatabaseOptions,
  openDatabase,
  statementText,
} from '../../src/infra/db/client.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { startTelemetry } from '../../src/infra/telemetry.js';
import { traced } from '../../src/infra/tracing.js';
import { startTcpProxy, type TcpProxy } from '../faults/tcp-proxy.js';
import { servicesMode } from '../helpers/database.js';

const SECRET = 'patient-secret-7f3a@example.test';
const SLOW_QUERY_MS = 300;

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

type Observed = Pick<DatabaseOptions, 'metrics' | 'logger' | 'slowQueryMs'>;

/**
 * No tables needed: the server itself (TEST_DATABASE_URL), or an embedded database loaded from
 * the run's template (about a second, where creating a new one takes several).
 */
async function openScratch(options: Observed = {}): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return openDatabase({ kind: 'postgres', url, ...options });
  const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
  return openDatabase({ kind: 'pglite', instance: await createPglite(undefined, template), ...options });
}

describe('statement text in logs and spans', () => {
  it('collapses whitespace and keeps short statements whole', () => {
    expect(statementText('select *\n    from "users"\n\twhere "id" = $1  ')).toBe(
      'select * from "users" where "id" = $1',
    );
  });

  it('shortens the column lists Drizzle writes, so the tables and conditions show', () => {
    const columns = ['id', 'user_id', 'display_name', 'city', 'rating_average'].map((c) => `"providers"."${c}"`);
    expect(statementText(`select ${columns.join(', ')} from "providers" where "providers"."id" = $1 limit $2`)).toBe(
      'select "providers"."id", …, "providers"."rating_average" from "providers" where "providers"."id" = $1 limit $2',
    );
    expect(statementText('insert into "t" ("a", "b") values ($1, $2)')).toBe(
      'insert into "t" ("a", "b") values ($1, $2)',
    );
  });

  it('cuts a long statement in the middle, keeping its start and its end (WHERE, LIMIT)', () => {
    const conditions = Array.from({ length: 40 }, (_, i) => `coalesce(x${i}, 0) > $${i + 1}`).join(' and ');
    const text = statementText(`select count(*) from "providers" where ${conditions} limit $41`);
    expect(text.length).toBe(300);
    expect(text).toMatch(/^select count\(\*\) from "providers" where coalesce\(x0, 0\) > \$1 and /);
    expect(text).toContain(' … ');
    expect(text).toMatch(/coalesce\(x39, 0\) > \$40 limit \$41$/);
  });
});

describe(`slow queries (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  const metrics = createMetrics();
  const log = captureLog();
  let database: Database;

  beforeAll(async () => {
    database = await openScratch({ metrics, logger: log.logger, slowQueryMs: SLOW_QUERY_MS });
  });
  afterAll(() => database?.close());

  const slowLines = () => log.lines.filter((line) => line.msg === 'slow database query');

  it('logs a query slower than DB_SLOW_QUERY_MS with its statement, operation and duration, never its parameters', async () => {
    await database.db.execute(sql`select pg_sleep(0.6), ${SECRET}::text as echoed`);
    await database.db.execute(sql`select ${SECRET}::text as quick`);

    const lines = slowLines();
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      level: 'warn',
      statement: 'select pg_sleep(0.6), $1::text as echoed',
      operation: 'select',
      pool: 'primary',
    });
    expect(line?.duration_ms).toBeGreaterThanOrEqual(SLOW_QUERY_MS);
    expect(JSON.stringify(log.lines)).not.toContain('patient-secret');

    const counted = await metrics.registry.getSingleMetricAsString('db_slow_queries_total');
    expect(counted).toMatch(/db_slow_queries_total\{operation="select"\} 1$/m);
  });

  it('logs a long statement cut to about 300 characters', async () => {
    const columns = Array.from({ length: 40 }, (_, i) => `${i} as long_column_name_${i}`).join(', ');
    await database.db.execute(sql.raw(`select pg_sleep(0.6) as slept, ${columns}`));
    const line = slowLines().at(-1);
    expect(String(line?.statement).length).toBeLessThanOrEqual(300);
    expect(line?.statement).toMatch(/^select pg_sleep\(0\.6\) as slept, 0 as long_column_name_0,/);
    expect(line?.statement).toMatch(/39 as long_column_name_39$/);
  });

  it('logs nothing with DB_SLOW_QUERY_MS=0', async () => {
    const quiet = captureLog();
    const off = await openScratch({ metrics: createMetrics(), logger: quiet.logger, slowQueryMs: 0 });
    try {
      await off.db.execute(sql`select pg_sleep(0.4)`);
    } finally {
      await off.close();
    }
    expect(quiet.lines).toEqual([]);
  });
});

describe(`database spans (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  interface ReceivedSpan {
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    name: string;
    kind: number;
    attributes: Record<string, unknown>;
  }
  const SPAN_KIND_CLIENT = 3;
  const spans: ReceivedSpan[] = [];
  let receiver: Server | ReturnType<typeof createHttpServer>;
  let endpoint: string;

  beforeAll(async () => {
    const http = createHttpServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const resourceSpans of payload.resourceSpans ?? []) {
          for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const span of scopeSpans.spans ?? []) {
              spans.push({
                ...span,
                parentSpanId: span.parentSpanId || undefined,
                attributes: Object.fromEntries(
                  (span.attributes ?? []).map((a: { key: string; value: { stringValue?: string } }) => [
                    a.key,
                    a.value.stringValue,
                  ]),
                ),
              });
            }
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    receiver = http;
    endpoint = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it('gives each query a CLIENT span under the active one, with the statement and never its parameters', async () => {
    const { logger } = captureLog();
    const telemetry = await startTelemetry(
      { endpoint, serviceName: 'care-test', sampleRatio: 1, version: 'test', environment: 'test' },
      logger,
    );
    const database = await openScratch();
    try {
      // Outside any trace: no span at all (nothing records).
      await database.db.execute(sql`select 'untraced' as outside`);
      await traced(
        'test.request',
        {},
        async () => {
          await database.db.execute(sql`select ${SECRET}::text as traced_param`);
          await database.db.transaction(async (tx) => {
            await tx.execute(sql`select 2 as in_transaction`);
          });
        },
        { root: true },
      );
      await telemetry.flush();
    } finally {
      await database.close();
      await telemetry.shutdown();
    }

    const root = spans.find((span) => span.name === 'test.request');
    expect(root).toBeDefined();
    const queries = spans.filter((span) => span.name === 'db.query');
    expect(queries.every((span) => span.traceId === root?.traceId)).toBe(true);
    const statements = queries.map((span) => span.attributes['db.statement']);
    expect(statements).toEqual(
      expect.arrayContaining(['select $1::text as traced_param', 'select 2 as in_transaction']),
    );
    expect(statements).not.toContain("select 'untraced' as outside");
    const param = queries.find((span) => span.attributes['db.statement'] === 'select $1::text as traced_param');
    expect(param).toMatchObject({
      kind: SPAN_KIND_CLIENT,
      parentSpanId: root?.spanId,
      attributes: { 'db.system': 'postgresql', 'db.operation': 'select' },
    });
    expect(JSON.stringify(spans)).not.toContain('patient-secret');
  });
});

/** A server that accepts connections and never answers: a hung PostgreSQL, a dropped route. */
async function startSilentServer() {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The messages of an error and its causes (Drizzle wraps the driver's error). */
function causes(error: unknown): string[] {
  const messages: string[] = [];
  for (let current = error; current instanceof Error; current = current.cause) messages.push(current.message);
  return messages;
}

async function elapsed(work: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe.skipIf(!servicesMode)('PostgreSQL timeouts (npm run test:services)', () => {
  const adminUrl = process.env.TEST_DATABASE_URL ?? '';
  const server = new URL(adminUrl || 'postgres://127.0.0.1:5432/test');
  const urlThrough = (port: number) => {
    const url = new URL(adminUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return url.toString();
  };
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) });
  });
  afterAll(() => proxy?.close());

  it('cancels a statement at statement_timeout on the server', async () => {
    const database = await openDatabase({ kind: 'postgres', url: adminUrl, statementTimeoutMs: 300 });
    try {
      const { rows } = (await database.db.execute(sql`show statement_timeout`)) as unknown as {
        rows: { statement_timeout: string }[];
      };
      expect(rows[0]?.statement_timeout).toBe('300ms');
      const { ms, error } = await elapsed(() => database.db.execute(sql`select pg_sleep(5)`));
      expect(String((error as { cause?: unknown })?.cause ?? error)).toMatch(/statement timeout/);
      expect(ms).toBeLessThan(2000);
    } finally {
      await database.close();
    }
  });

  it('gives up on a server that accepts the connection and never answers after the connect timeout', async () => {
    const silent = await startSilentServer();
    const database = await openDatabase({ kind: 'postgres', url: urlThrough(silent.port), connectTimeoutMs: 300 });
    try {
      const { ms, error } = await elapsed(() => database.ping());
      expect(error).toBeInstanceOf(Error);
      expect(ms).toBeLessThan(2000);
    } finally {
      await database.close();
      await silent.close();
    }
  });

  /** A pool of one connection through the proxy, warmed up: a leaked or stuck connection shows at once. */
  async function throughProxy(work: (database: Database) => Promise<void>) {
    const database = await openDatabase({
      kind: 'postgres',
      url: urlThrough(proxy.port),
      poolMax: 1,
      connectTimeoutMs: 1000,
      statementTimeoutMs: 300,
    });
    try {
      await database.ping();
      await work(database);
      await proxy.pass();
      const again = await elapsed(() => database.ping());
      expect(again.error).toBeUndefined();
      expect(again.ms).toBeLessThan(1000);
    } finally {
      await proxy.pass();
      await database.close();
    }
  }

  // The client-side timeout is the statement timeout plus 2 s.
  it('gives up on a connection that stops answering mid-transaction, once, and never hands it out again', async () => {
    await throughProxy(async (database) => {
      const { ms, error } = await elapsed(() =>
        database.db.transaction(async (tx) => {
          await proxy.blackhole();
          await tx.execute(sql`select 1`);
        }),
      );
      expect(causes(error)).toContain('Query read timeout');
      // The rollback after the timeout is not sent: the connection is closed, which ends the transaction.
      expect(ms).toBeGreaterThanOrEqual(2000);
      expect(ms).toBeLessThan(4000);
    });
  });

  it('returns the connection to the pool when BEGIN itself fails', async () => {
    await throughProxy(async (database) => {
      await proxy.blackhole();
      const { error } = await elapsed(() => database.db.transaction(async (tx) => tx.execute(sql`select 1`)));
      expect(causes(error)).toContain('Query read timeout');
    });
  });
});
