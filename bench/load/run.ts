/**
 * `npm run test:load`: the marketplace spec's load test — 8 user journeys, 100 virtual users —
 * against the built app (`node dist/server.js`, one instance) on PostgreSQL + Redis in a fresh
 * database `bench_load_<pid>` and a fresh Redis key prefix (both removed afterwards), or with
 * `--pglite` on the embedded database. Steps:
 *
 *   1. database: a scratch PostgreSQL database with the demo seed (`scripts/seed.ts`), or a new
 *      PGlite directory the app seeds itself on first start
 *   2. the app, with rate limits raised so the load is not refused (everything else at its defaults)
 *   3. data through the API (bench/load/setup.ts): providers, services, accounts, consents
 *   4. calibration: the same VUs and think times on GET /api/health/live, the tool's ceiling
 *   5. the run: ramp-up, then the steady phase the verdict is taken on (bench/load/journeys.ts)
 *   6. bench/results/load-<postgres|pglite>.md and .json, with the spec's figures and the targets
 *
 * Exits 1 on any unexpected answer (and with --strict on a missed target). Options: --help.
 * Only 127.0.0.1 is loaded.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { BENCH_HOST, REPO_ROOT, runBench, type ServerProcess } from '../lib.js';
import { scratchDatabase } from '../support.js';
import type { Step } from './client.js';
import type { LoadData } from './data.js';
import { JOURNEYS, vuCounts } from './journeys.js';
import {
  type AppCounters,
  type CpuShares,
  type CpuSnapshot,
  counterDelta,
  cpuShares,
  cpuSnapshot,
  readCounters,
  sampleLoadAverage,
  summariseAppLog,
} from './machine.js';
import {
  journeyRows,
  type LoadReport,
  machineInfo,
  renderMarkdown,
  SPEC,
  signInShare,
  stepRows,
  verdict,
  writeReport,
} from './report.js';
import { type LoadSettings, parseSettings, USAGE } from './settings.js';
import { prepareData } from './setup.js';
import { Recorder, summariseGroup } from './stats.js';
import { ErrorLog, runVus, type Scripted } from './vus.js';

const DATABASE_PREFIX = 'bench_load_';
const RAISED_LIMIT = '100000000';
const log = (line: string) => process.stdout.write(`${line}\n`);
const seconds = (fromMs: number) => Math.round((performance.now() - fromMs) / 100) / 10;

interface PreparedDatabase {
  env: Record<string, string>;
  /** The PostgreSQL database's name (its backends' CPU is the run's); none on PGlite. */
  name?: string;
  /** How the report names it (no credentials). */
  label: string;
  drop(): Promise<void>;
}

/** URLs in the report without a password. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}

/** A fresh database next to `url`'s, migrated and seeded with the demo data by `scripts/seed.ts`. */
async function postgresDatabase(url: string, workDir: string): Promise<PreparedDatabase> {
  const scratch = await scratchDatabase(url, DATABASE_PREFIX, log).catch((error: unknown) => {
    throw new Error(
      `PostgreSQL at ${redact(url)} is not reachable (${error instanceof Error ? error.message : error}): start it, set BENCH_DATABASE_URL, or run with --pglite`,
    );
  });
  try {
    // Only what the seed needs: nothing of the caller's app configuration.
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? workDir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: scratch.url,
      DATA_DIR: join(workDir, 'seed-data'),
    };
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], {
      cwd: REPO_ROOT,
      env,
      timeout: 180_000,
    });
    return {
      env: { DATABASE_URL: scratch.url },
      name: new URL(scratch.url).pathname.slice(1),
      label: `${redact(scratch.url)} (fresh)`,
      drop: scratch.drop,
    };
  } catch (error) {
    await scratch.drop().catch(() => {});
    throw error;
  }
}

/** A fresh key prefix on the Redis at `url`; `clear` deletes every key under it. */
async function redisNamespace(url: string) {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000 });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(
      `Redis at ${redact(url)} is not reachable (${error instanceof Error ? error.message : error}): start it, set BENCH_REDIS_URL, or run with --pglite`,
    );
  }
  const prefix = `care-load:${process.pid}-${randomBytes(3).toString('hex')}:`;
  return {
    prefix,
    async clear() {
      try {
        for await (const keys of client.scanStream({ match: `${prefix}*`, count: 1000 })) {
          if ((keys as string[]).length) await client.unlink(...(keys as string[]));
        }
      } finally {
        client.disconnect();
      }
    },
  };
}

const HEALTH: Step = { name: 'health', method: 'GET', route: '/api/health/live' };

