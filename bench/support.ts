/**
 * Pieces the scenario files share: one autocannon run with per-request setup, a warm-up +
 * measured pair, timed request batches with every latency kept, bounded parallel setup calls,
 * cache counters from /metrics, the built server, a Redis namespace per run, and scratch
 * PostgreSQL databases that are dropped afterwards (and swept up when a killed run left one behind).
 */

import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type Db, queryRows } from '../src/infra/db/client.js';
import { BENCH_HOST, processUsage, REPO_ROOT, RESULTS_DIR, runStats, type ServerProcess } from './lib.js';

// The parts of autocannon's API used here and not in bench/autocannon.d.ts.
export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
/** autocannon's per-connection context: what `setupRequest` left there for `onResponse` to read. */
export type RequestContext = Record<string, unknown>;
type Requests = {
  setupRequest: (request: RawRequest, context: RequestContext) => RawRequest;
  onResponse?: (status: number, body: string, context: RequestContext) => void;
}[];

/** The harness's load summary, without the target's label, method and URL (the scenario names them). */
export type RunSummary = ReturnType<typeof runStats>;

export interface LoadSpec {
  server: ServerProcess;
  /** The first request's path (autocannon's URL); `setupRequest` may change each request. */
  path: string;
  connections: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: RawRequest, context: RequestContext) => RawRequest;
  /** Reads each response (status, body) with the context its request's `setupRequest` wrote. */
  onResponse?: (status: number, body: string, context: RequestContext) => void;
}

async function cannon(spec: LoadSpec, durationS: number): Promise<autocannon.Result> {
  const url = new URL(spec.path, spec.server.url);
  if (url.hostname !== BENCH_HOST) throw new Error(`refusing to load ${url.href}: only ${BENCH_HOST} is benched`);
  const requests: Requests | undefined = spec.setupRequest
    ? [{ setupRequest: spec.setupRequest, ...(spec.onResponse ? { onResponse: spec.onResponse } : {}) }]
    : undefined;
  const options = {
    url: url.href,
    connections: spec.connections,
    duration: durationS,
    timeout: 10,
    method: spec.method ?? 'GET',
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(spec.body ? { body: spec.body } : {}),
    ...(requests ? { requests } : {}),
  } as autocannon.Options;
  return await autocannon(options);
}

