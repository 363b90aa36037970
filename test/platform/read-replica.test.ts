/**
 * DATABASE_READ_URL on real PostgreSQL (npm run test:services; skipped on the embedded database,
 * which has no replica). The "replica" is the same database reached through a second TCP proxy
 * under its own application_name; each proxy records the SQL text the app sends through it (the
 * Query and Parse messages of the wire protocol), so the test sees which connection served which
 * statement: search, slots, content lists and reports on the replica; bookings, the reads right
 * after them and every write on the primary. A replica that cannot be reached costs freshness,
 * never a request: its reads go to the primary and /api/health says degraded.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Database, openDatabase } from '../../src/infra/db/client.js';
import { WEEKDAY_SCHEDULE } from '../bookings/helpers.js';
import { startTcpProxy, type TcpProxy } from '../faults/tcp-proxy.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { servicesMode } from '../helpers/database.js';
import { createUser, type TestUser } from '../helpers/users.js';

const HEALTH_TOKEN = 'monitor-token-0123456789';
/** Monday 22 March 2027, 06:00 UTC: the weekday schedule has free slots from 09:00 London time. */
const START = new Date('2027-03-22T06:00:00Z');

interface RecordingProxy {
  readonly port: number;
  /** SQL text sent through the proxy since the last `take()`, in order; clears the record. */
  take(): string[];
  close(): Promise<void>;
}

/**
 * Reads the frontend messages of one connection: after the startup message (no type byte),
 * each is a type byte and a length. 'Q' carries a query's text, 'P' (Parse) a statement name
 * and then its text.
 */
function sqlRecorder(record: (text: string) => void) {
  let buffer = Buffer.alloc(0);
  let started = false;
  return (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!started) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        buffer = buffer.subarray(buffer.readInt32BE(0));
        started = true;
        continue;
      }
      if (buffer.length < 5 || buffer.length < buffer.readInt32BE(1) + 1) return;
      const type = String.fromCharCode(buffer[0] as number);
      const body = buffer.subarray(5, buffer.readInt32BE(1) + 1);
      if (type === 'Q') record(body.toString('utf8', 0, body.indexOf(0)));
      if (type === 'P') {
        const nameEnd = body.indexOf(0);
        record(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1)));
      }
      buffer = buffer.subarray(body.length + 5);
    }
  };
}