/** Calibration: the VUs on the cheapest route there is, with the run's think times. */
const calibrationScript: Scripted = {
  name: 'calibration',
  makeVu: ({ client }) => ({
    async start() {},
    async iteration() {
      await client.send({ step: HEALTH, path: HEALTH.route, expect: [200] });
      client.finishedIteration();
    },
  }),
};

/** CPU and the app's counters at the start and end of a steady phase (the callbacks runVus calls). */
function steadyMarks(server: ServerProcess, database: string | undefined) {
  type Snapshot = { cpu: Promise<CpuSnapshot>; counters: Promise<AppCounters | undefined> };
  const take = (): Snapshot => ({ cpu: cpuSnapshot(server.pid, database), counters: readCounters(server.url) });
  const marks: { start?: Snapshot; end?: Snapshot } = {};
  return {
    onSteadyStart: () => {
      marks.start = take();
    },
    onSteadyEnd: () => {
      marks.end = take();
    },
    /** Where the CPU went and what the app counted in between. */
    async read(requests: number): Promise<{ cpu: CpuShares | null; counters: AppCounters | null }> {
      const [cpuFrom, cpuTo, countersFrom, countersTo] = await Promise.all([
        marks.start?.cpu,
        marks.end?.cpu,
        marks.start?.counters,
        marks.end?.counters,
      ]);
      return {
        cpu: cpuFrom && cpuTo ? cpuShares(cpuFrom, cpuTo, requests) : null,
        counters: countersFrom && countersTo ? counterDelta(countersFrom, countersTo) : null,
      };
    },
  };
}

async function calibrate(
  settings: LoadSettings,
  target: { host: string; port: number },
  data: LoadData,
  server: ServerProcess,
  database: string | undefined,
) {
  if (settings.calibrateS <= 0) return null;
  const recorders = { ramp: new Recorder(), steady: new Recorder() };
  const marks = steadyMarks(server, database);
  await runVus({
    target,
    groups: [{ script: calibrationScript, count: settings.vus }],
    data,
    think: settings.think,
    etags: false,
    eventsPerBatch: settings.eventsPerBatch,
    rampMs: 0,
    steadyMs: settings.calibrateS * 1000,
    recorders,
    seed: 7,
    errors: new ErrorLog(),
    onSteadyStart: marks.onSteadyStart,
    onSteadyEnd: marks.onSteadyEnd,
  });
  const summary = summariseGroup(recorders.steady.all(), settings.calibrateS);
  const { cpu } = await marks.read(summary.requests);
  return { seconds: settings.calibrateS, summary, cpu };
}

