/**
 * Receivers that never answer: an SMTP server that accepts connections and says nothing, and an
 * HTTP endpoint that reads requests and never replies, standing in for the security alert webhook
 * and the Moyasar API. (WhatsApp through n8n takes the same outbox path, from the reminder
 * scheduler rather than from a request.) Messages go through the outbox, so requests that cause
 * them (a password reset's email, an attack's security alert) answer at once while the dispatcher
 * waits on the receivers in the background; a booking whose payment gateway hangs answers with a
 * clear 503 PAYMENTS_UNAVAILABLE once the gateway's own timeout passes, and holds up nobody else.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Deployment,
  type Instance,
  makeAdmin,
  printLogsOnFailure,
  servicesUnavailable,
  signIn,
  signUp,
  sleep,
} from '../support/instance.js';
import { count, type LoadRequest, percentile, send, startLoad } from './load.js';
import { codeOf, createFaultDeployment, type FaultDeployment, isSuccess, outcomes } from './setup.js';

const unavailable = await servicesUnavailable();

// src/modules/payments/gateways/moyasar.ts: a Moyasar call gives up after 15 s (no setting).
const MOYASAR_TIMEOUT_MS = 15_000;
const SHUTDOWN_TIMEOUT_MS = 5000;
const FAST_P99_MS = 1000;
const LOAD_MS = 3000;

/** A listener that takes connections (and HTTP requests) and never answers any. */
interface Silent {
  url: string;
  port: number;
  /** Connections (TCP) or requests (HTTP) it has been sent. */
  readonly received: number;
  /** HTTP requests by the first segment of their path (`alerts`, `moyasar`). */
  readonly byPath: Map<string, number>;
  close(): Promise<void>;
}

