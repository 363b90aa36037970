/**
 * Pieces the scenario files share: one autocannon run with per-request setup, a warm-up +
 * measured pair, bounded parallel setup calls, and scratch PostgreSQL databases that are
 * dropped afterwards (and swept up when a killed run left one behind).
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { BENCH_HOST, RESULTS_DIR, runStats, type ServerProcess } from './lib.js';

// The parts of autocannon's API used here and not in bench/autocannon.d.ts.
export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
type Requests = { setupRequest: (request: RawRequest) => RawRequest }[];

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
  setupRequest?: (request: RawRequest) => RawRequest;
}

async function cannon(spec: LoadSpec, durationS: number): Promise<autocannon.Result> {
  const url = new URL(spec.path, spec.server.url);
  if (url.hostname !== BENCH_HOST) throw new Error(`refusing to load ${url.href}: only ${BENCH_HOST} is benched`);
  const requests: Requests | undefined = spec.setupRequest ? [{ setupRequest: spec.setupRequest }] : undefined;
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
  const result = await cannon(spec, settings.durationS);
  spec.server.assertRunning();
  if (result['2xx'] === 0) {
    throw new Error(
      `${label}: no 2xx responses (${result.errors} errors, status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  return runStats(result);
}

export const describeRun = (run: RunSummary) =>
  `${run.requestsPerSec} req/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms, non-2xx ${run.non2xx}, errors ${run.errors}`;

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