async function main(settings: LoadSettings, harness: Parameters<Parameters<typeof runBench>[0]>[0]) {
  if (!existsSync(join(REPO_ROOT, 'dist/server.js'))) {
    throw new Error('dist/server.js is missing: build first (node scripts/build.mjs; npm run test:load does)');
  }
  const started = performance.now();
  const loadAverage = sampleLoadAverage();
  const database = settings.pglite ? 'pglite' : 'postgres';
  const vus = vuCounts(settings.vus);
  const workDir = await harness.tempDir('care-load-');
  log(
    `test:load on ${settings.pglite ? 'PGlite' : 'PostgreSQL + Redis'}: ${settings.vus} VUs (${JOURNEYS.map((journey) => `${journey.name} ${vus[journey.name]}`).join(', ')})`,
  );

  const databaseStarted = performance.now();
  const prepared: PreparedDatabase = settings.pglite
    ? { env: {}, label: 'a new PGlite directory (demo seed on first start)', drop: async () => {} }
    : await postgresDatabase(settings.databaseUrl, workDir);
  const redis = settings.pglite
    ? undefined
    : await redisNamespace(settings.redisUrl).catch(async (error) => {
        await prepared.drop();
        throw error;
      });
  const databaseS = seconds(databaseStarted);
  let server: ServerProcess | undefined;
  try {
    const appEnv: Record<string, string> = {
      NODE_ENV: 'development',
      RATE_LIMIT_ANON_MAX: RAISED_LIMIT,
      RATE_LIMIT_USER_MAX: RAISED_LIMIT,
      RATE_LIMIT_SENSITIVE_MAX: RAISED_LIMIT,
      DATA_DIR: join(workDir, 'data'),
      ...prepared.env,
      ...(redis ? { REDIS_URL: settings.redisUrl, REDIS_KEY_PREFIX: redis.prefix } : {}),
    };
    const startedServer = performance.now();
    server = await harness.startServer({
      name: 'app',
      entry: 'dist/server.js',
      readyPath: '/api/health/ready',
      readyTimeoutMs: 120_000,
      env: appEnv,
      stdoutFile: join(workDir, 'app.log'),
    });
    const startS = seconds(startedServer);
    log(`  app up in ${startS} s at ${server.url} (${prepared.label})`);
    const target = { host: BENCH_HOST, port: Number(new URL(server.url).port) };

    const setupStarted = performance.now();
    const data = await prepareData(
      target,
      { vus, providers: settings.providers, servicesPerProvider: settings.servicesPerProvider },
      log,
    );
    const setupS = seconds(setupStarted);
    log(`  data ready in ${setupS} s`);

    const calibration = await calibrate(settings, target, data, server, prepared.name);
    if (calibration) {
      log(
        `  calibration, GET /api/health/live: ${calibration.summary.rps} req/s, P99 ${calibration.summary.p99Ms} ms, generator ${calibration.cpu?.generator.pctOfCore ?? '?'}% of a core`,
      );
    }

    log(`  ramp-up ${settings.rampS} s, then ${settings.steadyS} s steady`);
    const recorders = { ramp: new Recorder(), steady: new Recorder() };
    const errors = new ErrorLog();
    const marks = steadyMarks(server, prepared.name);
    await runVus({
      target,
      groups: JOURNEYS.map((journey) => ({ script: journey, count: vus[journey.name] })),
      data,
      think: settings.think,
      etags: settings.etags,
      eventsPerBatch: settings.eventsPerBatch,
      rampMs: settings.rampS * 1000,
      steadyMs: settings.steadyS * 1000,
      recorders,
      seed: 20_261_118,
      errors,
      onSteadyStart: marks.onSteadyStart,
      onSteadyEnd: marks.onSteadyEnd,
    });
    server.assertRunning();

    const wholeS = settings.rampS + settings.steadyS;
    const steadyOverall = summariseGroup(recorders.steady.all(), settings.steadyS);
    const wholeOverall = summariseGroup([...recorders.ramp.all(), ...recorders.steady.all()], wholeS);
    const measured = await marks.read(steadyOverall.requests);
    const { databaseUrl: _database, redisUrl: _redis, ...shown } = settings;
    const report: LoadReport = {
      name: `load-${database}`,
      database,
      store: redis ? 'redis' : 'memory',
      command: `npm run test:load${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      measuredAt: new Date().toISOString(),
      machine: machineInfo(),
      loadAverage: loadAverage.stop(),
      settings: shown,
      appEnv: {
        ...appEnv,
        DATA_DIR: '<temp dir>',
        ...(appEnv.DATABASE_URL ? { DATABASE_URL: prepared.label } : {}),
        ...(appEnv.REDIS_URL ? { REDIS_URL: redact(appEnv.REDIS_URL) } : {}),
      },
      seconds: { database: databaseS, start: startS, setup: setupS, total: seconds(started) },
      data: {
        providers: data.providers.length,
        servicesPerProvider: settings.servicesPerProvider,
        accounts: Object.values(data.accounts).reduce((sum, list) => sum + list.length, 0) - vus.provider,
        contentFree: data.content.free.length,
        contentPremium: data.content.premium.length,
      },
      vus,
      calibration,
      steady: {
        seconds: settings.steadyS,
        overall: steadyOverall,
        journeys: journeyRows([recorders.steady], settings.steadyS, vus),
        steps: stepRows(recorders.steady, settings.steadyS),
        cpu: measured.cpu,
        counters: measured.counters,
      },
      wholeRun: {
        seconds: wholeS,
        overall: wholeOverall,
        journeys: journeyRows([recorders.ramp, recorders.steady], wholeS, vus),
      },
      signIn: signInShare([recorders.ramp, recorders.steady]),
      targets: verdict(database, steadyOverall),
      spec: SPEC,
      errors: errors.list(),
      appLog: null,
    };
    await server.stop();
    report.appLog = (await summariseAppLog(join(workDir, 'app.log'))) ?? null;
    const files = await writeReport(report);
    log(`\n${renderMarkdown(report)}`);
    log(`report: ${files.markdown}\nresults: ${files.json}`);

    if (wholeOverall.unexpected > 0) {
      throw new Error(`${wholeOverall.unexpected} unexpected answers (see "Unexpected answers" in ${files.markdown})`);
    }
    const missed = report.targets.filter((row) => !row.met);
    if (settings.strict && missed.length) {
      throw new Error(`targets missed: ${missed.map((row) => `${row.target} (ours ${row.ours})`).join('; ')}`);
    }
  } finally {
    await server?.stop();
    await Promise.allSettled([prepared.drop(), redis?.clear()]);
  }
}

function settingsOrExit(): LoadSettings {
  try {
    const parsed = parseSettings(process.argv.slice(2));
    if (parsed !== 'help') return parsed;
    log(USAGE);
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : error}\n\n${USAGE}\n`);
    process.exit(2);
  }
}

const settings = settingsOrExit();
await runBench((harness) => main(settings, harness));
