/**
 * Bench harness: start servers in child processes, wait for readiness, drive autocannon
 * from this process, summarise, compare, and clean up whatever happens (error, SIGINT).
 * Scenarios live in bench/run.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  /** TypeScript entry, relative to the repo root; it must listen on $HOST:$PORT. */
  entry: string;
  /** GET path that answers 200 once the server can take traffic. */
  readyPath: string;
  readyTimeoutMs?: number;
  /** Extra environment, over the inherited one (minus the app's own config variables). */
  env?: Record<string, string>;
  /** Where the child's stdout goes; ignored when unset. */
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
  const stdoutFd = spec.stdoutFile ? openSync(spec.stdoutFile, 'w') : undefined;
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, ['--import', 'tsx', spec.entry], {
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
  /** Spawns `node --import tsx <entry>` and resolves once `readyPath` answers 200. */
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

/** A warm-up run (discarded), then the measured run. */
export async function runLoad(target: Target, settings: LoadSettings): Promise<LoadSummary> {
  target.server.assertRunning();
  if (settings.warmupS > 0) await cannon(target, settings.connections, settings.warmupS);
  const result = await cannon(target, settings.connections, settings.durationS);
  target.server.assertRunning();
  if (result['2xx'] === 0) {
    throw new Error(
      `${target.label} ${target.path}: no 2xx responses (${result.errors} errors, status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  return summarise(target, result);
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
  /** 1-minute load average when the comparison started and ended: other work on the machine skews it. */
  loadAverage: { before: number; after: number; cpus: number };
  runs: { baseline: LoadSummary[]; subject: LoadSummary[] };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

const best = (runs: LoadSummary[]): LoadSummary =>
  runs.reduce((top, run) => (run.requestsPerSec > top.requestsPerSec ? run : top));

const describeRun = (run: LoadSummary) =>
  `${run.requestsPerSec} req/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms, non-2xx ${run.non2xx}, errors ${run.errors}`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/**
 * Alternates baseline and subject for `settings.rounds` rounds. The verdict is the median of
 * the per-round ratios: this machine's speed drifts by tens of percent over minutes, and a
 * ratio of two runs taken seconds apart cancels most of that drift, where a ratio of two
 * "best" runs from different minutes does not. The table shows the best run of each side.
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
  const baseline = best(runs.baseline);
  const subject = best(runs.subject);
  const roundRatiosPct = runs.subject.map(
    (run, i) => Math.round((run.requestsPerSec / (runs.baseline[i]?.requestsPerSec ?? Number.NaN)) * 1000) / 10,
  );
  const ratioPct = Math.round(median(roundRatiosPct) * 10) / 10;
  return {
    scenario: scenario.name,
    description: scenario.description,
    settings,
    baseline,
    subject,
    ratioPct,
    roundRatiosPct,
    targetPct: scenario.targetPct,
    meetsTarget: ratioPct >= scenario.targetPct,
    loadAverage: { before: round2(loadBefore), after: round2(loadavg()[0] ?? 0), cpus: cpus().length },
    runs,
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function formatComparison(comparison: Comparison): string {
  const { settings, baseline, subject, loadAverage } = comparison;
  const busy = loadAverage.before > loadAverage.cpus;
  const header = ['', 'request', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx'];
  const rows = [baseline, subject].map((run) => [
    run.label,
    `${run.method} ${new URL(run.url).pathname}`,
    run.requestsPerSec.toLocaleString('en-US'),
    String(run.latencyP50Ms),
    String(run.latencyP99Ms),
    String(run.non2xx),
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
    ...(busy
      ? [
          `warning: load average was ${loadAverage.before} on ${loadAverage.cpus} CPUs before the runs; other work on this machine skews these figures`,
        ]
      : []),
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