async function silentHttp(): Promise<Silent> {
  let received = 0;
  const byPath = new Map<string, number>();
  // The response is never ended: the caller waits until its own timeout.
  const server = createHttpServer((request) => {
    received += 1;
    const segment = (request.url ?? '/').split('/')[1] ?? '';
    byPath.set(segment, (byPath.get(segment) ?? 0) + 1);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get received() {
      return received;
    },
    byPath,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function silentTcp(): Promise<Silent> {
  const sockets = new Set<Socket>();
  let received = 0;
  const server = createTcpServer((socket) => {
    received += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    get received() {
      return received;
    },
    byPath: new Map(),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.skipIf(unavailable)('receivers and gateways that never answer', () => {
  let faults: FaultDeployment;
  let deployment: Deployment;
  let instance: Instance;
  let http: Silent;
  let smtp: Silent;
  let customer: Account;
  let serviceId: string;
  let providerId: string;
  printLogsOnFailure(() => deployment?.instances ?? []);

  const api = (method: LoadRequest['method'], path: string, token?: string, body?: unknown) =>
    send(instance.url, { method, path, headers: token ? bearer(token) : {}, body }, { timeoutMs: 60_000 });
  const expectOk = async (answer: Promise<Awaited<ReturnType<typeof api>>>, what: string) => {
    const result = await answer;
    if (!isSuccess(result)) throw new Error(`${what}: ${result.status ?? result.error} ${JSON.stringify(result.body)}`);
    return (result.body as { data: { id: string } }).data;
  };

  /** A verified provider with payouts on (set in SQL, as Stripe onboarding would) and one SAR service paid online. */
  async function paidService(admin: Account): Promise<void> {
    const category = await expectOk(
      api('POST', '/api/v1/admin/categories', admin.token, {
        slug: `faults-${randomBytes(3).toString('hex')}`,
        name: 'Cupping',
      }),
      'category',
    );
    const signedUp = await signUp(instance);
    await deployment.query(`update users set role = 'provider' where id = $1`, [signedUp.id]);
    const provider = await signIn(instance, signedUp);
    const profile = await expectOk(
      api('PATCH', '/api/v1/provider/profile', provider.token, {
        display_name: 'Riyadh Wellness',
        time_zone: 'UTC',
        auto_confirm: false,
      }),
      'provider profile',
    );
    providerId = profile.id;
    await expectOk(
      api('PATCH', `/api/v1/admin/providers/${providerId}`, admin.token, { verification: 'verified' }),
      'verification',
    );
    await expectOk(
      api('PUT', '/api/v1/provider/availability', provider.token, {
        time_zone: 'UTC',
        weekly: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day_of_week: day, start: '00:00', end: '23:45' })),
        breaks: [],
        exceptions: [],
      }),
      'availability',
    );
    await deployment.query(`update providers set payouts_enabled = true where id = $1`, [providerId]);
    const service = await expectOk(
      api('POST', '/api/v1/provider/services', provider.token, {
        name: 'Cupping, 60 minutes',
        price_minor: 15_000,
        currency: 'SAR',
        category_id: category.id,
        duration_minutes: 60,
        buffer_minutes: 0,
        payment: 'required',
        free_cancel_hours: 24,
        late_cancel_fee_bps: 0,
      }),
      'service',
    );
    serviceId = service.id;
  }

  beforeAll(async () => {
    [http, smtp] = await Promise.all([silentHttp(), silentTcp()]);
    faults = await createFaultDeployment({ SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    deployment = faults.deployment;
    instance = await deployment.start('A', {
      env: {
        SMTP_URL: smtp.url,
        SECURITY_ALERT_WEBHOOK_URL: `${http.url}/alerts`,
        SECURITY_ALERT_WEBHOOK_SECRET: 'alert-secret-0123456789abcdef',
        MOYASAR_SECRET_KEY: 'sk_test_faults',
        MOYASAR_WEBHOOK_SECRET: 'moyasar-webhook-secret',
        MOYASAR_API_URL: `${http.url}/moyasar`,
        // The dispatcher looks for work often, so it is busy on the silent receivers during the load.
        OUTBOX_POLL_INTERVAL_MS: '100',
        // Each attacker its own address (X-Forwarded-For): blocking one must not block the test.
        TRUST_PROXY: '1',
      },
    });
    const admin = await makeAdmin(deployment, instance, await signUp(instance));
    customer = await signUp(instance);
    await paidService(admin);
  });

  afterAll(async () => {
    await faults?.close();
    await Promise.all([http?.close(), smtp?.close()]);
  });

  it('requests that send messages answer fast while the receivers hang; a hung gateway answers 503 in its timeout', async () => {
    const slots = await api('GET', `/api/v1/providers/${providerId}/slots?service_id=${serviceId}`);
    const startsAt = (slots.body as { data: { slots: string[] } }).data.slots[0];
    expect(startsAt, 'a free slot').toBeDefined();

    const smtpBefore = smtp.received;
    const httpBefore = http.received;
    const bookingStarted = performance.now();
    const booking = api('POST', '/api/v1/bookings', customer.token, {
      service_id: serviceId,
      starts_at: startsAt,
      payment_method: 'mada',
      payment_token: 'token_mada_faults',
    }).then((result) => ({ ...result, ms: performance.now() - bookingStarted }));

    // Password resets (an email each) and attacks (a security alert each), with ordinary reads.
    const load = startLoad({
      baseUrl: instance.url,
      concurrency: 6,
      next: (client, n): LoadRequest => {
        if (client < 2) {
          return { method: 'POST', path: '/api/v1/auth/password-reset/request', body: { email: customer.email } };
        }
        if (client === 2) {
          return {
            method: 'GET',
            path: `/api/v1/services/search?q=${encodeURIComponent(`x' UNION SELECT password_hash FROM users -- ${n}`)}`,
            headers: { 'x-forwarded-for': `198.51.100.${n % 200}` },
          };
        }
        return {
          method: 'GET',
          path: client === 3 ? '/api/v1/me' : '/api/v1/categories',
          headers: bearer(customer.token),
        };
      },
    });
    await sleep(LOAD_MS);
    const results = await load.stop();
    const stillWaiting = await Promise.race([booking.then(() => false), sleep(0).then(() => true)]);
    const queued = await deployment.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from outbox group by status order by status`,
    );
    const emails = await deployment.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from notifications where channel = 'email' group by status order by status`,
    );
    const answered = await booking;
    const unpaid = await deployment.query<{ n: number }>(
      `select count(*)::int as n from bookings where service_id = $1 and status not in ('cancelled', 'expired')`,
      [serviceId],
    );

    const resets = results.filter((r) => r.path === '/api/v1/auth/password-reset/request');
    const attacks = results.filter((r) => r.path.startsWith('/api/v1/services/search'));
    const reads = results.filter((r) => r.method === 'GET' && !r.path.startsWith('/api/v1/services/search'));
    const p99 = (set: typeof results) =>
      percentile(
        set.map((r) => r.ms),
        99,
      ).toFixed(0);
    console.log(
      `Silent receivers: ${count(results.length)} requests in ${LOAD_MS} ms; password resets ${outcomes(resets)} ` +
        `p99 ${p99(resets)} ms; attacks ${outcomes(attacks)} p99 ${p99(attacks)} ms; reads ${outcomes(reads)} ` +
        `p99 ${p99(reads)} ms; the dispatcher meanwhile opened ${smtp.received - smtpBefore} SMTP connections and ` +
        `sent ${http.received - httpBefore} HTTP requests that were never answered ` +
        `(${[...http.byPath].map(([path, n]) => `${path} ${n}`).join(', ')}); outbox ` +
        `${queued.map((row) => `${row.status} ${row.n}`).join(', ')}; email notifications ` +
        `${emails.map((row) => `${row.status} ${row.n}`).join(', ')}`,
    );
    console.log(
      `Silent payment gateway (Moyasar): booking answered ${answered.status} ${codeOf(answered)} after ` +
        `${answered.ms.toFixed(0)} ms (gateway timeout ${MOYASAR_TIMEOUT_MS} ms), still waiting while the load ran: ` +
        `${stillWaiting}; bookings left holding the slot: ${unpaid[0]?.n}`,
    );

    expect(resets.length).toBeGreaterThan(5);
    expect(outcomes(resets)).toMatch(/^202 ×\d+$/);
    expect(Number(p99(resets))).toBeLessThan(FAST_P99_MS);
    expect(attacks.map(codeOf).every((code) => code === 'REQUEST_REJECTED')).toBe(true);
    expect(Number(p99(attacks))).toBeLessThan(FAST_P99_MS);
    expect(reads.every(isSuccess)).toBe(true);
    expect(Number(p99(reads))).toBeLessThan(FAST_P99_MS);
    // The messages were tried meanwhile (the hang was real) and wait in the outbox.
    expect(smtp.received - smtpBefore).toBeGreaterThan(0);
    expect(queued.filter((row) => row.status === 'pending' || row.status === 'processing').length).toBeGreaterThan(0);
    expect(emails.find((row) => row.status === 'sent')).toBeUndefined();
    // The gateway: a clear error after its timeout, nothing left holding the slot.
    expect(answered.status).toBe(503);
    expect(codeOf(answered)).toBe('PAYMENTS_UNAVAILABLE');
    expect(answered.ms).toBeGreaterThan(MOYASAR_TIMEOUT_MS - 1000);
    expect(answered.ms).toBeLessThan(MOYASAR_TIMEOUT_MS + 3000);
    expect(unpaid[0]?.n).toBe(0);
  });

  it('SIGTERM while deliveries hang: exit 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    // The messages queued above keep the dispatcher inside deliveries to the silent receivers.
    const [inFlight] = await deployment.query<{ n: number }>(
      `select count(*)::int as n from outbox where status = 'processing'`,
    );
    const stopped = await instance.stop('SIGTERM', SHUTDOWN_TIMEOUT_MS + 15_000);
    console.log(
      `SIGTERM while ${inFlight?.n} deliveries hang: exit ${stopped.code} after ${stopped.durationMs} ms ` +
        `(SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS})`,
    );
    expect(inFlight?.n, 'deliveries were in flight').toBeGreaterThan(0);
    expect(stopped).toMatchObject({ code: 0, signal: null, timedOut: false });
    expect(stopped.durationMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
  });
});