/** A warm-up run (discarded) then the measured run; throws when nothing succeeded. */
export async function measure(
  label: string,
  spec: LoadSpec,
  settings: { warmupS: number; durationS: number },
): Promise<RunSummary> {
  spec.server.assertRunning();
  if (settings.warmupS > 0) await cannon(spec, settings.warmupS);
  const loadAverage = loadNow();
  const before = await processUsage(spec.server.pid);
  const result = await cannon(spec, settings.durationS);
  const after = await processUsage(spec.server.pid);
  spec.server.assertRunning();
  if (result['2xx'] === 0) {
    throw new Error(
      `${label}: no 2xx responses (${result.errors} errors, status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  const summary: RunSummary = { ...runStats(result), loadAverage };
  // The app's own CPU per request (the database's is not in it): steadier than req/s on a busy machine.
  if (before && after && result.requests.total > 0) {
    summary.serverCpuUsPerRequest = Math.round(((after.cpuMs - before.cpuMs) * 1000) / result.requests.total);
  }
  return summary;
}

/** Status codes other than 2xx, e.g. "503 × 4, 500 × 1", or "0". */
const otherStatuses = (run: RunSummary) =>
  run.non2xx === 0
    ? '0'
    : Object.entries(run.statusCodes)
        .filter(([status]) => !status.startsWith('2'))
        .map(([status, count]) => `${status} × ${count}`)
        .join(', ');

export const describeRun = (run: RunSummary) =>
  `${run.requestsPerSec} req/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms, non-2xx ${otherStatuses(run)}, errors ${run.errors}` +
  (run.serverCpuUsPerRequest !== undefined ? `, app CPU ${run.serverCpuUsPerRequest} µs/request` : '') +
  (run.loadAverage !== undefined ? `, load ${run.loadAverage}` : '');

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.href;
}

/** Drops `<prefix><pid>` databases left behind by runs that were killed (their process is gone). */
async function dropStale(admin: pg.Client, prefix: string, log: (line: string) => void) {
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database where datname like '${prefix}%'`,
  );
  for (const { datname } of rows) {
    const pid = Number(datname.slice(prefix.length));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (Number.isInteger(pid) && !alive) {
      await admin.query(`drop database if exists "${datname}" with (force)`);
      log(`dropped stale ${datname}`);
    }
  }
}

/** A fresh database `<prefix><pid>` next to `url`'s; `drop` removes it. */
export async function scratchDatabase(
  url: string,
  prefix: string,
  log: (line: string) => void,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await dropStale(admin, prefix, log);
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(url, name),
    drop: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Environment of the app under a scenario file's load: no demo data, limits raised, no load shedding. */
export const scenarioAppEnv = (workDir: string, database: Record<string, string>) => ({
  NODE_ENV: 'development',
  SEED_DEMO_DATA: 'false',
  RATE_LIMIT_SENSITIVE_MAX: '100000000',
  RATE_LIMIT_USER_MAX: '100000000',
  RATE_LIMIT_ANON_MAX: '100000000',
  DATA_DIR: join(workDir, 'unused-data'),
  LOG_LEVEL: 'info',
  WORKERS_ENABLED: 'false',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  ...database,
});

export interface RunContext {
  loadAverage: { before: number; after: number; cpus: number };
  measuredAt: string;
  machine: { node: string; platform: string; cpus: number; cpuModel: string | undefined };
}

/** Notes the load average now; `finish` adds the machine and load to `body` and writes bench/results/<name>.json. */
export function startReport(name: string, log: (line: string) => void) {
  const before = loadavg()[0] ?? 0;
  return {
    async finish<T extends object>(body: T): Promise<T & RunContext> {
      const cpuList = cpus();
      const report = {
        ...body,
        loadAverage: {
          before: Math.round(before * 100) / 100,
          after: Math.round((loadavg()[0] ?? 0) * 100) / 100,
          cpus: cpuList.length,
        },
        measuredAt: new Date().toISOString(),
        machine: {
          node: process.version,
          platform: process.platform,
          cpus: cpuList.length,
          cpuModel: cpuList[0]?.model,
        },
      };
      if (before > cpuList.length) {
        log(
          `warning: load average was ${report.loadAverage.before} on ${cpuList.length} CPUs before the runs; other work on this machine skews these figures`,
        );
      }
      await mkdir(RESULTS_DIR, { recursive: true });
      const file = join(RESULTS_DIR, `${name}.json`);
      await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
      log(`results: ${file}`);
      return report;
    },
  };
}

/** A bookable service of a bench's seeded provider, as the slot plan needs it. */
export interface PlanOffer {
  serviceId: string;
  durationMinutes: number;
  bufferMinutes: number;
}

/**
 * The order booking benches take slots in: each offer's free slots (from `slotsOf`) kept apart by
 * its visit + buffer, so no two planned bookings overlap, interleaved across providers so that
 * consecutive requests do not queue on one provider's rows.
 */
export async function interleavedSlotPlan<O extends PlanOffer>(
  offers: O[],
  slotsOf: (offer: O) => Promise<string[]>,
): Promise<{ serviceId: string; startsAt: string }[]> {
  const perProvider = await mapLimit(offers, 8, async (offer) => {
    const blockMs = (offer.durationMinutes + offer.bufferMinutes) * 60_000;
    const picked: string[] = [];
    let freeFrom = 0;
    for (const slot of await slotsOf(offer)) {
      const at = Date.parse(slot);
      if (at >= freeFrom) {
        picked.push(slot);
        freeFrom = at + blockMs;
      }
    }
    return picked.map((startsAt) => ({ serviceId: offer.serviceId, startsAt }));
  });
  const plan: { serviceId: string; startsAt: string }[] = [];
  for (let i = 0; perProvider.some((list) => i < list.length); i++) {
    for (const list of perProvider) {
      const slot = list[i];
      if (slot) plan.push(slot);
    }
  }
  return plan;
}

/** GET a JSON route of the app under test (set-up, outside the measured runs): its `data`. */
export async function getJson<T>(server: ServerProcess, path: string): Promise<T> {
  const response = await fetch(new URL(path, server.url));
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: T }).data;
}

