/**
 * `npm run bench`: the load scenarios. Each compares a subject against a baseline, prints a
 * table and writes bench/results/<scenario>.json. Durations: BENCH_DURATION_S (measured,
 * default 8), BENCH_WARMUP_S (default 3), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS
 * (default 100). Exits 1 only when the harness fails, not when a target is missed.
 * The platform-core comparisons (the app against a bare Fastify) measure each server alone: it is
 * started, loaded and stopped before the other one starts, so neither shares the cores or memory
 * with an idle other. The app runs as built (`node dist/server.js`: run `npm run build` first), or
 * from BENCH_APP_ENTRY (e.g. src/server.ts, through tsx), as in the marketplace bench.
 * BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) adds the same scenario with
 * the app on PostgreSQL, the production path, with no embedded database in the process.
 * Then the marketplace scenarios (bench/marketplace.ts), the analytics ones (bench/analytics.ts) and
 * booking with vs without payment (bench/payments.ts, PostgreSQL only: it runs when BENCH_DATABASE_URL
 * is set) when BENCH_SCENARIOS (comma-separated, default `all`) includes `marketplace` / `analytics` /
 * `payments`, and the live WebSocket scenarios (bench/live.ts: sockets on one instance, on PGlite without
 * BENCH_DATABASE_URL; fan-out across two instances, with BENCH_DATABASE_URL and Redis) when it includes `live`.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAnalytics } from './analytics.js';
import {
  type AloneScenario,
  compare,
  compareAlone,
  formatAloneComparison,
  formatComparison,
  loadSettingsFromEnv,
  RESULTS_DIR,
  runBench,
  runLoad,
  type ServerProcess,
  type ServerSpec,
  writeResult,
} from './lib.js';
import { runLive } from './live.js';
import { runMarketplace } from './marketplace.js';
import { runPayments } from './payments.js';
import { appEntry, settledBuild } from './support.js';

// The demo user the app seeds on its first start (src/modules/identity/identity.seed.ts).
const DEMO_LOGIN = { email: 'user@demo.care', password: 'demo-user-2026' };
const LIVE = '/api/health/live';

/** Signs the demo user in: the bearer header of a fresh access token (each app process has its own key). */
async function signIn(server: ServerProcess): Promise<Record<string, string>> {
  const login = await fetch(new URL('/api/v1/auth/login', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(DEMO_LOGIN),
  });
  if (login.status !== 200) throw new Error(`demo login failed: ${login.status} ${await login.text()}`);
  const { access_token: accessToken } = ((await login.json()) as { data: { access_token: string } }).data;
  return { authorization: `Bearer ${accessToken}` };
}

