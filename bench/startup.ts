/**
 * `npm run bench:startup`: how long the built server takes from spawn to ready (the first 200 from
 * GET /api/health/ready). Run `npm run build` first: this script measures dist/ as it is.
 *
 *   first     `node dist/server.js` on a fresh embedded PGlite directory: new database, migrations,
 *             demo seed
 *   pglite    `node dist/server.js` again on that directory (warm)
 *   postgres  `node dist/server.js` on PostgreSQL (BENCH_DATABASE_URL, default
 *             postgres://postgres@127.0.0.1:5432/test) in a fresh database `bench_startup_<pid>`,
 *             migrated once with `node dist/migrate.js` and dropped at the end (warm)
 *   tsx       `tsx src/server.ts` (what `npm start` runs) warm on the PGlite directory, for reference
 *
 * STARTUP_RUNS (5) runs of each warm case, STARTUP_FIRST_RUNS (3) first starts, STARTUP_CASES
 * (first,pglite,postgres,tsx) which cases; STARTUP_ROOT measures another checkout's build (default:
 * this one). Every run must print the URL, docs URL and (on PGlite) the demo logins, and exit 0 on
 * SIGTERM. Targets (issue 17): warm start on PostgreSQL ≤ 1.5 s, first start ≤ 5 s.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EnvSchema } from '../src/config.js';
import { BENCH_HOST, envNumber, freePort, REPO_ROOT } from './lib.js';
import { scratchDatabase } from './support.js';

const READY_PATH = '/api/health/ready';
const POLL_MS = 10;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const TARGETS_MS = { first: 5000, postgres: 1500 };
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const CASES = ['first', 'pglite', 'postgres', 'tsx'] as const;
const BANNER = ['listening on', '/docs'];
const BANNER_WITH_LOGINS = [...BANNER, 'demo logins'];

type CaseName = (typeof CASES)[number];

interface Launch {
  label: string;
  command: string[];
  env: Record<string, string>;
  /** Text the server must have printed on stdout by the time it is ready. */
  expectStdout: string[];
}

/** One start: wall time from spawn to ready, and the CPU time its processes had used by then. */
interface Run {
  ms: number;
  cpuMs?: number;
}

interface Row {
  label: string;
  runs: Run[];
  target?: number;
}

interface Settings {
  root: string;
  runs: number;
  firstRuns: number;
  cases: Set<CaseName>;
  databaseUrl: string;
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function settingsFromEnv(): Settings {
  const cases = (process.env.STARTUP_CASES ?? CASES.join(',')).split(',').map((name) => name.trim());
  const unknown = cases.filter((name) => !(CASES as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`STARTUP_CASES: unknown ${unknown.join(', ')} (known: ${CASES.join(', ')})`);
  return {
    root: resolve(process.env.STARTUP_ROOT ?? REPO_ROOT),
    runs: Math.round(envNumber('STARTUP_RUNS', 5, 1, 50)),
    firstRuns: Math.round(envNumber('STARTUP_FIRST_RUNS', 3, 1, 20)),
    cases: new Set(cases as CaseName[]),
    databaseUrl: process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL,
  };
}

/** The inherited environment minus every variable the app reads: the caller's shell cannot change what is measured. */
function baseEnv(): Record<string, string> {
  const appKeys = new Set(Object.keys(EnvSchema.properties));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !appKeys.has(key)) env[key] = value;
  }
  return env;
}

/** The HTTP status of one GET of the readiness endpoint, or undefined while nothing answers. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: BENCH_HOST, port, path: READY_PATH, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ).
const TICK_MS = 10;

/**
 * CPU time (user + system, all threads) of a process and its descendants, from /proc: on a busy
 * machine wall time mostly measures the neighbours, CPU time the work. Undefined where there is no /proc.
 */
function cpuMsOfTree(pid: number): number | undefined {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    let ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    for (const child of children ? children.split(' ') : []) ms += cpuMsOfTree(Number(child)) ?? 0;
    return ms;
  } catch {
    return undefined;
  }
}

/** Time from spawn to the first 200 on readiness; then SIGTERM, which must end the process with 0. */
async function measureStart(launch: Launch, root: string): Promise<Run> {
  const port = await freePort();
  const started = performance.now();
  const [command, ...args] = launch.command as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...baseEnv(), ...launch.env, HOST: BENCH_HOST, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
  });
  const failure = (why: string) =>
    new Error(`${launch.label}: ${why}\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr}`);
  try {
    let ready: Run | undefined;
    while (ready === undefined && performance.now() - started < READY_TIMEOUT_MS) {
      if (!running(child)) throw failure('exited before it was ready');
      if ((await probe(port)) === 200) {
        ready = { ms: performance.now() - started, cpuMs: child.pid ? cpuMsOfTree(child.pid) : undefined };
      } else await sleep(POLL_MS);
    }
    if (ready === undefined) throw failure(`not ready within ${READY_TIMEOUT_MS} ms`);
    // The banner is written as the server starts listening; the pipe may deliver it a moment later.
    for (let i = 0; i < 50 && !launch.expectStdout.every((text) => stdout.includes(text)); i++) await sleep(10);
    const missing = launch.expectStdout.filter((text) => !stdout.includes(text));
    if (missing.length) throw failure(`stdout lacks ${missing.map((text) => JSON.stringify(text)).join(', ')}`);
    child.kill('SIGTERM');
    const exit = await Promise.race([exitOf(child), sleep(STOP_TIMEOUT_MS, undefined)]);
    if (!exit) throw failure(`did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    if (exit.code !== 0) throw failure(`exit after SIGTERM was ${exit.signal ?? `code ${exit.code}`}, expected 0`);
    return ready;
  } finally {
    if (running(child)) {
      child.kill('SIGKILL');
      await exitOf(child);
    }
    children.delete(child);
  }
}

function logRun(label: string, index: number, run: Run): void {
  const cpu = run.cpuMs === undefined ? '' : ` (CPU ${run.cpuMs} ms)`;
  log(`  ${label} #${index + 1}: ${Math.round(run.ms)} ms${cpu}`);
}

async function measureRuns(launch: Launch, runs: number, root: string): Promise<Run[]> {
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await measureStart(launch, root);
    logRun(launch.label, i, run);
    results.push(run);
  }
  return results;
}

