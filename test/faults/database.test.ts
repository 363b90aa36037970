/**
 * PostgreSQL lost mid-load, reached through a TCP proxy in front of the real server:
 *
 * - stopped (the proxy refuses new connections and resets the open ones, as a stopped or
 *   restarting server does): /api/health says critical (503, the database `down`), readiness
 *   says not ready, and requests that need the database answer 503 SERVICE_UNAVAILABLE at once;
 * - hung (the proxy black-holes every connection, as a dropped route or a frozen server does):
 *   the same answers within the pool's connect timeout and the client-side query timeout
 *   (DB_STATEMENT_TIMEOUT_MS plus a margin), however long the database stays silent.
 *
 * Either way no request takes 5 s, the same process serves again within seconds of the database
 * coming back (no restart), and every write the app acknowledged is a row in PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Deployment,
  type Instance,
  printLogsOnFailure,
  servicesUnavailable,
  signUp,
  sleep,
  waitFor,
} from '../support/instance.js';
import { count, type LoadResult, percentile, send, startLoad } from './load.js';
import {
  acknowledgedIds,
  codeOf,
  createFaultDeployment,
  type FaultDeployment,
  isSuccess,
  mixedRequest,
  outcomes,
  rowsFound,
} from './setup.js';

const unavailable = await servicesUnavailable();

const MAX_LATENCY_MS = 5000;
const OUTAGE_MS = 3000;
// Longer than the connect timeout and the query timeout together: nothing may simply outwait it.
const HUNG_MS = 6500;
const RECOVERY_LIMIT_MS = 5000;
// Client-side query timeout = statement timeout + 2 s (src/infra/db/client.ts): 4 s here.
const DB_STATEMENT_TIMEOUT_MS = 2000;
const DB_CONNECT_TIMEOUT_MS = 2000;

interface HealthReport {
  status: string;
  services?: Record<string, { status: string; error?: string }>;
}

describe.skipIf(unavailable)('PostgreSQL lost mid-load', () => {
  let faults: FaultDeployment;
  let deployment: Deployment;
  let instance: Instance;
  let account: Account;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    faults = await createFaultDeployment();
    deployment = faults.deployment;
    instance = await deployment.start('A', {
      env: {
        ...faults.proxiedEnv,
        DB_CONNECT_TIMEOUT_MS: String(DB_CONNECT_TIMEOUT_MS),
        DB_STATEMENT_TIMEOUT_MS: String(DB_STATEMENT_TIMEOUT_MS),
      },
    });
    account = await signUp(instance);
  });

  afterAll(() => faults?.close());

  const health = () =>
    instance.request<HealthReport>('GET', '/api/health', { token: deployment.healthToken, timeoutMs: 10_000 });

  /**
   * Steady load; `fault` breaks the database after a second, `heal` brings it back `outageMs`
   * later; then the load runs on until a write has succeeded again and a second more.
   */
  async function loadThrough(
    outageMs: number,
    fault: () => Promise<void>,
    heal: () => Promise<void>,
    during: () => Promise<void>,
  ) {
    const load = startLoad({
      baseUrl: instance.url,
      concurrency: 8,
      next: (client, n) => mixedRequest(account.token, client, n),
      timeoutMs: 30_000,
    });
    await sleep(1000);
    const brokenAt = performance.now();
    await fault();
    await Promise.all([during(), sleep(outageMs)]);
    await heal();
    const healedAt = performance.now();
    const recovered = await waitFor(
      () => load.results.find((r) => r.write && isSuccess(r) && r.startedAt > healedAt),
      'a write to succeed after the database came back',
      { timeoutMs: RECOVERY_LIMIT_MS + 5000, intervalMs: 20 },
    );
    await sleep(1000);
    const results = await load.stop();
    const recoveredAfterMs = recovered.startedAt + recovered.ms - healedAt;
    return { results, brokenAt, healedAt, recoveredAfterMs, recovered };
  }

  /** The shared assertions and the printed measurements of one outage. */
  async function expectSurvived(
    what: string,
    run: Awaited<ReturnType<typeof loadThrough>>,
    healthDuring: HealthReport,
    healthStatus: number,
  ) {
    const { results, brokenAt, healedAt, recoveredAfterMs, recovered } = run;
    const outage = results.filter((r) => r.startedAt + r.ms > brokenAt && r.startedAt < healedAt);
    const unanswered = results.filter((r) => r.error !== undefined);
    const notServiceUnavailable = results.filter((r) => !isSuccess(r) && codeOf(r) !== 'SERVICE_UNAVAILABLE');
    // Once a write went through again, everything after it (plus a moment for pooled connections
    // that died with the outage to be found out) must succeed.
    const settled = results.filter((r) => r.startedAt > recovered.startedAt + recovered.ms + 200);
    const failedAfterRecovery = settled.filter((r) => !isSuccess(r));
    const acknowledged = acknowledgedIds(results);
    const found = await rowsFound(deployment, 'support_requests', acknowledged);
    const latencies = results.map((r) => r.ms);
    const outageLatencies = outage.map((r) => r.ms);

    console.log(
      `${what}: ${count(results.length)} requests, ${outcomes(results)}; during the outage ${count(outage.length)} ` +
        `requests, p50 ${percentile(outageLatencies, 50).toFixed(0)} ms, p99 ${percentile(outageLatencies, 99).toFixed(0)} ms; ` +
        `max latency overall ${Math.max(...latencies).toFixed(0)} ms; health ${healthStatus} ${healthDuring.status} ` +
        `(database ${healthDuring.services?.database?.status}: ${healthDuring.services?.database?.error}); ` +
        `first write ok ${recoveredAfterMs.toFixed(0)} ms after the database came back, same process; ` +
        `${found}/${acknowledged.length} acknowledged writes in PostgreSQL`,
    );

    expect(healthStatus).toBe(503);
    expect(healthDuring.status).toBe('critical');
    expect(healthDuring.services?.database?.status).toBe('down');
    expect(Math.max(...latencies), 'no request takes 5 s').toBeLessThan(MAX_LATENCY_MS);
    expect(outage.filter((r) => codeOf(r) === 'SERVICE_UNAVAILABLE').length, 'the outage was seen').toBeGreaterThan(0);
    expect(unanswered.map((r) => `${r.method} ${r.path}: ${r.error}`)).toEqual([]);
    expect(notServiceUnavailable.map((r: LoadResult) => `${r.method} ${r.path}: ${r.status} ${codeOf(r)}`)).toEqual([]);
    expect(recoveredAfterMs).toBeLessThan(RECOVERY_LIMIT_MS);
    expect(failedAfterRecovery.map((r) => `${r.method} ${r.path}: ${r.status ?? r.error} ${codeOf(r)}`)).toEqual([]);
    expect(instance.running(), 'the same process, never restarted').toBe(true);
    expect(found).toBe(acknowledged.length);
    const after = await health();
    expect(after.status).toBe(200);
    expect(after.body.status).not.toBe('critical');
  }

  it('stopped: 503 fast, critical health, recovery without restart, no acknowledged write lost', async () => {
    let healthDuring: HealthReport = { status: 'unknown' };
    let healthStatus = 0;
    let readyStatus = 0;
    const run = await loadThrough(
      OUTAGE_MS,
      async () => {
        await faults.postgres.refuse();
        faults.postgres.cut();
      },
      () => faults.postgres.pass(),
      async () => {
        await sleep(500);
        const [answer, ready] = await Promise.all([
          health(),
          send(instance.url, { method: 'GET', path: '/api/health/ready' }),
        ]);
        healthDuring = answer.body;
        healthStatus = answer.status;
        readyStatus = ready.status ?? 0;
      },
    );
    expect(readyStatus, 'readiness sends traffic elsewhere while the database is down').toBe(503);
    await expectSurvived('PostgreSQL stopped mid-load', run, healthDuring, healthStatus);
  });

  it('hung: every request still answers within 5 s, and the same process recovers', async () => {
    let healthDuring: HealthReport = { status: 'unknown' };
    let healthStatus = 0;
    const run = await loadThrough(
      HUNG_MS,
      () => faults.postgres.blackhole(),
      // The route comes back: the held bytes flow on, as over a healed partition.
      () => faults.postgres.pass(),
      async () => {
        await sleep(500);
        const answer = await health();
        healthDuring = answer.body;
        healthStatus = answer.status;
      },
    );
    console.log(
      `(DB_CONNECT_TIMEOUT_MS ${DB_CONNECT_TIMEOUT_MS}, DB_STATEMENT_TIMEOUT_MS ${DB_STATEMENT_TIMEOUT_MS}, ` +
        `black-holed for ${HUNG_MS} ms)`,
    );
    await expectSurvived('PostgreSQL hung mid-load', run, healthDuring, healthStatus);
  });
});