await runBench(async (harness) => {
  const settings = loadSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-');
  const appLog = join(workDir, 'app.log');
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const entry = appEntry(log);
  await settledBuild(entry, log);

  const bare: ServerSpec = { name: 'bare', entry: 'bench/bare-fastify.ts', readyPath: '/' };
  const appEnv = {
    NODE_ENV: 'development',
    // The demo user signs in for the identity scenarios.
    SEED_DEMO_DATA: 'true',
    // Raised so logins per second measure argon2id, not the sensitive-route limiter.
    RATE_LIMIT_SENSITIVE_MAX: '100000000',
    RATE_LIMIT_USER_MAX: '100000000',
    DATA_DIR: join(workDir, 'data'),
    LOG_LEVEL: 'info',
    // The limiter stays on, raised so the bench is not rejected ('probe' routes get 10x this).
    RATE_LIMIT_ANON_MAX: '100000000',
    WORKERS_ENABLED: 'false',
    // No load shedding while the bench saturates the event loop on purpose.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  };
  const app: ServerSpec = {
    name: 'app',
    entry,
    readyPath: '/api/health/ready',
    // Request logging to a file is part of the measured stack.
    stdoutFile: appLog,
    env: appEnv,
  };
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const appOnPostgres: ServerSpec | undefined = databaseUrl
    ? {
        ...app,
        name: 'app-postgres',
        stdoutFile: join(workDir, 'app-postgres.log'),
        env: { ...appEnv, DATABASE_URL: databaseUrl, SEED_DEMO_DATA: 'false' },
      }
    : undefined;
  log(`app: ${entry}`);

  // First, on the app alone (its first start makes and seeds the embedded database): an
  // authenticated GET against the same GET without a token, the cost of authentication (JWT
  // check, revocation and staleness look-ups) on every request; then logins per second.
  const appServer = await harness.startServer(app);
  const authorization = await signIn(appServer);
  process.stdout.write('\nidentity-authenticated-get\n');
  const authenticated = await compare(
    {
      name: 'identity-authenticated-get',
      description: 'GET /api/health/live with a valid access token vs the same GET without one',
      baseline: { label: 'anon', server: appServer, path: LIVE },
      subject: { label: 'auth', server: appServer, path: LIVE, headers: authorization },
      targetPct: 90,
    },
    settings,
  );
  process.stdout.write(`\n${formatComparison(authenticated)}\nresults: ${await writeResult(authenticated)}\n`);

  // Logins per second: bounded by argon2id (m=19 MiB, t=2) on libuv's 4 threads over 2 cores.
  // Four connections: one account admits at most five password checks in flight (the brute-force
  // guard reserves a try per attempt), and four keep every argon2 thread busy.
  process.stdout.write('\nidentity-logins\n');
  const logins = await runLoad(
    {
      label: 'login',
      server: appServer,
      path: '/api/v1/auth/login',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(DEMO_LOGIN),
    },
    { ...settings, connections: 4 },
  );
  process.stdout.write(
    `POST /api/v1/auth/login: ${logins.requestsPerSec} logins/s, p50 ${logins.latencyP50Ms} ms, ` +
      `p99 ${logins.latencyP99Ms} ms, non-2xx ${logins.non2xx}\n`,
  );
  await writeFile(join(RESULTS_DIR, 'identity-logins.json'), `${JSON.stringify(logins, null, 2)}\n`);
  await appServer.stop();

  // The full stack against a bare Fastify hello-world, each alone on the machine.
  const scenarios: AloneScenario[] = [
    {
      name: 'platform-core',
      description: 'the full app stack (hooks, rate limit, request log) vs a bare Fastify hello-world',
      baseline: { label: 'bare', spec: bare, path: '/' },
      subject: { label: 'app', spec: app, path: LIVE },
      targetPct: 50,
    },
    {
      name: 'platform-core-signed-in',
      description: 'the same JSON route signed in (access token checked on every request) vs the bare hello-world',
      baseline: { label: 'bare', spec: bare, path: '/' },
      subject: { label: 'app-auth', spec: app, path: LIVE, prepare: signIn },
      targetPct: 50,
    },
  ];
  if (appOnPostgres) {
    scenarios.push({
      name: 'platform-core-postgres',
      description: 'the full stack with the app on PostgreSQL (no embedded database in the process)',
      baseline: { label: 'bare', spec: bare, path: '/' },
      subject: { label: 'app-pg', spec: appOnPostgres, path: LIVE },
      targetPct: 50,
    });
  }
  for (const scenario of scenarios) {
    process.stdout.write(`\n${scenario.name}\n`);
    const comparison = await compareAlone(harness, scenario, settings);
    process.stdout.write(`\n${formatAloneComparison(comparison)}\nresults: ${await writeResult(comparison)}\n`);
  }

  const { size } = await stat(appLog);
  process.stdout.write(`app log: ${(size / 1_048_576).toFixed(1)} MiB written during the bench\n`);

  const wanted = (process.env.BENCH_SCENARIOS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const runs = (name: string) => wanted.length === 0 || wanted.includes('all') || wanted.includes(name);
  if (runs('marketplace')) await runMarketplace(harness);
  if (runs('analytics')) await runAnalytics(harness);
  if (runs('payments')) {
    if (databaseUrl) await runPayments(harness, databaseUrl);
    else process.stdout.write('\npayments: skipped (it measures PostgreSQL: set BENCH_DATABASE_URL)\n');
  }
  if (runs('live')) await runLive(harness, databaseUrl);
});
