/**
 * `npm run bench:payments` (also part of `npm run bench` when BENCH_DATABASE_URL is set): what
 * paying online adds to booking, on PostgreSQL, in one run against one server:
 *
 *   booking-visit  POST /api/v1/bookings on a service paid at the visit (no payment)
 *   booking-paid   POST /api/v1/bookings on a service paid at booking, `payment_token: sim_success`
 *                  (the simulated gateway: the card is charged within the request)
 *
 * The paid answer already shows the payment `succeeded` but the booking still `pending_payment`:
 * the booking moves to confirmed/pending when the outbox worker delivers the payment's
 * `booking.payment_changed` message. So the paid side has two figures: the POST (req/s, p99) and
 * the time from the booking row's creation to its confirmation (created_at → updated_at of the
 * confirming update, both the server's clock), read from the database after the run, plus how
 * long the backlog took to drain once the load stopped.
 *
 * The two kinds alternate for BENCH_ROUNDS rounds (default 2), each run on a quiet outbox, and the
 * ratio is the median of the rounds' paid/visit ratios. Defaults: BENCH_WARMUP_S 2 (once per
 * kind), BENCH_DURATION_S 5, BENCH_PAYMENTS_CONNECTIONS 10, BENCH_PAYMENTS_PROVIDERS 200 (half
 * sell at the visit, half online), BENCH_PAYMENTS_CUSTOMERS 20; BENCH_PAYMENTS_OUTBOX_POLL_MS sets
 * the app's OUTBOX_POLL_INTERVAL_MS (unset: the app's default, 1000 ms).
 *
 * The database: a fresh `bench_payments_<pid>` next to BENCH_DATABASE_URL (standalone, default
 * postgres://postgres@127.0.0.1:5432/test), dropped afterwards. Only 127.0.0.1 is loaded.
 * Writes bench/results/payments.json.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { inArray } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { providers, services } from '../src/modules/catalog/catalog.tables.js';
import { payoutAccounts } from '../src/modules/payments/payments.tables.js';
import { envNumber, type Harness, runBench, type ServerProcess } from './lib.js';
import { CUSTOMER_PASSWORD, customerEmail, type SeededData, seedMarketplace } from './marketplace-seed.js';
import {
  describeRun,
  getJson,
  interleavedSlotPlan,
  login,
  mapLimit,
  measure,
  type RawRequest,
  type RunContext,
  type RunSummary,
  scenarioAppEnv,
  scratchDatabase,
  startReport,
} from './support.js';

const DAY_MS = 86_400_000;
const DATABASE_PREFIX = 'bench_payments_';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** The simulated gateway's token that pays at once (src/modules/payments/gateways/simulated.ts). */
const PAYS_AT_ONCE = 'sim_success';
/** How often the bench looks at the database while it waits for the outbox. */
const WAIT_POLL_MS = 100;

// ---------------------------------------------------------------------------------------------
// Settings

export interface PaymentsBenchSettings {
  warmupS: number;
  durationS: number;
  rounds: number;
  connections: number;
  providers: number;
  customers: number;
  /** The app's OUTBOX_POLL_INTERVAL_MS, or undefined for its default. */
  outboxPollMs: number | undefined;
  /** Longest wait for the outbox to confirm a run's bookings. */
  settleTimeoutS: number;
}

export function paymentsSettingsFromEnv(): PaymentsBenchSettings {
  const poll = process.env.BENCH_PAYMENTS_OUTBOX_POLL_MS;
  return {
    warmupS: envNumber('BENCH_WARMUP_S', 2, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 5, 1, 600),
    rounds: Math.round(envNumber('BENCH_ROUNDS', 2, 1, 10)),
    connections: Math.round(envNumber('BENCH_PAYMENTS_CONNECTIONS', 10, 1, 1000)),
    providers: Math.round(envNumber('BENCH_PAYMENTS_PROVIDERS', 200, 2, 10_000)),
    customers: Math.round(envNumber('BENCH_PAYMENTS_CUSTOMERS', 20, 1, 10_000)),
    outboxPollMs:
      poll === undefined || poll.trim() === ''
        ? undefined
        : Math.round(envNumber('BENCH_PAYMENTS_OUTBOX_POLL_MS', 1000, 10, 60_000)),
    settleTimeoutS: envNumber('BENCH_PAYMENTS_SETTLE_TIMEOUT_S', 120, 5, 3600),
  };
}

