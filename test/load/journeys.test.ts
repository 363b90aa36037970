/**
 * The load test's harness and journeys (bench/load/), for correctness only — no timing is asserted:
 * every journey, run by a few virtual users against the real app over HTTP, gets only the answers
 * it expects (a route or schema change that breaks a journey fails here, not in a long load run),
 * booking VUs sharing a provider never want the same slot, and the figures add up.
 */
import { inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOKING_SERVICE_MINUTES, type JourneyName, type LoadData } from '../../bench/load/data.js';
import { bookingLane, JOURNEYS, STEPS, slotLane, vuCounts } from '../../bench/load/journeys.js';
import { counterDelta, parseCounters } from '../../bench/load/machine.js';
import { verdict } from '../../bench/load/report.js';
import { parseSettings } from '../../bench/load/settings.js';
import { prepareData } from '../../bench/load/setup.js';
import { percentile, Recorder, summariseGroup } from '../../bench/load/stats.js';
import { ErrorLog, rampOrder, runVus } from '../../bench/load/vus.js';
import { queryRows } from '../../src/infra/db/client.js';
import { runSeeders } from '../../src/infra/db/seed.js';
import { createLogger } from '../../src/infra/logger.js';
import { bookings } from '../../src/modules/bookings/bookings.tables.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('load test arithmetic', () => {
  it('splits virtual users over the journeys in proportion, every journey at least one, adding up to the total', () => {
    expect(vuCounts(100)).toEqual({
      browse: 24,
      book: 16,
      provider: 8,
      wellness: 14,
      reader: 14,
      reminders: 8,
      analytics: 10,
      admin: 6,
    });
    for (const total of [8, 9, 33, 100, 101, 250, 1000]) {
      const counts = Object.values(vuCounts(total));
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(total);
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    }
  });

  it('gives each booking VU on a provider its own lane of 15-minute slots, together covering all of them', () => {
    const bookable = 3;
    const count = 8; // providers 0 and 1 get three VUs each, provider 2 two
    const grid = Array.from({ length: 96 }, (_, i) =>
      new Date(Date.UTC(2026, 11, 1) + i * BOOKING_SERVICE_MINUTES * 60_000).toISOString(),
    );
    for (let provider = 0; provider < bookable; provider++) {
      const vus = Array.from({ length: count }, (_, index) => index).filter((index) => index % bookable === provider);
      const taken = vus.flatMap((index) => {
        const { sharers, lane } = bookingLane(index, count, bookable);
        expect(sharers).toBe(vus.length);
        return grid.filter((slot) => slotLane(slot, sharers) === lane);
      });
      expect(new Set(taken).size).toBe(taken.length);
      expect(taken.length).toBe(grid.length);
    }
  });

  it('takes nearest-rank percentiles and sums a group of steps', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(new Float64Array(), 99)).toBe(0);

    const recorder = new Recorder();
    const route = 'GET /x';
    recorder.record({ journey: 'reader', step: 'teaser', route, ms: 4, status: 403 });
    recorder.record({ journey: 'reader', step: 'list', route, ms: 2, status: 200 });
    recorder.record({ journey: 'reader', step: 'list', route, ms: 9, status: 503, problem: 'HTTP 503' });
    recorder.flag('reader', 'list', route, 'no data in the answer');
    const group = summariseGroup(recorder.all(), 2);
    expect(group).toMatchObject({
      requests: 3,
      rps: 1.5,
      p50Ms: 4,
      maxMs: 9,
      statuses: { '200': 1, '403': 1, '503': 1 },
      expectedNon2xx: 1,
      unexpected: 2,
    });
    expect(verdict('postgres', group).map((row) => row.met)).toEqual([false, true, false]);
  });

  it('reads the app counters it reports from Prometheus text', () => {
    const before = parseCounters('cache_requests_total{cache="search",result="hit"} 5\n');
    const after = parseCounters(
      [
        '# HELP cache_requests_total x',
        'cache_requests_total{cache="search",result="hit"} 12',
        'cache_requests_total{cache="search",result="miss"} 3',
        'db_query_duration_seconds_count{operation="select"} 40',
        'db_query_duration_seconds_count{operation="insert"} 2',
      ].join('\n'),
    );
    expect(counterDelta(before, after)).toEqual({
      caches: { search: { hit: 7, miss: 3 } },
      dbQueries: 42,
      rateLimitRejections: 0,
      securityRefusals: 0,
    });
  });

  it('ramps every journey up in proportion and reads its options', () => {
    const order = rampOrder([
      { script: { name: 'a', makeVu: () => ({ start: async () => {}, iteration: async () => {} }) }, count: 4 },
      { script: { name: 'b', makeVu: () => ({ start: async () => {}, iteration: async () => {} }) }, count: 2 },
    ]);
    expect(order.map((vu) => vu.script.name)).toEqual(['a', 'b', 'a', 'a', 'b', 'a']);
    const settings = parseSettings(['--pglite', '--think', '0-20', '--vus', '50'], {});
    expect(settings).toMatchObject({ pglite: true, vus: 50, think: { minMs: 0, maxMs: 20 }, etags: true });
    expect(() => parseSettings(['--think', '50-10'], {})).toThrow(/--think/);
  });
});

