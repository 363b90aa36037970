/**
 * A rolling restart of two instances under load, behind a load balancer that sends only to ready
 * instances and passes a request the next upstream when its connection failed (nginx's
 * `proxy_next_upstream error`; test/faults/load-balancer.ts). A is restarted (SIGTERM, a new A on
 * the same port, waited for until the balancer sees it ready), then B. No request may fail: the
 * instance going away flips its readiness before it stops listening, finishes what it accepted,
 * and the balancer's retries cover the connections it refuses meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Deployment,
  type Instance,
  printLogsOnFailure,
  type Stopped,
  servicesUnavailable,
  signUp,
  sleep,
} from '../support/instance.js';
import { count, percentile, startLoad } from './load.js';
import { type LoadBalancer, startLoadBalancer } from './load-balancer.js';
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

const SHUTDOWN_TIMEOUT_MS = 5000;
// The balancer polls readiness every 100 ms: half a second of serving with readiness off moves
// traffic away before the listener closes (as Kubernetes' preStop sleep does).
const SHUTDOWN_DRAIN_DELAY_MS = 500;
const SETTLE_MS = 700;

describe.skipIf(unavailable)('rolling restart of two instances under load', () => {
  let faults: FaultDeployment;
  let deployment: Deployment;
  let balancer: LoadBalancer;
  let account: Account;
  let a: Instance;
  let b: Instance;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    faults = await createFaultDeployment({
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      SHUTDOWN_DRAIN_DELAY_MS: String(SHUTDOWN_DRAIN_DELAY_MS),
    });
    deployment = faults.deployment;
    [a, b] = await Promise.all([deployment.start('A'), deployment.start('B')]);
    balancer = await startLoadBalancer({ upstreams: [a.url, b.url] });
    await Promise.all([balancer.waitReady(a.url), balancer.waitReady(b.url)]);
    account = await signUp(a);
  });

  afterAll(async () => {
    await balancer?.close();
    await faults?.close();
  });

  /** SIGTERM, then a new process on the same port, in service once the balancer sees it ready. */
  async function restart(
    old: Instance,
    name: string,
  ): Promise<{ stopped: Stopped; replacement: Instance; ms: number }> {
    const started = performance.now();
    const stopped = await old.stop('SIGTERM', SHUTDOWN_TIMEOUT_MS + 5000);
    const replacement = await deployment.start(name, { port: old.port });
    await balancer.waitReady(replacement.url);
    return { stopped, replacement, ms: performance.now() - started };
  }

  it('loses no request while A and then B are restarted', async () => {
    const load = startLoad({
      baseUrl: balancer.url,
      concurrency: 12,
      next: (client, n) => mixedRequest(account.token, client, n),
      timeoutMs: 30_000,
    });
    await sleep(SETTLE_MS);
    const first = await restart(a, 'A2');
    await sleep(SETTLE_MS);
    const second = await restart(b, 'B2');
    await sleep(SETTLE_MS);
    const results = await load.stop();

    const failed = results.filter((r) => !isSuccess(r));
    const acknowledged = acknowledgedIds(results);
    const found = await rowsFound(deployment, 'support_requests', acknowledged);
    const servedBy = (instance: Instance) =>
      instance.logsMatching((record) => record.msg === 'request finished' && record.route !== '/api/health/ready')
        .length;
    console.log(
      `Rolling restart under load: ${count(results.length)} requests, ${failed.length} failed ` +
        `(${outcomes(results)}); balancer proxied ${count(balancer.stats.proxied)}, passed ${balancer.stats.retried} failed attempts to the other instance, answered 502 ` +
        `${balancer.stats.badGateway} times; A restarted in ${first.ms.toFixed(0)} ms (exit ${first.stopped.code} after ` +
        `${first.stopped.durationMs} ms), B in ${second.ms.toFixed(0)} ms (exit ${second.stopped.code} after ` +
        `${second.stopped.durationMs} ms); requests served by A/B/A2/B2: ` +
        `${[a, b, first.replacement, second.replacement].map(servedBy).join('/')}; p99 ` +
        `${percentile(
          results.map((r) => r.ms),
          99,
        ).toFixed(0)} ms; ${found}/${acknowledged.length} acknowledged writes in PostgreSQL`,
    );

    expect(failed.map((r) => `${r.method} ${r.path}: ${r.status ?? r.error} ${codeOf(r) ?? ''}`)).toEqual([]);
    expect(balancer.stats.badGateway).toBe(0);
    for (const { stopped } of [first, second]) {
      expect(stopped).toMatchObject({ code: 0, signal: null, timedOut: false });
      expect(stopped.durationMs).toBeLessThan(SHUTDOWN_DRAIN_DELAY_MS + SHUTDOWN_TIMEOUT_MS);
    }
    // Every process took a share of the load: the restart happened under it.
    for (const instance of [a, b, first.replacement, second.replacement]) {
      expect(servedBy(instance), instance.name).toBeGreaterThan(0);
    }
    expect(found).toBe(acknowledged.length);
  });
});
