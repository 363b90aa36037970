/**
 * Bench harness: start servers in child processes, wait for readiness, drive autocannon
 * from this process, summarise, compare, and clean up whatever happens (error, SIGINT).
 * Scenarios live in bench/run.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EnvSchema } from '../src/config.js';

/** The only interface the bench listens on and loads. */
export const BENCH_HOST = '127.0.0.1';
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

const STDERR_TAIL_CHARS = 8192;
const STOP_GRACE_MS = 10_000;
const READY_POLL_MS = 200;

// ---------------------------------------------------------------------------------------------
// Settings

export interface LoadSettings {
  connections: number;
  warmupS: number;
  durationS: number;
  /** Alternating rounds per comparison; the verdict is the median of the rounds' ratios. */
  rounds: number;
}

/** A number from the environment within [min, max], or `fallback` when unset or empty. */
export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name}=${JSON.stringify(raw)} must be a number from ${min} to ${max}`);
  }
  return value;
}

/** Defaults: 100 connections, 3 s warm-up, 8 s measured, 3 rounds; BENCH_* env vars override. */
export function loadSettingsFromEnv(): LoadSettings {
  return {
    connections: Math.round(envNumber('BENCH_CONNECTIONS', 100, 1, 10_000)),
    warmupS: envNumber('BENCH_WARMUP_S', 3, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 8, 1, 600),
    rounds: Math.round(envNumber('BENCH_ROUNDS', 3, 1, 10)),
  };
}

// ---------------------------------------------------------------------------------------------
// Server processes

export interface ServerSpec {
  /** Short label used in logs and errors. */
  name: string;
  /**
   * Entry relative to the repo root; it must listen on $HOST:$PORT. A `.ts` entry runs through tsx
   * (`node --import tsx`), a `.js` one (a build, e.g. dist/server.js) with plain `node`.
   */
  entry: string;
  /** GET path that answers 200 once the server can take traffic. */
  readyPath: string;
  readyTimeoutMs?: number;
  /** Extra environment, over the inherited one (minus the app's own config variables). */
  env?: Record<string, string>;
  /** Where the child's stdout goes (appended); ignored when unset. */
  stdoutFile?: string;
  port?: number;
}

export interface ServerProcess {
  name: string;
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string;
  pid: number | undefined;
  /** Throws if the process has exited. */
  assertRunning(): void;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A port that was free a moment ago on BENCH_HOST. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, BENCH_HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/**
 * The inherited environment without any variable the app reads, so a DATABASE_URL or
 * REDIS_URL in the caller's shell cannot change what is measured.
 */
function baseEnv(): Record<string, string> {
  const appKeys = new Set(Object.keys(EnvSchema.properties));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !appKeys.has(key)) env[key] = value;
  }
  return env;
}

function describeExit(exit: Exit): string {
  if (exit.error) return `failed to start: ${exit.error.message}`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

function spawnServer(
  spec: ServerSpec,
  port: number,
): { server: ServerProcess; child: ChildProcess; exited: Promise<Exit> } {
  // Appended: a server started again (one start per run) adds to the same log.
  const stdoutFd = spec.stdoutFile ? openSync(spec.stdoutFile, 'a') : undefined;
  let child: ChildProcess;
  try {
    // BENCH_NODE_ARGS: Node options for the app alone, e.g. `--cpu-prof --cpu-prof-dir=prof` to
    // profile it under a scenario's load (Node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = process.env.BENCH_NODE_ARGS?.trim().split(/\s+/) ?? [];
    const args = [...nodeArgs, ...(spec.entry.endsWith('.js') ? [spec.entry] : ['--import', 'tsx', spec.entry])];
    child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...baseEnv(), ...spec.env, HOST: BENCH_HOST, PORT: String(port) },
      stdio: ['ignore', stdoutFd ?? 'ignore', 'pipe'],
    });
  } finally {
    // The child holds its own copy of the descriptor.
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }

  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });

  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
    child.once('error', (error) => {
      exit ??= { code: null, signal: null, error };
      resolve(exit);
    });
  });

  const server: ServerProcess = {
    name: spec.name,
    url: `http://${BENCH_HOST}:${port}`,
    pid: child.pid,
    assertRunning() {
      if (!exit) return;
      const tail = stderrTail.trim();
      throw new Error(`${spec.name} server ${describeExit(exit)}${tail ? `; stderr:\n${tail}` : ''}`);
    },
    async stop() {
      if (exit || child.pid === undefined) return;
      child.kill('SIGTERM');
      const grace = new AbortController();
      const stopped = await Promise.race([
        exited.then(() => true),
        sleep(STOP_GRACE_MS, false, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  return { server, child, exited };
}

async function waitUntilReady(server: ServerProcess, path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    server.assertRunning();
    try {
      const response = await fetch(server.url + path, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(READY_POLL_MS);
  }
  server.assertRunning();
  throw new Error(`${server.name} server not ready at ${path} within ${timeoutMs} ms (last: ${last})`);
}

// ---------------------------------------------------------------------------------------------
// Harness: owns child processes and temp dirs, and always releases them

export interface Harness {
  /** A fresh directory under the OS temp dir, removed at the end. */
  tempDir(prefix: string): Promise<string>;
  /** Spawns `node [--import tsx] <entry>` and resolves once `readyPath` answers 200. */
  startServer(spec: ServerSpec): Promise<ServerProcess>;
}

/**
 * Runs `main` with a harness, then stops every server and removes every temp dir, also on
 * error and on SIGINT/SIGTERM. Exits 0 when `main` resolves, 1 when it throws (a harness
 * failure), 130/143 on a signal.
 */
export async function runBench(main: (harness: Harness) => Promise<void>): Promise<never> {
  const children: { server: ServerProcess; child: ChildProcess }[] = [];
  const tempDirs: string[] = [];
  let cleaning: Promise<void> | undefined;

  const cleanup = () => {
    cleaning ??= (async () => {
      await Promise.allSettled(children.map(({ server }) => server.stop()));
      await Promise.allSettled(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    })();
    return cleaning;
  };

  // Last resort if the process goes down some other way: nothing may outlive the bench.
  process.once('exit', () => {
    for (const { child } of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping servers and cleaning up\n`);
    process.once(signal, () => process.exit(1)); // a second signal: stop waiting
    void cleanup().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const harness: Harness = {
    async tempDir(prefix) {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      tempDirs.push(dir);
      return dir;
    },
    async startServer(spec) {
      const port = spec.port ?? (await freePort());
      const { server, child } = spawnServer(spec, port);
      children.push({ server, child });
      await waitUntilReady(server, spec.readyPath, spec.readyTimeoutMs ?? 60_000);
      return server;
    },
  };

  let code = 0;
  try {
    await main(harness);
  } catch (error) {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    code = 1;
  }
  await cleanup();
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Load and comparison

export interface Target {
  label: string;
  server: ServerProcess;
  path: string;
  method?: autocannon.Options['method'];
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadSummary {
  label: string;
  method: string;
  url: string;
  /** Average over one-second samples. */
  requestsPerSec: number;
  /**
   * CPU time the server process (all its threads) spent per completed request during the measured
   * run, in microseconds (Linux only). Unlike req/s it hardly moves when other work shares the cores.
   */
  serverCpuUsPerRequest?: number;
  /** The server's resident memory after the measured run, in MiB (Linux only). */
  serverRssMib?: number;
  /** 1-minute load average just before the measured run. */
  loadAverage?: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyAvgMs: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
}

/** The figures of one autocannon run (the load summary without its target). */
export function runStats(result: autocannon.Result): Omit<LoadSummary, 'label' | 'method' | 'url'> {
  return {
    requestsPerSec: Math.round(result.requests.average),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyAvgMs: Math.round(result.latency.average * 100) / 100,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    durationS: result.duration,
  };
}

function summarise(target: Target, result: autocannon.Result): LoadSummary {
  return { label: target.label, method: target.method ?? 'GET', url: result.url, ...runStats(result) };
}

/** Linux reports process CPU time in ticks of USER_HZ, which is 100 on every architecture. */
const USER_HZ = 100;
const MIB = 1_048_576;

export interface ProcessUsage {
  /** User + system CPU time of every thread so far. */
  cpuMs: number;
  rssBytes: number;
}

/** CPU time and resident memory of a process from /proc; undefined off Linux or once it has gone. */
export async function processUsage(pid: number | undefined): Promise<ProcessUsage | undefined> {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ]);
    // Fields after the command name (which may hold spaces): state is the 3rd field, utime the 14th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssKib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(rssKib)) return undefined;
    return { cpuMs: (ticks * 1000) / USER_HZ, rssBytes: rssKib * 1024 };
  } catch {
    return undefined;
  }
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const toMib = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;

async function cannon(target: Target, connections: number, durationS: number): Promise<autocannon.Result> {
  const url = new URL(target.path, target.server.url);
  if (url.hostname !== BENCH_HOST) throw new Error(`refusing to load ${url.href}: only ${BENCH_HOST} is benched`);
  return await autocannon({
    url: url.href,
    connections,
    duration: durationS,
    timeout: 10,
    method: target.method ?? 'GET',
    ...(target.headers ? { headers: target.headers } : {}),
    ...(target.body !== undefined ? { body: target.body } : {}),
  });
}

/**
 * A warm-up run (discarded), then the measured run, with the server's CPU time per request and
 * its memory afterwards where /proc tells them.
 */
export async function runLoad(target: Target, settings: LoadSettings): Promise<LoadSummary> {
  target.server.assertRunning();
  if (settings.warmupS > 0) await cannon(target, settings.connections, settings.warmupS);
  const loadAverage = round2(loadavg()[0] ?? 0);
  const before = await processUsage(target.server.pid);
  const result = await cannon(target, settings.connections, settings.durationS);
  const after = await processUsage(target.server.pid);
  target.server.assertRunning();
  if (result['2xx'] === 0) {
    throw new Error(
      `${target.label} ${target.path}: no 2xx responses (${result.errors} errors, status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  const summary = summarise(target, result);
  summary.loadAverage = loadAverage;
  if (before && after && result.requests.total > 0) {
    summary.serverCpuUsPerRequest = round2(((after.cpuMs - before.cpuMs) * 1000) / result.requests.total);
    summary.serverRssMib = toMib(after.rssBytes);
  }
  return summary;
}

export interface Scenario {
  /** Also the results file name: bench/results/<name>.json. */
  name: string;
  description: string;
  baseline: Target;
  subject: Target;
  /** subject req/s as a percentage of baseline req/s that counts as a pass. */
  targetPct: number;
}

export interface Comparison {
  scenario: string;
  description: string;
  settings: LoadSettings;
  baseline: LoadSummary;
  subject: LoadSummary;
  /** Median over rounds of subject/baseline req/s, each round's two runs back to back. */
  ratioPct: number;
  roundRatiosPct: number[];
  targetPct: number;
  meetsTarget: boolean;
  /**
   * Median over rounds of baseline ÷ subject server CPU time per request (when /proc gave it): the
   * req/s ratio a CPU-bound server would show, steadier than req/s while other work shares the cores.
   */
  cpuRatioPct?: number;
  /** 1-minute load average when the comparison started and ended: other work on the machine skews it. */
  loadAverage: { before: number; after: number; cpus: number };
  runs: { baseline: LoadSummary[]; subject: LoadSummary[] };
}

const best = (runs: LoadSummary[]): LoadSummary =>
  runs.reduce((top, run) => (run.requestsPerSec > top.requestsPerSec ? run : top));

const describeRun = (run: LoadSummary) =>
  `${run.requestsPerSec} req/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms, non-2xx ${run.non2xx}, errors ${run.errors}` +
  (run.serverCpuUsPerRequest !== undefined ? `, server CPU ${run.serverCpuUsPerRequest} µs/request` : '') +
  (run.loadAverage !== undefined ? `, load ${run.loadAverage}` : '');

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/** The ratio of two figures in percent, one decimal. */
const pct = (part: number, whole: number) => Math.round((part / whole) * 1000) / 10;

/**
 * The verdict over alternating rounds: the median of the per-round ratios (and, where /proc gave
 * the server's CPU time, the median per-round ratio of CPU per request, baseline over subject).
 */
function verdict(
  scenario: Pick<Scenario, 'name' | 'description' | 'targetPct'>,
  settings: LoadSettings,
  runs: Comparison['runs'],
  loadBefore: number,
): Comparison {
  const roundRatiosPct = runs.subject.map((run, i) =>
    pct(run.requestsPerSec, runs.baseline[i]?.requestsPerSec ?? Number.NaN),
  );
  const ratioPct = Math.round(median(roundRatiosPct) * 10) / 10;
  const cpuRatios = runs.subject.map((run, i) => {
    const baselineCpu = runs.baseline[i]?.serverCpuUsPerRequest;
    return baselineCpu !== undefined && run.serverCpuUsPerRequest ? pct(baselineCpu, run.serverCpuUsPerRequest) : NaN;
  });
  return {
    scenario: scenario.name,
    description: scenario.description,
    settings,
    baseline: best(runs.baseline),
    subject: best(runs.subject),
    ratioPct,
    roundRatiosPct,
    ...(cpuRatios.every(Number.isFinite) ? { cpuRatioPct: Math.round(median(cpuRatios) * 10) / 10 } : {}),
    targetPct: scenario.targetPct,
    meetsTarget: ratioPct >= scenario.targetPct,
    loadAverage: { before: round2(loadBefore), after: round2(loadavg()[0] ?? 0), cpus: cpus().length },
    runs,
  };
}

/**
 * Alternates baseline and subject for `settings.rounds` rounds. The verdict is the median of
 * the per-round ratios: this machine's speed drifts by tens of percent over minutes, and a
 * ratio of two runs taken seconds apart cancels most of that drift, where a ratio of two
 * "best" runs from different minutes does not. The table shows the best run of each side.
 * Both servers are up throughout: use `compareAlone` when they are different processes.
 */
export async function compare(
  scenario: Scenario,
  settings: LoadSettings,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<Comparison> {
  const runs: Comparison['runs'] = { baseline: [], subject: [] };
  const loadBefore = loadavg()[0] ?? 0;
  for (let round = 1; round <= settings.rounds; round++) {
    for (const side of ['baseline', 'subject'] as const) {
      const target = scenario[side];
      const run = await runLoad(target, settings);
      runs[side].push(run);
      log(`  round ${round}/${settings.rounds}  ${target.label.padEnd(6)} ${describeRun(run)}`);
    }
  }
  return verdict(scenario, settings, runs, loadBefore);
}

/** One side of a comparison whose servers run one at a time. */
export interface AloneSide extends Omit<Target, 'server'> {
  /** Started before each of this side's runs and stopped after it. */
  spec: ServerSpec;
  /** Once the server is ready, before its load: headers to send besides `headers` (a fresh sign-in). */
  prepare?: (server: ServerProcess) => Promise<Record<string, string>>;
}

export interface AloneScenario extends Omit<Scenario, 'baseline' | 'subject'> {
  baseline: AloneSide;
  subject: AloneSide;
}

/** A server's resident memory once ready and settled, and after its measured run, in MiB. */
export interface MemoryReading {
  idleMib: number;
  afterLoadMib: number;
}

export interface AloneComparison extends Comparison {
  memory: { baseline: MemoryReading[]; subject: MemoryReading[] };
}

/** How long a started server is left alone before its idle memory is read. */
const IDLE_SETTLE_MS = 2000;

/**
 * Like `compare`, but each run has the machine to itself: its server is started, measured and
 * stopped before the other side's starts, so an idle server never takes memory or CPU (timers,
 * an embedded database) from the one being loaded. Rounds go A B, B A, A B, …: each side goes
 * first in every other round, so a drift in the machine's speed favours neither.
 */
export async function compareAlone(
  harness: Harness,
  scenario: AloneScenario,
  settings: LoadSettings,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<AloneComparison> {
  const runs: Comparison['runs'] = { baseline: [], subject: [] };
  const memory: AloneComparison['memory'] = { baseline: [], subject: [] };
  const loadBefore = loadavg()[0] ?? 0;
  for (let round = 1; round <= settings.rounds; round++) {
    const order = round % 2 === 1 ? (['baseline', 'subject'] as const) : (['subject', 'baseline'] as const);
    for (const side of order) {
      const { spec, prepare, ...target } = scenario[side];
      const server = await harness.startServer(spec);
      try {
        const headers = { ...target.headers, ...(prepare ? await prepare(server) : {}) };
        await sleep(IDLE_SETTLE_MS);
        const idle = await processUsage(server.pid);
        const run = await runLoad({ ...target, server, headers }, settings);
        runs[side].push(run);
        if (idle && run.serverRssMib !== undefined) {
          memory[side].push({ idleMib: toMib(idle.rssBytes), afterLoadMib: run.serverRssMib });
        }
        const rss = idle ? `, RSS idle ${toMib(idle.rssBytes)} MiB, after ${run.serverRssMib} MiB` : '';
        log(`  round ${round}/${settings.rounds}  ${target.label.padEnd(6)} ${describeRun(run)}${rss}`);
      } finally {
        await server.stop();
      }
    }
  }
  return { ...verdict(scenario, settings, runs, loadBefore), memory };
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function formatComparison(comparison: Comparison): string {
  const { settings, baseline, subject, loadAverage } = comparison;
  const busy = loadAverage.before > loadAverage.cpus;
  const withCpu = comparison.cpuRatioPct !== undefined;
  const header = ['', 'request', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', ...(withCpu ? ['CPU µs/req'] : [])];
  const rows = [baseline, subject].map((run) => [
    run.label,
    `${run.method} ${new URL(run.url).pathname}`,
    run.requestsPerSec.toLocaleString('en-US'),
    String(run.latencyP50Ms),
    String(run.latencyP99Ms),
    String(run.non2xx),
    ...(withCpu ? [String(run.serverCpuUsPerRequest)] : []),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [
    `${comparison.scenario}: ${comparison.description}`,
    `(${settings.connections} connections, ${settings.warmupS} s warm-up + ${settings.durationS} s measured, ${settings.rounds} alternating rounds; table: best run of each)`,
    line(header),
    ...rows.map(line),
    `${subject.label}/${baseline.label} per round: ${comparison.roundRatiosPct.map((pct) => `${pct.toFixed(1)}%`).join(', ')}`,
    `${subject.label}/${baseline.label}: median ${comparison.ratioPct.toFixed(1)}% of req/s (target >= ${comparison.targetPct}%): ${
      comparison.meetsTarget ? 'MET' : 'NOT MET'
    }`,
    ...(withCpu
      ? [
          `${baseline.label}/${subject.label} server CPU per request: median ${comparison.cpuRatioPct?.toFixed(1)}% (the req/s ratio if the server alone were the limit)`,
        ]
      : []),
    ...(busy
      ? [
          `warning: load average was ${loadAverage.before} on ${loadAverage.cpus} CPUs before the runs; other work on this machine skews these figures`,
        ]
      : []),
  ].join('\n');
}

/** `formatComparison`, then each side's memory: median RSS once idle, largest after a measured run. */
export function formatAloneComparison(comparison: AloneComparison): string {
  const memoryLine = (label: string, readings: MemoryReading[]) =>
    readings.length === 0
      ? undefined
      : `  ${label}: RSS idle ${median(readings.map((r) => r.idleMib))} MiB (median), after load ${Math.max(
          ...readings.map((r) => r.afterLoadMib),
        )} MiB (max)`;
  const lines = [
    memoryLine(comparison.baseline.label, comparison.memory.baseline),
    memoryLine(comparison.subject.label, comparison.memory.subject),
  ].filter((line) => line !== undefined);
  return [
    formatComparison(comparison),
    '(each run alone: its server started, loaded and stopped before the next one starts)',
    ...(lines.length ? ['memory:', ...lines] : []),
  ].join('\n');
}

/** Writes bench/results/<scenario>.json with the figures and the machine they came from. */
export async function writeResult(comparison: Comparison): Promise<string> {
  const file = join(RESULTS_DIR, `${comparison.scenario}.json`);
  await mkdir(dirname(file), { recursive: true });
  const cpuList = cpus();
  const report = {
    ...comparison,
    measuredAt: new Date().toISOString(),
    machine: { node: process.version, platform: process.platform, cpus: cpuList.length, cpuModel: cpuList[0]?.model },
  };
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