describe('the eight journeys against the real app', () => {
  let t: TestApp;
  let data: LoadData;
  const counts: Record<JourneyName, number> = {
    browse: 1,
    book: 3,
    provider: 2,
    wellness: 1,
    reader: 1,
    reminders: 1,
    analytics: 1,
    admin: 1,
  };
  const recorders = { ramp: new Recorder(), steady: new Recorder() };
  const errors = new ErrorLog();

  beforeAll(async () => {
    // Payout onboarding is applied by the outbox, as in a running server.
    t = await buildTestApp({ env: { OUTBOX_POLL_INTERVAL_MS: '50' } });
    await runSeeders(t.app.platform.db, t.app.platform.seeders, {
      clock: t.app.platform.clock,
      logger: createLogger({ level: 'silent' }),
      isProduction: false,
    });
    t.app.platform.dispatcher.start();
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const target = { host: '127.0.0.1', port: Number(new URL(address).port) };
    data = await prepareData(target, { vus: counts, providers: 2, servicesPerProvider: 3 }, () => {});
    await runVus({
      target,
      groups: JOURNEYS.map((journey) => ({ script: journey, count: counts[journey.name] })),
      data,
      think: { minMs: 0, maxMs: 5 },
      etags: true,
      eventsPerBatch: 5,
      rampMs: 200,
      // Until every journey has gone round twice (a busy machine takes longer), within 45 s.
      steadyMs: 45_000,
      until: () =>
        JOURNEYS.every(
          (journey) =>
            (recorders.ramp.iterations.get(journey.name) ?? 0) + (recorders.steady.iterations.get(journey.name) ?? 0) >=
            2,
        ),
      recorders,
      seed: 1,
      errors,
    });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('gets only expected answers, and every journey finishes iterations', () => {
    const steps = [...recorders.ramp.all(), ...recorders.steady.all()];
    expect(errors.list()).toEqual([]);
    expect(summariseGroup(steps, 1).unexpected).toBe(0);
    for (const journey of JOURNEYS) {
      const iterations =
        (recorders.ramp.iterations.get(journey.name) ?? 0) + (recorders.steady.iterations.get(journey.name) ?? 0);
      expect(iterations, journey.name).toBeGreaterThan(0);
    }
    // Each signed-in VU signed in exactly once.
    const signIns = steps.filter((step) => step.step === STEPS.signIn.name).reduce((sum, s) => sum + s.requests, 0);
    expect(signIns).toBe(Object.entries(counts).reduce((sum, [name, n]) => sum + (name === 'browse' ? 0 : n), 0));
    // The premium teaser is an expected 403, not an error.
    const teasers = steps.find((step) => step.step === STEPS.teaser.name);
    expect(teasers?.statuses.get(403)).toBeGreaterThan(0);
  });

  it('leaves every booking it made paid and pending or confirmed, each in its own slot', async () => {
    // Paid bookings move on through the outbox: let it finish what the run left.
    for (let pass = 0; pass < 50 && (await t.app.platform.dispatcher.runOnce()) > 0; pass++);
    const providerIds = data.providers.map((provider) => provider.id);
    const rows = await queryRows<{ status: string; starts_at: Date | string; provider_id: string }>(
      t.app.platform.db,
      sql`select status, starts_at, provider_id from ${bookings} where ${inArray(bookings.providerId, providerIds)}`,
    );
    const made = [...recorders.ramp.all(), ...recorders.steady.all()]
      .filter((step) => step.journey === 'book' && step.step === STEPS.book.name)
      .reduce((sum, step) => sum + (step.statuses.get(201) ?? 0), 0);
    expect(made).toBeGreaterThan(0);
    expect(rows.length).toBe(made);
    // A booking made as the run ended may still be waiting for its payment step.
    const settled = rows.filter((row) => row.status === 'pending' || row.status === 'confirmed');
    expect(settled.length).toBeGreaterThanOrEqual(made - counts.book);
    expect(rows.every((row) => ['pending', 'confirmed', 'pending_payment'].includes(row.status))).toBe(true);
    const starts = rows.map((row) => `${row.provider_id} ${new Date(row.starts_at).toISOString()}`);
    expect(new Set(starts).size).toBe(starts.length);
  });
});
