/**
 * Where the CPU went during the steady phase (this load generator, the app process, the whole
 * machine: the two cores are shared with PostgreSQL, Redis and whatever else runs), the load
 * average over the run, and the app's own counters from /metrics (cache hits, database queries).
 */
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';

import { processUsage } from '../lib.js';

// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ).
const TICK_MS = 10;

export interface CpuSnapshot {
  atMs: number;
  generator: NodeJS.CpuUsage;
  /** CPU time of the app process so far, or undefined off Linux. */
  appMs: number | undefined;
  /** CPU time so far of each PostgreSQL backend serving the run's database, by pid. */
  databaseMs: Map<number, number>;
  /** All CPUs' busy and total time so far, or undefined off Linux. */
  machine: { busyMs: number; totalMs: number } | undefined;
}

/** utime + stime of a process from its /proc stat line, in ms. */
function statCpuMs(stat: string): number {
  // Fields after "pid (comm) ": the 14th and 15th of the line are utime and stime.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/**
 * The PostgreSQL backends connected to `database` (their title reads `postgres: … <user> <database> <client>`),
 * with their CPU time so far. The server is shared with other work; only these are the run's.
 */
function databaseBackendsCpuMs(database: string | undefined): Map<number, number> {
  const backends = new Map<number, number>();
  if (!database || process.platform !== 'linux') return backends;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!title.startsWith('postgres:') || !title.split(/[\s\0]+/).includes(database)) continue;
      backends.set(pid, statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8')));
    } catch {
      // The process ended while it was read.
    }
  }
  return backends;
}

function machineCpuMs(): CpuSnapshot['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...values] = line.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = values.slice(0, 8).map(Number) as number[];
    const total =
      (user ?? 0) +
      (nice ?? 0) +
      (system ?? 0) +
      (idle ?? 0) +
      (iowait ?? 0) +
      (irq ?? 0) +
      (softirq ?? 0) +
      (steal ?? 0);
    return { busyMs: (total - (idle ?? 0) - (iowait ?? 0)) * TICK_MS, totalMs: total * TICK_MS };
  } catch {
    return undefined;
  }
}

/** CPU time so far: this process, the app, the run's database backends (PostgreSQL), the machine. */
export async function cpuSnapshot(appPid: number | undefined, database?: string): Promise<CpuSnapshot> {
  const atMs = performance.now();
  const generator = process.cpuUsage();
  const machine = machineCpuMs();
  const databaseMs = databaseBackendsCpuMs(database);
  return { atMs, generator, machine, databaseMs, appMs: (await processUsage(appPid))?.cpuMs };
}

/** Each side's CPU over a phase: its share of one core, and its CPU time per request the phase sent. */
export interface CpuUse {
  pctOfCore: number;
  /**
   * Milliseconds of CPU per request. Unlike req/s it hardly moves when other work shares the cores:
   * 1,000 / (app + database ms) is about what one core each could serve.
   */
  msPerRequest: number;
}

export interface CpuShares {
  cores: number;
  generator: CpuUse;
  /** The app process (with PGlite, the database too); null off Linux. */
  app: CpuUse | null;
  /** The PostgreSQL backends serving the run's database; null on PGlite (inside the app process). */
  database: CpuUse | null;
  /** Percent of all cores busy (anything: app, database, Redis, generator, other work). */
  machineBusyPct: number | null;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

export function cpuShares(from: CpuSnapshot, to: CpuSnapshot, requests: number): CpuShares {
  const wallMs = Math.max(1, to.atMs - from.atMs);
  const use = (cpuMs: number | undefined): CpuUse | null =>
    cpuMs === undefined
      ? null
      : {
          pctOfCore: round1((cpuMs / wallMs) * 100),
          msPerRequest: requests ? Math.round((cpuMs / requests) * 1000) / 1000 : 0,
        };
  const generatorMs = (to.generator.user - from.generator.user + to.generator.system - from.generator.system) / 1000;
  const appMs = from.appMs !== undefined && to.appMs !== undefined ? to.appMs - from.appMs : undefined;
  let databaseMs: number | undefined;
  for (const [pid, ms] of to.databaseMs) databaseMs = (databaseMs ?? 0) + ms - (from.databaseMs.get(pid) ?? 0);
  const machine =
    from.machine && to.machine
      ? (to.machine.busyMs - from.machine.busyMs) / Math.max(1, to.machine.totalMs - from.machine.totalMs)
      : undefined;
  return {
    cores: cpus().length,
    generator: use(generatorMs) as CpuUse,
    app: use(appMs),
    database: use(databaseMs),
    machineBusyPct: machine === undefined ? null : round1(machine * 100),
  };
}

/** The 1-minute load average every few seconds while a run goes on. */
export function sampleLoadAverage(everyMs = 5000) {
  const samples = [loadavg()[0] ?? 0];
  const timer = setInterval(() => samples.push(loadavg()[0] ?? 0), everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      samples.push(loadavg()[0] ?? 0);
      const round2 = (value: number) => Math.round(value * 100) / 100;
      return {
        before: round2(samples[0] ?? 0),
        max: round2(Math.max(...samples)),
        after: round2(samples[samples.length - 1] ?? 0),
      };
    },
  };
}