const distServer = (env: Record<string, string>, label: string, expectStdout: string[]): Launch => ({
  label,
  command: [process.execPath, 'dist/server.js'],
  env: { NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env },
  expectStdout,
});

/** First starts, each on a new directory; returns their times and the last directory, left for the warm cases. */
async function firstStarts(
  settings: Settings,
  workDir: string,
  runs: number,
): Promise<{ times: Run[]; dataDir: string }> {
  const times: Run[] = [];
  let dataDir = '';
  for (let i = 0; i < runs; i++) {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    dataDir = join(workDir, `data-${i}`);
    const launch = distServer({ DATA_DIR: dataDir }, 'first start, PGlite', BANNER_WITH_LOGINS);
    const run = await measureStart(launch, settings.root);
    logRun(launch.label, i, run);
    times.push(run);
  }
  return { times, dataDir };
}

async function postgresRow(settings: Settings): Promise<Row | undefined> {
  const scratch = await scratchDatabase(settings.databaseUrl, 'bench_startup_', log).catch((error: unknown) => {
    log(
      `  PostgreSQL at ${settings.databaseUrl} unavailable (${error instanceof Error ? error.message : error}): skipped`,
    );
    return undefined;
  });
  if (!scratch) return undefined;
  try {
    const migrated = performance.now();
    await promisify(execFile)(process.execPath, ['dist/migrate.js'], {
      cwd: settings.root,
      env: { ...baseEnv(), NODE_ENV: 'development', DATABASE_URL: scratch.url },
    });
    log(`  node dist/migrate.js on a new PostgreSQL database: ${Math.round(performance.now() - migrated)} ms`);
    const launch = distServer({ DATABASE_URL: scratch.url }, 'warm PostgreSQL', BANNER);
    const runs = await measureRuns(launch, settings.runs, settings.root);
    return { label: 'warm start, PostgreSQL', runs, target: TARGETS_MS.postgres };
  } finally {
    await scratch.drop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function verdict(row: Row, times: number[]): string {
  if (row.target === undefined) return '';
  if (Math.max(...times) <= row.target) return `≤ ${row.target} met`;
  return `≤ ${row.target} ${median(times) <= row.target ? 'median met' : 'MISSED'}`;
}

function formatTable(rows: Row[]): string {
  const header = ['case', 'runs', 'median ms', 'max ms', 'median CPU ms', 'target'];
  const body = rows.map((row) => {
    const times = row.runs.map((run) => run.ms);
    const cpu = row.runs.flatMap((run) => (run.cpuMs === undefined ? [] : [run.cpuMs]));
    return [
      row.label,
      String(row.runs.length),
      String(Math.round(median(times))),
      String(Math.round(Math.max(...times))),
      cpu.length ? String(Math.round(median(cpu))) : '',
      verdict(row, times),
    ];
  });
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((cells) => (cells[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

async function main() {
  const settings = settingsFromEnv();
  for (const entry of ['dist/server.js', 'dist/migrate.js']) {
    if (!existsSync(join(settings.root, entry))) {
      throw new Error(
        `${join(settings.root, entry)} is missing: run \`npm run build\` first (this bench measures the build as it is)`,
      );
    }
  }
  const { cases } = settings;
  log(`bench:startup of ${settings.root}/dist: ${[...cases].join(', ')}; load average ${loadavg()[0]?.toFixed(2)}`);
  const rows: Row[] = [];

  let dataDir = '';
  if (cases.has('first') || cases.has('pglite') || cases.has('tsx')) {
    const workDir = await mkdtemp(join(tmpdir(), 'bench-startup-'));
    tempDirs.push(workDir);
    // The warm cases need a seeded directory: one unreported first start makes it.
    const first = await firstStarts(settings, workDir, cases.has('first') ? settings.firstRuns : 1);
    dataDir = first.dataDir;
    if (cases.has('first'))
      rows.push({ label: 'first start, PGlite (new database + seed)', runs: first.times, target: TARGETS_MS.first });
  }
  if (cases.has('pglite')) {
    const launch = distServer({ DATA_DIR: dataDir }, 'warm PGlite', BANNER_WITH_LOGINS);
    rows.push({ label: 'warm start, PGlite', runs: await measureRuns(launch, settings.runs, settings.root) });
  }
  if (cases.has('postgres')) {
    const row = await postgresRow(settings);
    if (row) rows.push(row);
  }
  if (cases.has('tsx')) {
    const launch: Launch = {
      label: 'tsx src/server.ts',
      command: [process.execPath, join(settings.root, 'node_modules/tsx/dist/cli.mjs'), 'src/server.ts'],
      env: { NODE_ENV: 'development', LOG_LEVEL: 'warn', DATA_DIR: dataDir },
      expectStdout: BANNER_WITH_LOGINS,
    };
    rows.push({
      label: 'warm start, tsx src/server.ts',
      runs: await measureRuns(launch, settings.runs, settings.root),
    });
  }
  log(`\n${formatTable(rows)}\nload average after: ${loadavg()[0]?.toFixed(2)}`);
}

async function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([...children].map(exitOf));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench:startup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await cleanup();
    process.exit(1);
  },
);
