/**
 * SIGTERM during steady load: the instance stops accepting, finishes every request it accepted,
 * and exits 0 within SHUTDOWN_TIMEOUT_MS. Clients keep sending over keep-alive connections until
 * the process is gone.
 *
 * What counts as accepted: a request the server read. The server's request log is the record:
 * with a clean exit (0, not timed out) every request it read was answered and logged. Never
 * accepted, then: a connection refused once the listener closed; a request that met a keep-alive
 * connection the server had just closed as idle; a new connection still in the kernel's accept
 * queue when the listener closed (reset). Each fails before any answer, and the log never names
 * its correlation id. Any other network failure, any 5xx, and any request the log names but the
 * client never got an answer to, is a failure.
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
} from '../support/instance.js';
import { count, type LoadResult, percentile, startLoad } from './load.js';
import {
  acknowledgedIds,
  createFaultDeployment,
  type FaultDeployment,
  mixedRequest,
  outcomes,
  rowsFound,
} from './setup.js';

const unavailable = await servicesUnavailable();

const SHUTDOWN_TIMEOUT_MS = 5000;
const CONCURRENCY = 16;
const LOAD_BEFORE_SIGNAL_MS = 1500;

/** Correlation ids of every request the instance logged as finished. */
function loggedIds(instance: Instance): Set<string> {
  return new Set(
    instance.logsMatching((record) => record.msg === 'request finished').map((record) => String(record.correlation_id)),
  );
}

describe.skipIf(unavailable)('SIGTERM during steady load', () => {
  let faults: FaultDeployment;
  let deployment: Deployment;
  let instance: Instance;
  let account: Account;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    faults = await createFaultDeployment({ SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    deployment = faults.deployment;
    instance = await deployment.start('A');
    account = await signUp(instance);
  });

  afterAll(() => faults?.close());

  it('answers every accepted request and exits 0 within the shutdown timeout', async () => {
    const load = startLoad({
      baseUrl: instance.url,
      concurrency: CONCURRENCY,
      next: (client, n) => mixedRequest(account.token, client, n),
    });
    await sleep(LOAD_BEFORE_SIGNAL_MS);
    const signalledAt = performance.now();
    const stopped = await instance.stop('SIGTERM', SHUTDOWN_TIMEOUT_MS + 5000);
    // A moment more of clients knocking at the closed port.
    await sleep(200);
    const results = await load.stop();

    const served = loggedIds(instance);
    const refused = results.filter((r) => r.error === 'ECONNREFUSED');
    // Failed before any answer and never read by the server: on a keep-alive connection it closed
    // as idle, or on a new one reset in the accept queue.
    const unread = results.filter(
      (r) => r.error !== undefined && r.error !== 'ECONNREFUSED' && !served.has(r.correlationId),
    );
    const idleClosed = unread.filter((r) => r.reusedSocket);
    const failed = results.filter(
      (r: LoadResult) =>
        (r.error !== undefined && !refused.includes(r) && !unread.includes(r)) ||
        (r.status !== undefined && r.status >= 500),
    );
    const answered = results.filter((r) => r.status !== undefined);
    const inFlightAtSignal = results.filter((r) => r.startedAt < signalledAt && r.startedAt + r.ms > signalledAt);
    const acknowledged = acknowledgedIds(results);
    const found = await rowsFound(deployment, 'support_requests', acknowledged);

    console.log(
      `SIGTERM under load: ${count(results.length)} requests (${count(answered.length)} answered, ` +
        `${inFlightAtSignal.length} in flight at the signal), ${failed.length} failed; ` +
        `never accepted: ${refused.length} refused after the listener closed, ${idleClosed.length} on keep-alive ` +
        `connections the server closed as idle, ${unread.length - idleClosed.length} reset in the accept queue; ` +
        `exit ${stopped.code} in ${stopped.durationMs} ms ` +
        `(SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}); p99 ${percentile(
          answered.map((r) => r.ms),
          99,
        ).toFixed(0)} ms; ${found}/${acknowledged.length} acknowledged writes in PostgreSQL`,
    );
    if (failed.length > 0) console.log(`failures: ${outcomes(failed)}`);

    expect(answered.length, 'the load reached the instance').toBeGreaterThan(100);
    expect(inFlightAtSignal.length, 'requests were in flight when the signal came').toBeGreaterThan(0);
    expect(
      failed.map(
        (r) =>
          `${r.method} ${r.path}: ${r.error ?? r.status} after ${r.ms.toFixed(0)} ms, ` +
          `${r.reusedSocket ? 'reused' : 'new'} connection, ${served.has(r.correlationId) ? '' : 'not '}in the server's log, ` +
          `started ${(r.startedAt - signalledAt).toFixed(0)} ms after the signal`,
      ),
    ).toEqual([]);
    // Nothing but 2xx among the answers: no 4xx from a half-closed app either.
    expect(outcomes(answered)).toMatch(/^(20[01] ×\d+(, )?)+$/);
    expect(stopped.timedOut).toBe(false);
    expect(stopped.signal).toBeNull();
    expect(stopped.code).toBe(0);
    expect(stopped.durationMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(
      instance.logsMatching((record) => record.msg === 'shutdown complete' && record.timed_out === false),
    ).toHaveLength(1);
    expect(found).toBe(acknowledged.length);
  });
});