/** The app's counters that explain its figures, summed over label sets. */
export interface AppCounters {
  /** cache_requests_total by cache: hits and misses. */
  caches: Record<string, { hit: number; miss: number }>;
  /** db_query_duration_seconds_count over every operation. */
  dbQueries: number;
  rateLimitRejections: number;
  securityRefusals: number;
}

const label = (line: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1];

export function parseCounters(text: string): AppCounters {
  const counters: AppCounters = { caches: {}, dbQueries: 0, rateLimitRejections: 0, securityRefusals: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    if (line.startsWith('cache_requests_total{')) {
      const cache = label(line, 'cache') ?? '?';
      const entry = counters.caches[cache] ?? { hit: 0, miss: 0 };
      counters.caches[cache] = entry;
      if (label(line, 'result') === 'hit') entry.hit += value;
      else entry.miss += value;
    } else if (line.startsWith('db_query_duration_seconds_count')) counters.dbQueries += value;
    else if (line.startsWith('rate_limit_rejections_total')) counters.rateLimitRejections += value;
    else if (line.startsWith('security_refusals_total')) counters.securityRefusals += value;
  }
  return counters;
}

export async function readCounters(baseUrl: string): Promise<AppCounters | undefined> {
  try {
    const response = await fetch(new URL('/metrics', baseUrl), { signal: AbortSignal.timeout(5000) });
    return response.ok ? parseCounters(await response.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** What happened between two readings. */
export function counterDelta(from: AppCounters, to: AppCounters): AppCounters {
  const caches: AppCounters['caches'] = {};
  for (const [cache, now] of Object.entries(to.caches)) {
    const before = from.caches[cache] ?? { hit: 0, miss: 0 };
    const hit = now.hit - before.hit;
    const miss = now.miss - before.miss;
    if (hit + miss > 0) caches[cache] = { hit, miss };
  }
  return {
    caches,
    dbQueries: to.dbQueries - from.dbQueries,
    rateLimitRejections: to.rateLimitRejections - from.rateLimitRejections,
    securityRefusals: to.securityRefusals - from.securityRefusals,
  };
}

export interface AppLogSummary {
  lines: number;
  warnings: number;
  errors: number;
  /** Warning and error messages, by how often they were logged (the first kinds only). */
  kinds: { level: 'warn' | 'error'; message: string; count: number }[];
}

const MAX_LOG_KINDS = 10;

/** Counts the app's log lines (pino JSON) by level and names its warnings and errors. */
export async function summariseAppLog(file: string): Promise<AppLogSummary | undefined> {
  if (!existsSync(file)) return undefined;
  const summary: AppLogSummary = { lines: 0, warnings: 0, errors: 0, kinds: [] };
  const kinds = new Map<string, AppLogSummary['kinds'][number]>();
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
    if (!line) continue;
    summary.lines += 1;
    // Only warnings and errors are parsed: info lines are most of a busy log.
    if (!line.includes('"level":4') && !line.includes('"level":5') && !line.includes('"level":6')) continue;
    let entry: { level?: number; msg?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if ((entry.level ?? 0) < 40) continue;
    const level = (entry.level ?? 0) >= 50 ? 'error' : 'warn';
    if (level === 'error') summary.errors += 1;
    else summary.warnings += 1;
    const key = `${level} ${entry.msg ?? ''}`;
    const known = kinds.get(key);
    if (known) known.count += 1;
    else if (kinds.size < MAX_LOG_KINDS) kinds.set(key, { level, message: (entry.msg ?? '').slice(0, 200), count: 1 });
  }
  summary.kinds = [...kinds.values()].sort((a, b) => b.count - a.count);
  return summary;
}