/** Signs a seeded account in (set-up, outside the measured runs): its access token. */
export async function login(server: ServerProcess, email: string, password: string): Promise<string> {
  const response = await fetch(new URL('/api/v1/auth/login', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 200) throw new Error(`login ${email}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: { access_token: string } }).data.access_token;
}

// ---------------------------------------------------------------------------------------------
// Timed requests: every latency kept, so percentiles can span several batches

export interface TimedRequest {
  method?: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface TimedBatch {
  latenciesMs: number[];
  statusCodes: Record<string, number>;
  /** Wall time from the first request sent to the last answer. */
  elapsedMs: number;
  /** Each answer's status and body, in request order, when asked for. */
  answers?: { status: number; body: string }[];
}

/**
 * Sends batches of requests to the server with at most `concurrency` in flight on kept-alive
 * connections, and times each one. For runs autocannon cannot drive: a write between batches
 * (a schedule change that makes the next reads cache misses), or a body read per request.
 */
export function requestTimer(server: ServerProcess, concurrency: number) {
  const base = new URL(server.url);
  if (base.hostname !== BENCH_HOST) throw new Error(`refusing to load ${base.href}: only ${BENCH_HOST} is benched`);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const send = (spec: TimedRequest, keepBody: boolean) =>
    new Promise<{ status: number; ms: number; body: string }>((resolve, reject) => {
      const started = performance.now();
      const outgoing = httpRequest(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: spec.method ?? 'GET',
          path: spec.path,
          headers: spec.headers,
          timeout: 10_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => {
            if (keepBody) chunks.push(chunk);
          });
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              ms: performance.now() - started,
              body: keepBody ? Buffer.concat(chunks).toString('utf8') : '',
            }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error(`${spec.path}: no answer within 10 s`)));
      outgoing.on('error', reject);
      outgoing.end(spec.body);
    });
  return {
    async run(requests: TimedRequest[], options: { keepBodies?: boolean } = {}): Promise<TimedBatch> {
      server.assertRunning();
      const started = performance.now();
      const answers = await mapLimit(requests, concurrency, (spec) => send(spec, options.keepBodies === true));
      const statusCodes: Record<string, number> = {};
      for (const { status } of answers) statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      return {
        latenciesMs: answers.map((answer) => answer.ms),
        statusCodes,
        elapsedMs: performance.now() - started,
        ...(options.keepBodies ? { answers: answers.map(({ status, body }) => ({ status, body })) } : {}),
      };
    },
    close: () => agent.destroy(),
  };
}

export interface LatencySummary {
  requests: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentiles of every latency, to 0.1 ms. */
export function summariseLatencies(latenciesMs: number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  const tenth = (ms: number) => Math.round(ms * 10) / 10;
  return {
    requests: sorted.length,
    p50Ms: tenth(rank(50)),
    p95Ms: tenth(rank(95)),
    p99Ms: tenth(rank(99)),
    maxMs: tenth(sorted.at(-1) ?? Number.NaN),
  };
}

// ---------------------------------------------------------------------------------------------
// Cache counters, as the app reports them

/** Look-ups per `cache` label of cache_requests_total on /metrics, so far. */
export type CacheCounts = Record<string, { hit: number; miss: number }>;

export async function cacheCounts(server: ServerProcess): Promise<CacheCounts> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const counts: CacheCounts = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('cache_requests_total{')) continue;
    const cache = /cache="([^"]*)"/.exec(line)?.[1];
    const result = /result="([^"]*)"/.exec(line)?.[1];
    if (!cache || (result !== 'hit' && result !== 'miss')) continue;
    counts[cache] ??= { hit: 0, miss: 0 };
    counts[cache][result] += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

export interface CacheUse {
  /** The cache labels that were counted. */
  caches: string[];
  hit: number;
  miss: number;
  /** Hits as a share of look-ups, %; null when there was none. */
  hitPct: number | null;
}

/** Hits and misses between two readings, over the caches `counted` picks (by label). */
export function cacheUse(before: CacheCounts, after: CacheCounts, counted: (cache: string) => boolean): CacheUse {
  const caches = Object.keys(after).filter(counted);
  let hit = 0;
  let miss = 0;
  for (const cache of caches) {
    hit += (after[cache]?.hit ?? 0) - (before[cache]?.hit ?? 0);
    miss += (after[cache]?.miss ?? 0) - (before[cache]?.miss ?? 0);
  }
  const lookups = hit + miss;
  return { caches, hit, miss, hitPct: lookups > 0 ? Math.round((hit / lookups) * 1000) / 10 : null };
}

export const describeCacheUse = (use: CacheUse) =>
  use.hitPct === null
    ? 'no cache look-ups counted'
    : `${use.hitPct}% cache hits (${use.hit} hit / ${use.miss} miss in ${use.caches.join(', ')})`;

// ---------------------------------------------------------------------------------------------
// The built server

/** What the benches start by default: the production bundle (`npm run build`), as `npm run start:prod` does. */
export const BUILT_SERVER = 'dist/server.js';

/** Newest modification time under `dir` (ms), and the file. */
function newestFile(dir: string): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const { mtimeMs } = statSync(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

/**
 * The app entry a scenario file starts: BENCH_APP_ENTRY (e.g. `src/server.ts`, run through tsx), by
 * default dist/server.js. For the build: throws when it is missing, and warns when a file in src/
 * changed after it was built, since the bench would measure the code as it was at the last build.
 */
export function appEntry(log: (line: string) => void): string {
  const entry = process.env.BENCH_APP_ENTRY?.trim() || BUILT_SERVER;
  if (entry !== BUILT_SERVER) return entry;
  const built = join(REPO_ROOT, BUILT_SERVER);
  if (!existsSync(built)) {
    throw new Error(`${built} is missing: run \`npm run build\` first (or set BENCH_APP_ENTRY=src/server.ts)`);
  }
  const source = newestFile(join(REPO_ROOT, 'src'));
  if (source.mtimeMs > statSync(built).mtimeMs) {
    log(`warning: ${source.file} changed after ${BUILT_SERVER} was built: run \`npm run build\` to measure it`);
  }
  return entry;
}

