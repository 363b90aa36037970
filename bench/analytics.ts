/**
 * `npm run bench:analytics` (also part of `npm run bench`): product analytics under load, on the
 * built server (`node dist/server.js`: run `npm run build` first; BENCH_APP_ENTRY=src/server.ts
 * runs the source through tsx instead).
 *
 *   queries   GET /api/v1/admin/analytics/funnel (wellness, marketplace) and /retention over
 *             BENCH_ANALYTICS_EVENTS (1,000,000) generated events of BENCH_ANALYTICS_SUBJECTS
 *             (50,000) people over 75 days, each request a distinct range (every one a cache
 *             miss, checked on /metrics); BENCH_ANALYTICS_QUERY_RUNS (5) requests per report,
 *             one at a time. Target: under 500 ms each on PostgreSQL.
 *   ingest    POST /api/v1/events, 500-event batches from signed-in people who granted analytics
 *             consent, with properties the sanitiser has to remove or mask; BENCH_ANALYTICS_CONNECTIONS
 *             (4; on 2 cores more connections only add client and scheduling work), BENCH_WARMUP_S
 *             (2) + BENCH_DURATION_S (8). Target: at least 50,000 events/s on PostgreSQL. The server's
 *             own count of stored events (analytics_events_total on /metrics) is reported beside it.
 *
 * On the embedded database (PGlite) and, when BENCH_DATABASE_URL is set, on PostgreSQL in a fresh
 * database `bench_analytics_<pid>` dropped afterwards (BENCH_ANALYTICS_DATABASES=postgres: only
 * PostgreSQL). The generated events are inserted with SQL
 * (generate_series) before the server starts, with each person's facts computed from them as the
 * app's own inserts would have kept them. Writes bench/results/analytics.json. Only
 * 127.0.0.1 is loaded.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { type Database, openDatabase, queryRows } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { uuidv7 } from '../src/infra/ids.js';
import { rebuildFacts } from '../src/modules/analytics/analytics.facts.js';
import { ensurePartitions } from '../src/modules/analytics/analytics.maintenance.js';
import { users } from '../src/modules/identity/identity.tables.js';
import { hashPassword } from '../src/modules/identity/passwords.js';
import { envNumber, type Harness, runBench, type ServerProcess } from './lib.js';
import {
  appEntry,
  describeRun,
  mapLimit,
  measure,
  type RawRequest,
  type RunContext,
  type RunSummary,
  scenarioAppEnv,
  scratchDatabase,
  settledBuild,
  startReport,
  withIndexesDeferred,
} from './support.js';

const DAY_MS = 86_400_000;
const SPAN_DAYS = 75;
const BATCH = 500;
const PASSWORD = 'Bench-analytics-passphrase-2026';
const QUERY_TARGET_MS = 500;
const INGEST_TARGET_PER_S = 50_000;

export interface AnalyticsSettings {
  warmupS: number;
  durationS: number;
  connections: number;
  events: number;
  subjects: number;
  ingestUsers: number;
  queryRuns: number;
}

export function analyticsSettingsFromEnv(): AnalyticsSettings {
  return {
    warmupS: envNumber('BENCH_WARMUP_S', 2, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 8, 1, 600),
    connections: Math.round(envNumber('BENCH_ANALYTICS_CONNECTIONS', 4, 1, 1000)),
    events: Math.round(envNumber('BENCH_ANALYTICS_EVENTS', 1_000_000, 10_000, 20_000_000)),
    subjects: Math.round(envNumber('BENCH_ANALYTICS_SUBJECTS', 50_000, 100, 2_000_000)),
    ingestUsers: Math.round(envNumber('BENCH_ANALYTICS_USERS', 20, 1, 1000)),
    queryRuns: Math.round(envNumber('BENCH_ANALYTICS_QUERY_RUNS', 5, 1, 50)),
  };
}

// ---------------------------------------------------------------------------------------------
// Generated history

// Activity after sign-up, by share of events (the rest of the catalogue is rarer).
const ACTIVITY: [string, number][] = [
  ['content_viewed', 0.3],
  ['last_login', 0.2],
  ['diet_plan_viewed', 0.1],
  ['service_searched', 0.1],
  ['protection_plan_viewed', 0.08],
  ['slot_viewed', 0.07],
  ['reminder_triggered', 0.05],
  ['booking_created', 0.04],
  ['booking_completed', 0.03],
  ['premium_feature_used', 0.02],
  ['support_request', 0.01],
];

/** `case` over a uniform random number `r`: the activity name by its share. */
function activityName(): string {
  let cumulative = 0;
  const arms = ACTIVITY.map(([name, share]) => {
    cumulative += share;
    return `when r < ${cumulative.toFixed(4)} then '${name}'`;
  });
  return `case ${arms.join(' ')} else 'support_request' end`;
}

