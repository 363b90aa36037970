/**
 * `npm run bench`: the load scenarios. Each compares a subject against a baseline, prints a
 * table and writes bench/results/<scenario>.json. Durations: BENCH_DURATION_S (measured,
 * default 10), BENCH_WARMUP_S (default 3), BENCH_ROUNDS (default 2), BENCH_CONNECTIONS
 * (default 100). Exits 1 only when the harness fails, not when a target is missed.
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
  compare,
  formatComparison,
  loadSettingsFromEnv,
  RESULTS_DIR,
  runBench,
  runLoad,
  type Scenario,
  writeResult,
} from './lib.js';
import { runLive } from './live.js';
import { runMarketplace } from './marketplace.js';
import { runPayments } from './payments.js';

// The demo user the app seeds on its first start (src/modules/identity/identity.seed.ts).
const DEMO_LOGIN = { email: 'user@demo.care', password: 'demo-user-2026' };

await runBench(async (harness) => {
  const settings = loadSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-');
  const appLog = join(workDir, 'app.log');

  const bare = await harness.startServer({ name: 'bare', entry: 'bench/bare-fastify.ts', readyPath: '/' });
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
        env: { ...appEnv, DATABASE_URL: databaseUrl, SEED_DEMO_DATA: 'false' },
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

  // An authenticated GET against the same GET without a token: the cost of authentication
  // (JWT check, revocation and staleness look-ups) on every request.
  const login = await fetch(new URL('/api/v1/auth/login', app.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(DEMO_LOGIN),
  });
  if (login.status !== 200) throw new Error(`demo login failed: ${login.status} ${await login.text()}`);
  const { access_token: accessToken } = ((await login.json()) as { data: { access_token: string } }).data;
  scenarios.push({
    name: 'identity-authenticated-get',
    description: 'GET /api/health/live with a valid access token vs the same GET without one',
    baseline: { label: 'anon', server: app, path: '/api/health/live' },
    subject: {
      label: 'auth',
      server: app,
      path: '/api/health/live',
      headers: { authorization: `Bearer ${accessToken}` },
    },
    targetPct: 90,
  });

  for (const scenario of scenarios) {
    process.stdout.write(`\n${scenario.name}\n`);
    const comparison = await compare(scenario, settings);
    process.stdout.write(`\n${formatComparison(comparison)}\n`);
    const file = await writeResult(comparison);
    process.stdout.write(`results: ${file}\n`);
  }

  // Logins per second: bounded by argon2id (m=19 MiB, t=2) on libuv's 4 threads over 2 cores.
  // Four connections: one account admits at most five password checks in flight (the brute-force
  // guard reserves a try per attempt), and four keep every argon2 thread busy.
  process.stdout.write('\nidentity-logins\n');
  const logins = await runLoad(
    {
      label: 'login',
      server: app,
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

  const { size } = await stat(appLog);
  process.stdout.write(`app log: ${(size / 1_048_576).toFixed(1)} MiB written during the bench\n`);

  const wanted = (process.env.BENCH_SCENARIOS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const runs = (name: string) => wanted.length === 0 || wanted.includes('all') || wanted.includes(name);
  // The servers above are done: stop them so they take no memory or CPU from what follows.
  await Promise.all([appOnPostgres?.stop(), app.stop(), bare.stop()]);
  if (runs('marketplace')) await runMarketplace(harness);
  if (runs('analytics')) await runAnalytics(harness);
  if (runs('payments')) {
    if (databaseUrl) await runPayments(harness, databaseUrl);
    else process.stdout.write('\npayments: skipped (it measures PostgreSQL: set BENCH_DATABASE_URL)\n');
  }
  if (runs('live')) await runLive(harness, databaseUrl);
});