const SETTLE_POLL_MS = 2000;
const SETTLE_QUIET_MS = 5000;
const SETTLE_TIMEOUT_MS = 180_000;

/**
 * Waits until dist/ is a finished build before a server starts from it: `npm run build` empties
 * dist/, bundles, then copies the dashboard's assets only after the type check (tens of seconds
 * later), so a server started in between fails to find them. Finished: the server bundle and the
 * assets are there and nothing under dist/ changed for a few seconds. Gives up after 3 minutes
 * (the start then fails with its own error). Other entries are not waited for.
 */
export async function settledBuild(entry: string, log: (line: string) => void): Promise<void> {
  if (entry !== BUILT_SERVER) return;
  const dist = join(REPO_ROOT, 'dist');
  const finished = () =>
    existsSync(join(REPO_ROOT, BUILT_SERVER)) &&
    existsSync(join(dist, 'modules/admin-dashboard/assets')) &&
    Date.now() - newestFile(dist).mtimeMs > SETTLE_QUIET_MS;
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let told = false;
  while (!finished() && Date.now() < deadline) {
    if (!told) log('  waiting for a build of dist/ in progress to finish');
    told = true;
    await sleep(SETTLE_POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Redis, when the bench runs the app with it

export interface BenchRedis {
  /** What the app needs to use it (empty without a Redis URL). */
  env: Record<string, string>;
  /** Deletes every key the run wrote (its own prefix). */
  clear(): Promise<void>;
}

/**
 * A Redis namespace of its own for one app run (`bench:<name>:<pid>:`), cleared afterwards, so a
 * bench shares a Redis with other work without reading or leaving its keys. No URL: no Redis.
 */
export function benchRedis(url: string | undefined, name: string): BenchRedis {
  if (!url) return { env: {}, clear: async () => {} };
  const prefix = `bench:${name}:${process.pid}:`;
  return {
    env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix },
    async clear() {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Tables

/** A plain-text table: `left` columns padded on the right, the rest (figures) on the left. */
export function formatTable(header: string[], rows: string[][], left: number[] = [0]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (left.includes(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** A Markdown table of the same cells. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The 1-minute load average, to two decimals. */
export const loadNow = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;

// ---------------------------------------------------------------------------------------------
// Bulk loads

interface IndexDefinition {
  /** Drops it (the constraint, or the index). */
  drop: string;
  /** Builds it again, exactly as it was defined. */
  create: string;
}

/**
 * Runs `load` with `table`'s indexes (and its primary key and unique constraints that no foreign
 * key references) dropped, then builds them again from their own definitions: one sorted build
 * instead of millions of random insertions. The table ends exactly as it was defined. Exclusion
 * constraints stay in place, so they still check every row loaded.
 */
export async function withIndexesDeferred<T>(db: Db, table: string, load: () => Promise<T>): Promise<T> {
  const constraints = await queryRows<{ name: string; definition: string; index: string }>(
    db,
    sql`select c.conname as name, pg_get_constraintdef(c.oid) as definition, c.conindid::regclass::text as index
      from pg_constraint c
      where c.conrelid = ${table}::regclass and c.contype in ('p', 'u')
        and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conindid = c.conindid)`,
  );
  const kept = await queryRows<{ index: string }>(
    db,
    sql`select conindid::regclass::text as index from pg_constraint where conrelid = ${table}::regclass and conindid <> 0`,
  );
  const constraintIndexes = new Set(kept.map((row) => row.index));
  const indexes = await queryRows<{ name: string; definition: string }>(
    db,
    sql`select indexrelid::regclass::text as name, pg_get_indexdef(indexrelid) as definition
      from pg_index where indrelid = ${table}::regclass`,
  );
  const deferred: IndexDefinition[] = [
    ...constraints.map((c) => ({
      drop: `alter table ${table} drop constraint "${c.name}"`,
      create: `alter table ${table} add constraint "${c.name}" ${c.definition}`,
    })),
    ...indexes
      .filter((index) => !constraintIndexes.has(index.name))
      // A partitioned table's index reads `ON ONLY`, which would build it for no partition.
      .map((index) => ({ drop: `drop index ${index.name}`, create: index.definition.replace(' ON ONLY ', ' ON ') })),
  ];
  for (const index of deferred) await db.execute(sql.raw(index.drop));
  try {
    return await load();
  } finally {
    for (const index of deferred) await db.execute(sql.raw(index.create));
  }
}
