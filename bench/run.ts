/**
 * `npm run bench`: the load scenarios. Each compares a subject against a baseline, prints a
 * table and writes bench/results/<scenario>.json. Durations: BENCH_DURATION_S (measured,
 * default 10), BENCH_WARMUP_S (default 3), BENCH_ROUNDS (default 2), BENCH_CONNECTIONS
 * (default 100). Exits 1 only when the harness fails, not when a target is missed.
 * BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) adds the same scenario with
 * the app on PostgreSQL, the production path, with no embedded database in the process.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compare, formatComparison, loadSettingsFromEnv, runBench, type Scenario, writeResult } from './lib.js';

await runBench(async (harness) => {
  const settings = loadSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-');
  const appLog = join(workDir, 'app.log');

  const bare = await harness.startServer({ name: 'bare', entry: 'bench/bare-fastify.ts', readyPath: '/' });
  const appEnv = {
    NODE_ENV: 'development',
    SEED_DEMO_DATA: 'false',
    DATA_DIR: join(workDir, 'data'),
    LOG_LEVEL: 'info',
    // The limiter stays on, raised so the bench is not rejected ('probe' routes get 10x this).
    RATE_LIMIT_ANON_MAX: '100000000',
    WORKERS_ENABLED: 'false',
    // No load shedding while the bench saturates the event loop on purpose.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  };
  const app = await harness.startServer({
    name: 'app',
    entry: 'src/server.ts',
    readyPath: '/api/health/ready',
    // Request logging to a file is part of the measured stack.
    stdoutFile: appLog,
    env: appEnv,
  });
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const appOnPostgres = databaseUrl
    ? await harness.startServer({
        name: 'app-postgres',
        entry: 'src/server.ts',
        readyPath: '/api/health/ready',
        stdoutFile: join(workDir, 'app-postgres.log'),
        env: { ...appEnv, DATABASE_URL: databaseUrl },
      })
    : undefined;

  const scenarios: Scenario[] = [
    {
      name: 'platform-core',
      description: 'the full app stack (hooks, rate limit, request log) vs a bare Fastify hello-world',
      baseline: { label: 'bare', server: bare, path: '/' },
      subject: { label: 'app', server: app, path: '/api/health/live' },
      targetPct: 50,
    },
  ];
  if (appOnPostgres) {
    scenarios.push({
      name: 'platform-core-postgres',
      description: 'the same, with the app on PostgreSQL (no embedded database in the process)',
      baseline: { label: 'bare', server: bare, path: '/' },
      subject: { label: 'app-pg', server: appOnPostgres, path: '/api/health/live' },
      targetPct: 50,
    });
  }

  for (const scenario of scenarios) {
    process.stdout.write(`\n${scenario.name}\n`);
    const comparison = await compare(scenario, settings);
    process.stdout.write(`\n${formatComparison(comparison)}\n`);
    const file = await writeResult(comparison);
    process.stdout.write(`results: ${file}\n`);
  }

  const { size } = await stat(appLog);
  process.stdout.write(`app log: ${(size / 1_048_576).toFixed(1)} MiB written during the bench\n`);
});