// ---------------------------------------------------------------------------------------------
// Data: the marketplace bench's catalogue, half of its providers onboarded and selling online

type Kind = 'visit' | 'paid';

interface Offer {
  serviceId: string;
  providerId: string;
  durationMinutes: number;
  bufferMinutes: number;
}

interface Prepared {
  url: string;
  offers: Record<Kind, Offer[]>;
  seedSeconds: number;
  drop(): Promise<void>;
}

/** One active service per provider; the second half of the providers sell theirs online. */
function splitOffers(seed: SeededData): Record<Kind, Offer[]> {
  const first = new Map<string, Offer>();
  for (const service of seed.services) {
    if (!first.has(service.providerId)) first.set(service.providerId, { ...service, serviceId: service.id });
  }
  const offers = [...first.values()];
  const half = Math.floor(offers.length / 2);
  return { visit: offers.slice(0, half), paid: offers.slice(half) };
}

async function prepare(url: string, settings: PaymentsBenchSettings, log: (line: string) => void): Promise<Prepared> {
  const scratch = await scratchDatabase(url, DATABASE_PREFIX, log);
  try {
    const started = performance.now();
    const database = await openDatabase({ kind: 'postgres', url: scratch.url });
    let offers: Record<Kind, Offer[]>;
    try {
      await migrate(database.db);
      const seed = await seedMarketplace(database.db, {
        providers: settings.providers,
        services: settings.providers * 2,
        customers: settings.customers,
      });
      offers = splitOffers(seed);
      // As the payments seeder onboards the demo provider: a simulated payout account, so a paid
      // booking takes the destination-charge path a real one does.
      const paidProviders = offers.paid.map((offer) => offer.providerId);
      const now = new Date();
      await database.db.update(providers).set({ payoutsEnabled: true }).where(inArray(providers.id, paidProviders));
      await database.db
        .update(services)
        .set({ paymentMode: 'required' })
        .where(
          inArray(
            services.id,
            offers.paid.map((offer) => offer.serviceId),
          ),
        );
      await database.db.insert(payoutAccounts).values(
        paidProviders.map((providerId) => ({
          providerId,
          gateway: 'simulated' as const,
          accountId: `sim_acct_bench_${providerId}`,
          payoutsEnabled: true,
          detailsSubmitted: true,
          createdAt: now,
          updatedAt: now,
        })),
      );
    } finally {
      await database.close();
    }
    return { url: scratch.url, offers, seedSeconds: (performance.now() - started) / 1000, drop: scratch.drop };
  } catch (error) {
    await scratch.drop().catch(() => {});
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (setup, outside the measured runs)

/** Free slots of each offer over 60 days, kept apart by visit + buffer, interleaved across providers. */
async function slotPlan(server: ServerProcess, offers: Offer[]): Promise<{ serviceId: string; startsAt: string }[]> {
  const now = Date.now();
  const from = new Date(now + DAY_MS).toISOString();
  const to = new Date(now + 60 * DAY_MS).toISOString();
  return interleavedSlotPlan(offers, async (offer) => {
    const query = new URLSearchParams({ service_id: offer.serviceId, from, to });
    const path = `/api/v1/providers/${offer.providerId}/slots?${query}`;
    return (await getJson<{ slots: string[] }>(server, path)).slots;
  });
}

/** Hands out each slot of a plan once; past its end it repeats (those requests answer 409 and are counted). */
function bookingRequests(kind: Kind, plan: { serviceId: string; startsAt: string }[], tokens: string[]) {
  let next = 0;
  const runTag = `${process.pid}-${Date.now()}`;
  return {
    used: () => next,
    take(): { headers: Record<string, string>; body: string } {
      const n = next++;
      const slot = plan[n % plan.length] as (typeof plan)[number];
      return {
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${tokens[n % tokens.length]}`,
          'idempotency-key': `bench-${kind}-${runTag}-${n}`,
        },
        body: JSON.stringify({
          service_id: slot.serviceId,
          starts_at: slot.startsAt,
          ...(kind === 'paid' ? { payment_token: PAYS_AT_ONCE } : {}),
        }),
      };
    },
    setupRequest(request: RawRequest): RawRequest {
      return { ...request, method: 'POST', path: '/api/v1/bookings', ...this.take() };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The database's side: what the outbox has done

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);

/** Due outbox rows not yet delivered (reminders and retries due later are not counted). */
async function outboxDue(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*) as n from outbox where status in ('pending', 'processing') and deliver_after <= now()`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Waits (bounded) until the outbox has nothing due; resolves with how long that took. */
async function outboxQuiet(client: pg.Client, timeoutS: number): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutS * 1000;
  while ((await outboxDue(client)) > 0) {
    if (performance.now() > deadline) throw new Error(`the outbox still had due rows after ${timeoutS} s`);
    await sleep(WAIT_POLL_MS);
  }
  return performance.now() - started;
}

interface Settlement {
  /** Paid bookings created in the run's window. */
  created: number;
  /** Of them, confirmed or pending (provider to accept) with their payment succeeded. */
  applied: number;
  /** Still pending_payment when the wait ended (none expected). */
  unapplied: number;
  /** Any other state (released, failed): none expected. */
  other: Record<string, number>;
  /** Load end → the last booking of the run applied. */
  drainMs: number;
  /** Booking row created → confirming update, per booking (ms). */
  confirmP50Ms: number;
  confirmP99Ms: number;
  confirmMaxMs: number;
  confirmAvgMs: number;
  /** Bookings applied per second over the load window plus the drain. */
  appliedPerSec: number;
}

/**
 * After a paid run: waits (bounded) until no booking of the run is still `pending_payment`, then
 * reads each one's creation and confirmation times. The confirming update (bookings.payment.ts
 * onPaymentChanged) is the last write to the row, so its updated_at is the moment it was applied.
 */
async function settle(
  client: pg.Client,
  serviceIds: string[],
  window: { from: Date; to: Date },
  timeoutS: number,
): Promise<Settlement> {
  const scope = `service_id = any($1::uuid[]) and created_at >= $2 and created_at <= $3`;
  const args = [serviceIds, window.from, window.to];
  const deadline = performance.now() + timeoutS * 1000;
  for (;;) {
    const { rows } = await client.query<{ n: string }>(
      `select count(*) as n from bookings where ${scope} and status = 'pending_payment'`,
      args,
    );
    if (Number(rows[0]?.n ?? 0) === 0 || performance.now() > deadline) break;
    await sleep(WAIT_POLL_MS);
  }
  const drainMs = Math.max(0, Date.now() - window.to.getTime());
  const { rows } = await client.query<{ status: string; payment_status: string | null; ms: number }>(
    `select status, payment_status, extract(epoch from (updated_at - created_at)) * 1000 as ms
       from bookings where ${scope}`,
    args,
  );
  const other: Record<string, number> = {};
  const latencies: number[] = [];
  let unapplied = 0;
  let lastAppliedMs = 0;
  for (const row of rows) {
    const applied = (row.status === 'confirmed' || row.status === 'pending') && row.payment_status === 'succeeded';
    if (applied) latencies.push(Number(row.ms));
    else if (row.status === 'pending_payment') unapplied += 1;
    else {
      const key = `${row.status}/${row.payment_status ?? 'none'}`;
      other[key] = (other[key] ?? 0) + 1;
    }
  }
  const { rows: last } = await client.query<{ at: Date | null }>(
    `select max(updated_at) as at from bookings where ${scope} and status in ('confirmed', 'pending')`,
    args,
  );
  if (last[0]?.at) lastAppliedMs = last[0].at.getTime() - window.from.getTime();
  latencies.sort((a, b) => a - b);
  const round1 = (value: number) => Math.round(value * 10) / 10;
  return {
    created: rows.length,
    applied: latencies.length,
    unapplied,
    other,
    drainMs: Math.round(drainMs),
    confirmP50Ms: round1(percentile(latencies, 50)),
    confirmP99Ms: round1(percentile(latencies, 99)),
    confirmMaxMs: round1(latencies.at(-1) ?? 0),
    confirmAvgMs: round1(latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length)),
    appliedPerSec: lastAppliedMs > 0 ? Math.round((latencies.length / lastAppliedMs) * 1000) : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Round {
  round: number;
  visit: RunSummary;
  paid: RunSummary;
  settlement: Settlement;
  /** paid req/s as a percentage of visit req/s. */
  ratioPct: number;
}

export interface PaymentsReport extends RunContext {
  settings: PaymentsBenchSettings;
  database: 'postgres';
  seedSeconds: number;
  /** What one paid POST answered (before the load), showing where the confirmation happens. */
  paidAnswer: { status: number; bookingStatus: string; paymentStatus: string | null; confirmedAfterMs: number | null };
  slotsPlanned: Record<Kind, number>;
  slotsUsed: Record<Kind, number>;
  rounds: Round[];
  /** Median over rounds of paid/visit req/s, and of paid/visit p99. */
  ratioPct: number;
  p99RatioPct: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/** One paid POST before the load: its answer, and how long until the outbox confirmed it. */
async function probePaid(
  server: ServerProcess,
  client: pg.Client,
  request: { headers: Record<string, string>; body: string },
  timeoutS: number,
): Promise<PaymentsReport['paidAnswer']> {
  const started = performance.now();
  const response = await fetch(new URL('/api/v1/bookings', server.url), { method: 'POST', ...request });
  const body = (await response.json()) as { data?: { id: string; status: string; payment: { status: string } | null } };
  if (response.status !== 201 || !body.data) {
    throw new Error(`paid booking probe: ${response.status} ${JSON.stringify(body)}`);
  }
  const answer = {
    status: response.status,
    bookingStatus: body.data.status,
    paymentStatus: body.data.payment?.status ?? null,
    confirmedAfterMs: null as number | null,
  };
  const deadline = performance.now() + timeoutS * 1000;
  while (performance.now() < deadline) {
    const { rows } = await client.query<{ status: string }>('select status from bookings where id = $1', [
      body.data.id,
    ]);
    if (rows[0] && rows[0].status !== 'pending_payment') {
      answer.confirmedAfterMs = Math.round(performance.now() - started);
      break;
    }
    await sleep(10);
  }
  return answer;
}

export function formatPaymentsReport(report: PaymentsReport): string {
  const { settings } = report;
  const lines = [
    `payments on postgres: booking without payment vs with payment (sim_success), ${settings.connections} connections, ` +
      `${settings.warmupS} s warm-up per kind, ${settings.durationS} s measured, ${settings.rounds} alternating rounds, ` +
      `outbox poll ${settings.outboxPollMs ?? 'default (1000)'} ms`,
    `one paid POST answered ${report.paidAnswer.status}: booking ${report.paidAnswer.bookingStatus}, payment ${report.paidAnswer.paymentStatus}; ` +
      `confirmed by the outbox ${report.paidAnswer.confirmedAfterMs ?? '(not within the wait)'} ms after the request was sent`,
  ];
  for (const round of report.rounds) {
    const s = round.settlement;
    lines.push(
      `  round ${round.round}  visit  ${describeRun(round.visit)}`,
      `  round ${round.round}  paid   ${describeRun(round.paid)}  (${round.ratioPct.toFixed(1)}% of visit req/s)`,
      `  round ${round.round}  paid → confirmed: ${s.applied}/${s.created} applied (${s.unapplied} still pending_payment` +
        `${Object.keys(s.other).length ? `, other ${JSON.stringify(s.other)}` : ''}); created → confirmed p50 ${s.confirmP50Ms} ms, ` +
        `p99 ${s.confirmP99Ms} ms, max ${s.confirmMaxMs} ms; ${s.appliedPerSec} confirmed/s; backlog drained ${s.drainMs} ms after the load`,
    );
  }
  const best = (kind: 'visit' | 'paid') =>
    report.rounds
      .map((round) => round[kind])
      .reduce((top, run) => (run.requestsPerSec > top.requestsPerSec ? run : top));
  const confirmP99 = median(report.rounds.map((round) => round.settlement.confirmP99Ms));
  lines.push(
    `visit (best): ${best('visit').requestsPerSec} req/s, p99 ${best('visit').latencyP99Ms} ms`,
    `paid  (best): ${best('paid').requestsPerSec} req/s, p99 ${best('paid').latencyP99Ms} ms; created → confirmed p99 (median of rounds) ${confirmP99} ms`,
    `paid/visit: median ${report.ratioPct.toFixed(1)}% of req/s, p99 ${report.p99RatioPct.toFixed(0)}% of visit's p99`,
    `slots used: visit ${report.slotsUsed.visit}/${report.slotsPlanned.visit}, paid ${report.slotsUsed.paid}/${report.slotsPlanned.paid} (warm-up included)`,
  );
  return lines.join('\n');
}

/** Seeds a scratch database, starts the app on it (workers on: the outbox applies payments) and alternates the two kinds. */
export async function runPayments(
  harness: Harness,
  databaseUrl: string,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<PaymentsReport> {
  const settings = paymentsSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-payments-');
  const report = startReport('payments', log);
  log(
    `\npayments (postgres): seeding ${settings.providers} providers (half selling online), ${settings.customers} customers`,
  );
  const prepared = await prepare(databaseUrl, settings, log);
  let server: ServerProcess | undefined;
  const client = new pg.Client({ connectionString: prepared.url });
  try {
    server = await harness.startServer({
      name: 'payments-postgres',
      entry: 'src/server.ts',
      readyPath: '/api/health/ready',
      stdoutFile: join(workDir, 'app.log'),
      env: {
        ...scenarioAppEnv(workDir, { DATABASE_URL: prepared.url }),
        // The outbox applies a paid booking's payment: the workers run here, for both kinds alike.
        WORKERS_ENABLED: 'true',
        ...(settings.outboxPollMs ? { OUTBOX_POLL_INTERVAL_MS: String(settings.outboxPollMs) } : {}),
      },
    });
    await client.connect();
    const tokens = await mapLimit(
      Array.from({ length: settings.customers }, (_, i) => customerEmail(i)),
      4,
      (email) => login(server as ServerProcess, email, CUSTOMER_PASSWORD),
    );
    const plans = {
      visit: await slotPlan(server, prepared.offers.visit),
      paid: await slotPlan(server, prepared.offers.paid),
    };
    const requests = {
      visit: bookingRequests('visit', plans.visit, tokens),
      paid: bookingRequests('paid', plans.paid, tokens),
    };
    const paidAnswer = await probePaid(server, client, requests.paid.take(), settings.settleTimeoutS);
    log(
      `  one paid POST: ${paidAnswer.status}, booking ${paidAnswer.bookingStatus}, payment ${paidAnswer.paymentStatus}; ` +
        `confirmed after ${paidAnswer.confirmedAfterMs ?? '(not within the wait)'} ms`,
    );

    const spec = (kind: Kind) => ({
      server: server as ServerProcess,
      path: '/api/v1/bookings',
      method: 'POST' as const,
      connections: settings.connections,
      setupRequest: (request: RawRequest) => requests[kind].setupRequest(request),
    });
    if (settings.warmupS > 0) {
      for (const kind of ['visit', 'paid'] as const) {
        await measure(`${kind} warm-up`, spec(kind), { warmupS: 0, durationS: settings.warmupS });
        await outboxQuiet(client, settings.settleTimeoutS);
      }
    }

    const paidServices = prepared.offers.paid.map((offer) => offer.serviceId);
    const rounds: Round[] = [];
    for (let round = 1; round <= settings.rounds; round++) {
      await outboxQuiet(client, settings.settleTimeoutS);
      const visit = await measure('booking-visit', spec('visit'), { warmupS: 0, durationS: settings.durationS });
      log(`  round ${round}/${settings.rounds}  visit  ${describeRun(visit)}`);
      await outboxQuiet(client, settings.settleTimeoutS);
      const from = new Date();
      const paid = await measure('booking-paid', spec('paid'), { warmupS: 0, durationS: settings.durationS });
      const to = new Date();
      log(`  round ${round}/${settings.rounds}  paid   ${describeRun(paid)}`);
      const settlement = await settle(client, paidServices, { from, to }, settings.settleTimeoutS);
      log(
        `  round ${round}/${settings.rounds}  paid → confirmed: ${settlement.applied}/${settlement.created}, ` +
          `p50 ${settlement.confirmP50Ms} ms, p99 ${settlement.confirmP99Ms} ms, drained ${settlement.drainMs} ms after the load`,
      );
      rounds.push({
        round,
        visit,
        paid,
        settlement,
        ratioPct: visit.requestsPerSec > 0 ? (paid.requestsPerSec / visit.requestsPerSec) * 100 : 0,
      });
    }
    const finished = await report.finish({
      settings,
      database: 'postgres' as const,
      seedSeconds: Math.round(prepared.seedSeconds * 10) / 10,
      paidAnswer,
      slotsPlanned: { visit: plans.visit.length, paid: plans.paid.length },
      slotsUsed: { visit: requests.visit.used(), paid: requests.paid.used() },
      rounds,
      ratioPct: Math.round(median(rounds.map((round) => round.ratioPct)) * 10) / 10,
      p99RatioPct: Math.round(
        median(
          rounds.map((round) =>
            round.visit.latencyP99Ms > 0 ? (round.paid.latencyP99Ms / round.visit.latencyP99Ms) * 100 : 0,
          ),
        ),
      ),
    });
    log(`\n${formatPaymentsReport(finished)}`);
    return finished;
  } finally {
    await client.end().catch(() => {});
    await server?.stop();
    await prepared.drop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runPayments(harness, process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL);
  });
}