/**
 * Inserts `events` events of `subjects` people who signed up over the last 75 days: a sign-up
 * each, a completed profile for 70%, and activity front-loaded after sign-up. Deterministic ids
 * (md5), random times and plans. Returns the rows inserted.
 */
export async function generateHistory(
  database: Database,
  settings: Pick<AnalyticsSettings, 'events' | 'subjects'>,
  now: Date,
): Promise<number> {
  const db = database.db;
  const start = new Date(now.getTime() - SPAN_DAYS * DAY_MS).toISOString();
  const end = now.toISOString();
  const profiles = Math.round(settings.subjects * 0.7);
  await db.execute(sql.raw('drop table if exists bench_subjects'));
  await db.execute(
    sql.raw(`create table bench_subjects as
      select s, md5('subject-' || s)::uuid as subject,
        '${start}'::timestamptz + random() * interval '${SPAN_DAYS} days' as t0,
        (array['free', 'free', 'free', 'trial', 'premium'])[1 + floor(random() * 5)::int] as plan,
        (array['GB', 'US', 'DE', 'FR', 'IN', 'NG', 'BR', 'ES'])[1 + floor(random() * 8)::int] as country
      from generate_series(1, ${settings.subjects}) s`),
  );
  const insert = (select: string) =>
    db.execute(
      sql.raw(
        `insert into product_events (id, name, occurred_at, subject, cohort_at, source, plan, country, properties) ${select}`,
      ),
    );
  // The events' indexes are built once, after the rows are in (as fast as a restore would be).
  await withIndexesDeferred(db, 'product_events', async () => {
    await insert(`select md5('signup-' || s)::uuid, 'user_signed_up', t0, subject, t0, 'server', plan, country, '{}'::jsonb
      from bench_subjects`);
    await insert(`select md5('profile-' || s)::uuid, 'profile_completed',
        least(t0 + random() * interval '3 days', '${end}'::timestamptz), subject, t0, 'server', plan, country, '{}'::jsonb
      from bench_subjects where s <= ${profiles}`);
    // Activity: each event goes to a person picked at random (so some are far busier than
    // others), at a time after her sign-up, more often soon after it.
    const activity = settings.events - settings.subjects - profiles;
    await insert(`select md5('activity-' || i)::uuid, ${activityName()},
        least(t0 + (random() ^ 2) * interval '45 days', '${end}'::timestamptz), subject, t0, 'server', plan, country,
        case when r < 0.3 then jsonb_build_object('content_id', md5('content-' || (i % 50))::uuid::text) else '{}'::jsonb end
      from (select i, 1 + floor(random() * ${settings.subjects})::int as pick, random() as r
        from generate_series(1, ${activity}) i) a
      join bench_subjects b on b.s = a.pick`);
  });
  await db.execute(sql.raw('drop table bench_subjects'));
  // What the app's inserts would have kept: each person's facts, from her events.
  await rebuildFacts(db, now);
  await db.execute(sql.raw('analyze product_events'));
  await db.execute(sql.raw('analyze analytics_subject_facts'));
  const [row] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from product_events`);
  return row?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------
// People

const ADMIN_EMAIL = 'bench-admin@example.test';

/** The admin who reads the reports, made in the database before the server starts (no admin exists to promote one). */
export async function createAdmin(database: Database) {
  const now = new Date();
  await database.db.insert(users).values({
    id: uuidv7(),
    email: ADMIN_EMAIL,
    passwordHash: await hashPassword(PASSWORD),
    name: 'Bench Admin',
    role: 'admin',
    passwordChangedAt: now,
    createdAt: now,
    updatedAt: now,
  });
}

export interface Person {
  email: string;
  token: string;
}

async function post<T>(server: ServerProcess, path: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(new URL(path, server.url), {
    method: path.includes('consents') ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: T }).data;
}

async function signUp(server: ServerProcess, email: string): Promise<Person> {
  await post(server, '/api/v1/auth/signup', { email, password: PASSWORD });
  return login(server, email);
}

async function login(server: ServerProcess, email: string): Promise<Person> {
  const data = await post<{ access_token: string }>(server, '/api/v1/auth/login', { email, password: PASSWORD });
  return { email, token: data.access_token };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

export interface QueryResult {
  report: string;
  runsMs: number[];
  medianMs: number;
  maxMs: number;
  cacheMisses: number;
  target: string;
  met: boolean;
}

export interface IngestResult {
  summary: RunSummary;
  batchSize: number;
  eventsPerSec: number;
  storedDuringRun: number;
  acceptedInSample: number;
  target: string;
  met: boolean | null;
}

export interface DatabaseResult {
  database: 'pglite' | 'postgres';
  generatedEvents: number;
  generateSeconds: number;
  queries: QueryResult[];
  ingest: IngestResult;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
};

/** A counter from /metrics: the first sample line that starts with `prefix`. */
async function counter(server: ServerProcess, prefix: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
const reportCacheMisses = (server: ServerProcess) =>
  counter(server, 'cache_requests_total{cache="analytics_report",result="miss"}');
const storedClientEvents = (server: ServerProcess) =>
  counter(server, 'analytics_events_total{source="client",outcome="stored"}');

/** The admin made by `createAdmin`, signed in. */
export const signInAdmin = (server: ServerProcess) => login(server, ADMIN_EMAIL);

/** Each report `runs` times, one request at a time, each over a range no earlier request used. */
export async function runQueries(
  server: ServerProcess,
  admin: Person,
  settings: Pick<AnalyticsSettings, 'queryRuns'>,
  kind: string,
) {
  const results: QueryResult[] = [];
  const today = new Date();
  const to = today.toISOString().slice(0, 10);
  let offset = 0;
  for (const report of ['funnel?journey=wellness', 'funnel?journey=marketplace', 'retention']) {
    const runsMs: number[] = [];
    const missesBefore = await reportCacheMisses(server);
    for (let run = 0; run < settings.queryRuns; run++) {
      // A range starting one day later each time: a new cache key, nearly the same work.
      const from = new Date(today.getTime() - (SPAN_DAYS + 5 - offset++) * DAY_MS).toISOString().slice(0, 10);
      const url = new URL(
        `/api/v1/admin/analytics/${report}${report.includes('?') ? '&' : '?'}from=${from}&to=${to}`,
        server.url,
      );
      const started = performance.now();
      const response = await fetch(url, { headers: { authorization: `Bearer ${admin.token}` } });
      const body = await response.text();
      const ms = performance.now() - started;
      if (response.status !== 200) throw new Error(`${report}: ${response.status} ${body}`);
      runsMs.push(Math.round(ms * 10) / 10);
    }
    const misses = (await reportCacheMisses(server)) - missesBefore;
    const medianMs = median(runsMs);
    results.push({
      report,
      runsMs,
      medianMs,
      maxMs: Math.max(...runsMs),
      cacheMisses: misses,
      target: kind === 'postgres' ? `< ${QUERY_TARGET_MS} ms` : 'none (PostgreSQL is the target)',
      met: medianMs < QUERY_TARGET_MS,
    });
  }
  return results;
}

/** Batches for a person: every client event type, and properties the sanitiser must clean. */
function batchBody(seed: number): string {
  const now = Date.now();
  const events = Array.from({ length: BATCH }, (_, i) => {
    const time = new Date(now - ((seed * BATCH + i) % 3600) * 1000).toISOString();
    const device_id = `device-${seed}`;
    switch (i % 5) {
      case 0:
        return {
          name: 'content_viewed',
          time,
          device_id,
          properties: { content_id: '0193a5b0-0000-7000-8000-0000000000c1', type: 'article', referrer: 'newsletter' },
        };
      case 1:
        return {
          name: 'service_searched',
          time,
          device_id,
          properties: { results: 12, has_query: true, contact_email: 'someone@example.com' },
        };
      case 2:
        return {
          name: 'slot_viewed',
          time,
          device_id,
          properties: {
            provider_id: '0193a5b0-0000-7000-8000-0000000000d1',
            slots: 7,
            note: 'call me on +44 7700 900123 or write to me@example.com',
          },
        };
      case 3:
        return { name: 'diet_plan_viewed', time, device_id, properties: { personalised: true, items: 6 } };
      default:
        return {
          name: 'protection_plan_viewed',
          time,
          device_id,
          properties: { personalised: false, items: 4, home_address: '12 Baker Street' },
        };
    }
  });
  return JSON.stringify({ events });
}

async function runIngest(
  server: ServerProcess,
  people: Person[],
  settings: AnalyticsSettings,
  kind: string,
): Promise<IngestResult> {
  const bodies = people.map((_, i) => batchBody(i));
  const sample = await post<{ accepted: number; rejected: unknown[] }>(
    server,
    '/api/v1/events',
    JSON.parse(bodies[0] as string),
    people[0]?.token,
  );
  if (sample.accepted !== BATCH) throw new Error(`a sample batch stored ${sample.accepted} of ${BATCH} events`);
  const before = await storedClientEvents(server);
  let n = 0;
  const setupRequest = (request: RawRequest): RawRequest => {
    const i = n++ % people.length;
    return {
      ...request,
      method: 'POST',
      path: '/api/v1/events',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${(people[i] as Person).token}` },
      body: bodies[i] as string,
    };
  };
  const summary = await measure(
    'ingest',
    { server, path: '/api/v1/events', method: 'POST', connections: settings.connections, setupRequest },
    settings,
  );
  const stored = (await storedClientEvents(server)) - before;
  const eventsPerSec = summary.requestsPerSec * BATCH;
  return {
    summary,
    batchSize: BATCH,
    eventsPerSec,
    storedDuringRun: stored,
    acceptedInSample: sample.accepted,
    target:
      kind === 'postgres'
        ? `>= ${INGEST_TARGET_PER_S.toLocaleString('en-US')} events/s`
        : 'none (PostgreSQL is the target)',
    met: kind === 'postgres' ? eventsPerSec >= INGEST_TARGET_PER_S : null,
  };
}