async function startRecordingProxy(target: { host: string; port: number }): Promise<RecordingProxy> {
  let statements: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on(
      'data',
      sqlRecorder((text) => statements.push(text)),
    );
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.connect(target.port, target.host);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    take() {
      const taken = statements;
      statements = [];
      return taken;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const adminUrl = process.env.TEST_DATABASE_URL ?? '';

/** A database copied from the run's migrated template, reached at `host:port`. */
function urlOf(name: string, port: number, applicationName?: string): string {
  const url = new URL(adminUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.pathname = `/${name}`;
  if (applicationName) url.searchParams.set('application_name', applicationName);
  return url.toString();
}

async function admin<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(!servicesMode)('read replica, DATABASE_READ_URL (npm run test:services)', () => {
  const name = `care_test_replica_${randomBytes(4).toString('hex')}`;
  const server = servicesMode ? new URL(adminUrl) : undefined;
  const target = { host: server?.hostname ?? '127.0.0.1', port: Number(server?.port || 5432) };
  let primaryProxy: RecordingProxy;
  let replicaProxy: RecordingProxy;
  let t: TestApp;
  let adminUser: TestUser;
  let providerUser: TestUser;
  let customer: TestUser;
  let providerId: string;
  let serviceId: string;

  const send = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, user?: TestUser, payload?: object) => {
    const res = await t.app.inject({ method, url: `/api/v1${url}`, headers: { ...user?.headers }, payload });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json().data;
  };

  /** What each connection was sent while `work` ran. */
  async function routed(work: () => Promise<unknown>) {
    primaryProxy.take();
    replicaProxy.take();
    await work();
    return { primary: primaryProxy.take(), replica: replicaProxy.take() };
  }
  const matching = (statements: string[], pattern: RegExp) => statements.filter((text) => pattern.test(text));

  beforeAll(async () => {
    await admin(`create database ${name} template ${inject('postgresTemplate')}`);
    primaryProxy = await startRecordingProxy(target);
    replicaProxy = await startRecordingProxy(target);
    const database = await openDatabase({
      kind: 'postgres',
      url: urlOf(name, primaryProxy.port),
      readUrl: urlOf(name, replicaProxy.port, 'care-replica'),
    });
    t = await buildTestApp({ database, clock: createTestClock(START), env: { HEALTH_TOKEN } });
    adminUser = await createUser(t.app, { role: 'admin' });
    providerUser = await createUser(t.app, { role: 'provider' });
    customer = await createUser(t.app);
    const category = await send('POST', '/admin/categories', adminUser, {
      slug: `replica-${name.replaceAll('_', '-')}`,
      name: 'Massage',
    });
    const profile = await send('PATCH', '/provider/profile', providerUser, {
      display_name: 'Replica Provider',
      time_zone: 'Europe/London',
    });
    providerId = profile.id;
    await send('PATCH', `/admin/providers/${providerId}`, adminUser, { verification: 'verified' });
    const service = await send('POST', '/provider/services', providerUser, {
      name: 'Replicated massage',
      category_id: category.id,
      duration_minutes: 60,
      buffer_minutes: 15,
      price_minor: 5000,
      currency: 'EUR',
    });
    serviceId = service.id;
    await send('PUT', '/provider/availability', providerUser, WEEKDAY_SCHEDULE);
  });

  afterAll(async () => {
    await t?.close();
    await Promise.all([primaryProxy?.close(), replicaProxy?.close()]);
    await admin(`drop database if exists ${name} with (force)`);
  });

  it('opens the replica connections under their own application_name', async () => {
    await send('GET', '/services/search?q=replicated');
    const rows = await admin<{ application_name: string }>(
      'select distinct application_name from pg_stat_activity where datname = $1 order by 1',
      [name],
    );
    expect(rows.map((row) => row.application_name)).toEqual(['care-platform', 'care-replica']);
  });

  it('reports the connections of both pools (db_pool_connections)', () => {
    const usage = t.database.poolUsage?.() ?? [];
    expect(usage.map((reading) => [reading.pool, reading.max])).toEqual([
      ['primary', 10],
      ['replica', 10],
    ]);
    expect(usage.every((reading) => reading.total >= 1 && reading.waiting === 0)).toBe(true);
  });

  it('searches on the replica; the search event is written on the primary', async () => {
    const { primary, replica } = await routed(async () => {
      const results = await send('GET', '/services/search?q=massage&sort=price');
      expect(results.map((item: { id: string }) => item.id)).toContain(serviceId);
      // The search event is recorded later, batched: store it now.
      await t.app.platform.track.flush();
    });
    // Two reads: a price sort first checks that the matches share one currency, then pages them.
    expect(matching(replica, /websearch_to_tsquery/)).toHaveLength(2);
    expect(matching(primary, /websearch_to_tsquery/)).toEqual([]);
    expect(matching(primary, /^insert into "?product_events"?/)).toHaveLength(1);
    expect(matching(replica, /^(insert|update|delete|begin)/i)).toEqual([]);
  });

  // A slot list is cached until the provider's schedule or bookings change: computed on the replica, its lag
  // would stay in the cache, so it is computed on the primary (the replica serves it only while the store is down).
  it('computes a slot list to cache on the primary, so that no replica lag is cached', async () => {
    const { primary, replica } = await routed(async () => {
      const slots = await send('GET', `/providers/${providerId}/slots?service_id=${serviceId}`);
      expect(slots.slots).toContain('2027-03-22T10:00:00.000Z');
    });
    expect(matching(primary, /from "availability"/)).toHaveLength(1);
    expect(matching(primary, /from "bookings"/)).toHaveLength(1);
    expect(matching(replica, /from "availability"|from "bookings"/)).toEqual([]);
  });

  it('lists content and answers reports on the replica', async () => {
    const { primary, replica } = await routed(async () => {
      await send('GET', '/content?q=replicated');
      await send('GET', '/admin/analytics/funnel?journey=marketplace&from=2027-03-01&to=2027-03-22', adminUser);
    });
    expect(matching(replica, /from "content_items"/).length).toBeGreaterThan(0);
    expect(matching(replica, /analytics_subject_facts|product_events/).length).toBeGreaterThan(0);
    expect(matching(primary, /^(select|with)\b.*(from "content_items"|analytics_subject_facts)/)).toEqual([]);
  });

  it('books on the primary, and the customer’s own list right after it reads the primary too', async () => {
    const booking = await routed(() =>
      send('POST', '/bookings', customer, { service_id: serviceId, starts_at: '2027-03-22T10:00:00.000Z' }),
    );
    expect(matching(booking.primary, /^insert into "bookings"/)).toHaveLength(1);
    expect(booking.replica).toEqual([]);

    const mine = await routed(async () => {
      const list = await send('GET', '/me/bookings', customer);
      expect(list.map((item: { starts_at: string }) => item.starts_at)).toEqual(['2027-03-22T10:00:00.000Z']);
    });
    expect(matching(mine.primary, /from "bookings"/).length).toBeGreaterThan(0);
    expect(mine.replica).toEqual([]);
  });

  it('shows the replica in /api/health', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/health',
      headers: { authorization: `Bearer ${HEALTH_TOKEN}` },
    });
    expect(res.json()).toMatchObject({
      status: 'healthy',
      services: { database: { status: 'up' }, database_replica: { status: 'up', kind: 'postgres' } },
    });
  });

  describe('a replica that cannot be reached', () => {
    let replicaHop: TcpProxy;
    let database: Database;
    let other: TestApp;

    beforeAll(async () => {
      replicaHop = await startTcpProxy(target);
      database = await openDatabase({
        kind: 'postgres',
        url: urlOf(name, primaryProxy.port),
        readUrl: urlOf(name, replicaHop.port, 'care-replica'),
      });
      other = await buildTestApp({ database, clock: createTestClock(START), env: { HEALTH_TOKEN } });
    });
    afterAll(async () => {
      await other?.close();
      await replicaHop?.close();
    });

    const health = () =>
      other.app.inject({ method: 'GET', url: '/api/health', headers: { authorization: `Bearer ${HEALTH_TOKEN}` } });

    it('sends its reads to the primary and makes the app degraded, not critical; up again when it answers', async () => {
      await replicaHop.refuse();
      replicaHop.cut();
      const { primary } = await routed(async () => {
        const res = await other.app.inject({ method: 'GET', url: '/api/v1/services/search?q=massage&sort=rating' });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().data.map((item: { id: string }) => item.id)).toContain(serviceId);
      });
      expect(matching(primary, /websearch_to_tsquery/)).toHaveLength(1);

      const down = await health();
      expect(down.statusCode).toBe(200);
      expect(down.json()).toMatchObject({
        success: true,
        status: 'degraded',
        services: { database: { status: 'up' }, database_replica: { status: 'down' } },
      });
      expect((await other.app.inject({ method: 'GET', url: '/api/health/ready' })).statusCode).toBe(200);

      await replicaHop.pass();
      expect((await health()).json()).toMatchObject({
        status: 'healthy',
        services: { database_replica: { status: 'up' } },
      });
    });
  });
});