export function formatDatabaseResult(result: DatabaseResult): string {
  const lines = [
    `analytics on ${result.database}: ${result.generatedEvents.toLocaleString('en-US')} events generated in ${result.generateSeconds.toFixed(1)} s`,
    ...result.queries.map(
      (q) =>
        `  ${q.report.padEnd(28)} median ${q.medianMs} ms, max ${q.maxMs} ms over ${q.runsMs.length} uncached runs (${q.cacheMisses} cache misses); target ${q.target}${result.database === 'postgres' ? (q.met ? ' MET' : ' NOT MET') : ''}`,
    ),
    `  ingest (500-event batches)  ${result.ingest.eventsPerSec.toLocaleString('en-US')} events/s (${describeRun(result.ingest.summary)}); ${result.ingest.storedDuringRun.toLocaleString('en-US')} rows stored during warm-up + run; target ${result.ingest.target}${result.ingest.met === null ? '' : result.ingest.met ? ' MET' : ' NOT MET'}`,
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Entry

export interface AnalyticsReport extends RunContext {
  settings: AnalyticsSettings;
  databases: DatabaseResult[];
}

export async function runAnalytics(
  harness: Harness,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<AnalyticsReport> {
  const entry = appEntry(log);
  const settings = analyticsSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-analytics-');
  const report = startReport('analytics', log);
  const databases: DatabaseResult[] = [];
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  // BENCH_ANALYTICS_DATABASES=postgres skips the embedded run (default: both, PostgreSQL when its URL is set).
  const wanted = (process.env.BENCH_ANALYTICS_DATABASES ?? 'pglite,postgres').split(',').map((name) => name.trim());
  const targets = (['pglite', 'postgres'] as const).filter(
    (kind) => wanted.includes(kind) && (kind === 'pglite' || databaseUrl),
  );

  for (const kind of targets) {
    log(`\nanalytics (${kind}): generating ${settings.events.toLocaleString('en-US')} events`);
    const scratch =
      kind === 'postgres' && databaseUrl ? await scratchDatabase(databaseUrl, 'bench_analytics_', log) : undefined;
    const dataDir = join(workDir, 'pglite-data');
    let server: ServerProcess | undefined;
    let setupDb: Database | undefined;
    try {
      const open = () =>
        scratch ? openDatabase({ kind: 'postgres', url: scratch.url }) : openDatabase({ kind: 'pglite', dataDir });
      setupDb = await open();
      await migrate(setupDb.db);
      await ensurePartitions(setupDb.db, new Date());
      const started = performance.now();
      const generated = await generateHistory(setupDb, settings, new Date());
      const generateSeconds = (performance.now() - started) / 1000;
      log(`  generated ${generated.toLocaleString('en-US')} events in ${generateSeconds.toFixed(1)} s`);
      await createAdmin(setupDb);
      // PGlite is one process's database: the server opens it once this one lets go.
      if (!scratch) {
        await setupDb.close();
        setupDb = undefined;
      }
      await settledBuild(entry, log);
      server = await harness.startServer({
        name: `analytics-${kind}`,
        entry,
        readyPath: '/api/health/ready',
        stdoutFile: join(workDir, `app-${kind}.log`),
        env: scenarioAppEnv(workDir, scratch ? { DATABASE_URL: scratch.url } : { DATA_DIR: dataDir }),
        readyTimeoutMs: 120_000,
      });
      const tag = `${process.pid}-${kind}`;
      const people = await mapLimit(
        Array.from({ length: settings.ingestUsers }, (_, i) => `bench-${i}-${tag}@example.test`),
        4,
        async (email) => {
          const person = await signUp(server as ServerProcess, email);
          await post(server as ServerProcess, '/api/v1/me/consents/analytics', { granted: true }, person.token);
          return person;
        },
      );
      const admin = await signInAdmin(server);
      const queries = await runQueries(server, admin, settings, kind);
      for (const q of queries) log(`  ${q.report.padEnd(28)} median ${q.medianMs} ms, max ${q.maxMs} ms`);
      const ingest = await runIngest(server, people, settings, kind);
      log(`  ingest ${ingest.eventsPerSec.toLocaleString('en-US')} events/s (${describeRun(ingest.summary)})`);
      const result: DatabaseResult = {
        database: kind,
        generatedEvents: generated,
        generateSeconds: Math.round(generateSeconds * 10) / 10,
        queries,
        ingest,
      };
      databases.push(result);
      log(`\n${formatDatabaseResult(result)}`);
    } finally {
      await server?.stop();
      await setupDb?.close();
      await scratch?.drop();
    }
  }

  return report.finish({ settings, databases });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runAnalytics(harness);
  });
}
