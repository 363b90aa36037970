/**
 * `npm run bench:curves`: how the cost of the busiest routes grows with the data, on PostgreSQL.
 * At each size (BENCH_CURVES_SIZES, default `1,10,100`: multiples of the unit below) a fresh
 * scratch database `bench_marketplace_<pid>` is seeded, the built server (`node dist/server.js`,
 * after `npm run build`; BENCH_APP_ENTRY=src/server.ts for the source through tsx) started on it,
 * and measured:
 *
 *   search     uncached full-text search and uncached typo search (every request a new cache key),
 *              as bench/marketplace.ts does them: req/s, p50, p99
 *   slots      60 days, uncached (each round after the providers changed their schedule)
 *   analytics  the funnel (wellness, marketplace) and retention reports, uncached, one at a time:
 *              median of BENCH_ANALYTICS_QUERY_RUNS (5)
 *   booking    POST /api/v1/bookings: req/s, p99
 *
 * Unit (1×): BENCH_CURVES_UNIT_SERVICES (1,000) services, BENCH_CURVES_UNIT_BOOKINGS (10,000) past
 * bookings and BENCH_CURVES_UNIT_EVENTS (100,000) analytics events of BENCH_CURVES_UNIT_SUBJECTS
 * (5,000) people. The providers stay BENCH_CURVES_PROVIDERS (200) at every size, so each one's
 * services and booking history grow with the data (the worst case for the per-provider queries:
 * 50 past bookings each at 1×, 5,000 at 100×); each also has one upcoming booking a weekday. The
 * catalogue, the bookings and the events are written before the server starts (bookings and events
 * with generate_series). PostgreSQL only (BENCH_DATABASE_URL, required): the embedded database is
 * measured by bench/marketplace.ts and bench/analytics.ts. BENCH_REDIS_URL adds Redis as the
 * app's shared store. BENCH_WARMUP_S (1) + BENCH_DURATION_S (4) per autocannon run, BENCH_CONNECTIONS
 * (20), BENCH_MARKETPLACE_BOOKING_CONNECTIONS (10), BENCH_CURVES_SLOT_ROUNDS (5) rounds of
 * BENCH_MARKETPLACE_SLOT_PROVIDERS (100) providers.
 *
 * Prints a table with each figure at each size and its growth between sizes, and writes
 * bench/results/curves.json and bench/results/curves.md. About 4 minutes for 1,10,100 on this 2-core
 * machine at load average 4–9 (9 at 10–15), most of it seeding the 100× data (100,000 services,
 * 1,000,000 bookings, 10,000,000 events).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensurePartitions } from '../src/modules/analytics/analytics.maintenance.js';
import { createAdmin, generateHistory, type QueryResult, runQueries, signInAdmin } from './analytics.js';
import { envNumber, type Harness, RESULTS_DIR, runBench } from './lib.js';
import {
  type BookingRun,
  measureBookingCreate,
  measureTypoSearch,
  measureUncachedSearch,
  measureUncachedSlots,
  type SearchRun,
  type SlotsUncachedRun,
  type TypoRun,
  withMarketplaceApp,
} from './marketplace.js';
import { seedBookings } from './marketplace-seed.js';
import { appEntry, formatTable, loadNow, markdownTable, type RunContext, startReport } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

export interface CurvesSettings {
  sizes: number[];
  unitServices: number;
  unitBookings: number;
  unitEvents: number;
  unitSubjects: number;
  providers: number;
  customers: number;
  warmupS: number;
  durationS: number;
  readConnections: number;
  bookingConnections: number;
  slotProviders: number;
  slotRounds: number;
  queryRuns: number;
}

function sizesFromEnv(): number[] {
  const raw = process.env.BENCH_CURVES_SIZES?.trim() || '1,10,100';
  const sizes = raw.split(',').map((entry) => Number(entry.trim()));
  if (sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 1000)) {
    throw new Error(
      `BENCH_CURVES_SIZES=${JSON.stringify(raw)}: whole multiples of the unit from 1 to 1000, e.g. 1,10,100`,
    );
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

export function curvesSettingsFromEnv(): CurvesSettings {
  return {
    sizes: sizesFromEnv(),
    unitServices: Math.round(envNumber('BENCH_CURVES_UNIT_SERVICES', 1000, 100, 100_000)),
    unitBookings: Math.round(envNumber('BENCH_CURVES_UNIT_BOOKINGS', 10_000, 0, 1_000_000)),
    unitEvents: Math.round(envNumber('BENCH_CURVES_UNIT_EVENTS', 100_000, 10_000, 10_000_000)),
    unitSubjects: Math.round(envNumber('BENCH_CURVES_UNIT_SUBJECTS', 5000, 100, 1_000_000)),
    providers: Math.round(envNumber('BENCH_CURVES_PROVIDERS', 200, 1, 10_000)),
    customers: Math.round(envNumber('BENCH_MARKETPLACE_CUSTOMERS', 50, 1, 10_000)),
    warmupS: envNumber('BENCH_WARMUP_S', 1, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 4, 1, 600),
    readConnections: Math.round(envNumber('BENCH_CONNECTIONS', 20, 1, 10_000)),
    bookingConnections: Math.round(envNumber('BENCH_MARKETPLACE_BOOKING_CONNECTIONS', 10, 1, 1000)),
    slotProviders: Math.round(envNumber('BENCH_MARKETPLACE_SLOT_PROVIDERS', 100, 1, 10_000)),
    slotRounds: Math.round(envNumber('BENCH_CURVES_SLOT_ROUNDS', 5, 1, 1000)),
    queryRuns: Math.round(envNumber('BENCH_ANALYTICS_QUERY_RUNS', 5, 1, 50)),
  };
}

// ---------------------------------------------------------------------------------------------
// One size

const seconds = (ms: number) => Math.round(ms / 100) / 10;

export interface SizePoint {
  size: number;
  services: number;
  providers: number;
  bookings: number;
  events: number;
  seedSeconds: number;
  measureSeconds: number;
  loadAverage: { atStart: number; atEnd: number };
  // Missing where the scenario failed (its error is in `failures`): the other figures still count.
  search?: SearchRun;
  typo?: TypoRun;
  slots?: SlotsUncachedRun;
  reports?: QueryResult[];
  booking?: BookingRun;
  failures: string[];
}

async function measureSize(
  harness: Harness,
  entry: string,
  settings: CurvesSettings,
  size: number,
  databaseUrl: string,
  workDir: string,
  log: (line: string) => void,
): Promise<SizePoint> {
  const services = settings.unitServices * size;
  const events = settings.unitEvents * size;
  const subjects = settings.unitSubjects * size;
  const pastPerProvider = Math.round((settings.unitBookings * size) / settings.providers);
  const atStart = loadNow();
  log(
    `\ncurves ${size}×: ${services.toLocaleString('en-US')} services, ${settings.providers} providers, ${(pastPerProvider * settings.providers).toLocaleString('en-US')} past bookings, ${events.toLocaleString('en-US')} events; load average ${atStart}`,
  );
  let bookings = 0;
  let generated = 0;
  const { result } = await withMarketplaceApp(
    harness,
    {
      entry,
      kind: 'postgres',
      label: `curves-${size}x`,
      size: { services, providers: settings.providers, customers: settings.customers },
      workDir,
      databaseUrl,
      redisUrl: process.env.BENCH_REDIS_URL,
      seedMore: async (database) => {
        const catalogueDone = performance.now();
        bookings = await seedBookings(database.db, { pastPerProvider, upcoming: true });
        const bookingsDone = performance.now();
        const now = new Date();
        await ensurePartitions(database.db, now);
        generated = await generateHistory(database, { events, subjects }, now);
        await createAdmin(database);
        log(
          `  bookings written in ${seconds(bookingsDone - catalogueDone)} s, events and each person's facts in ${seconds(performance.now() - bookingsDone)} s`,
        );
      },
    },
    log,
    async ({ server, seed, seedSeconds }) => {
      const started = performance.now();
      const failures: string[] = [];
      // A scenario that fails (e.g. nothing answered within a short run on a busy machine) leaves a gap, not an abort.
      const attempt = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
        try {
          return await run();
        } catch (error) {
          const message = `${name}: ${error instanceof Error ? error.message : String(error)}`;
          failures.push(message);
          log(`  failed: ${message}`);
          return undefined;
        }
      };
      const search = await attempt('search', () => measureUncachedSearch(server, settings, log));
      const typo = await attempt('typo', () => measureTypoSearch(server, settings, log, { sweep: false }));
      const slots = await attempt('slots', () => measureUncachedSlots(server, seed, settings, log));
      const reports = await attempt('reports', async () => {
        const results = await runQueries(server, await signInAdmin(server), settings, 'postgres');
        for (const r of results) log(`  ${r.report.padEnd(28)} median ${r.medianMs} ms, max ${r.maxMs} ms`);
        return results;
      });
      const booking = await attempt('booking', () => measureBookingCreate(server, seed, settings, log));
      const measureSeconds = (performance.now() - started) / 1000;
      return { seedSeconds, search, typo, slots, reports, booking, failures, measureSeconds };
    },
  );
  return {
    size,
    services,
    providers: settings.providers,
    bookings,
    events: generated,
    ...result,
    measureSeconds: Math.round(result.measureSeconds),
    loadAverage: { atStart, atEnd: loadNow() },
  };
}

// ---------------------------------------------------------------------------------------------
// The table

interface Figure {
  name: string;
  of: (point: SizePoint) => number;
}

const reportMedian = (point: SizePoint, report: string) =>
  point.reports?.find((r) => r.report === report)?.medianMs ?? Number.NaN;
const NONE = Number.NaN;

const FIGURES: Figure[] = [
  { name: 'services', of: (p) => p.services },
  { name: 'bookings (past + upcoming)', of: (p) => p.bookings },
  { name: 'analytics events', of: (p) => p.events },
  { name: 'search, uncached: req/s', of: (p) => p.search?.summary.requestsPerSec ?? NONE },
  { name: 'search, uncached: p50 ms', of: (p) => p.search?.summary.latencyP50Ms ?? NONE },
  { name: 'search, uncached: p99 ms', of: (p) => p.search?.summary.latencyP99Ms ?? NONE },
  { name: 'search, typo: req/s', of: (p) => p.typo?.summary.requestsPerSec ?? NONE },
  { name: 'search, typo: p50 ms', of: (p) => p.typo?.summary.latencyP50Ms ?? NONE },
  { name: 'search, typo: p99 ms', of: (p) => p.typo?.summary.latencyP99Ms ?? NONE },
  { name: 'slots 60 d, uncached: req/s', of: (p) => p.slots?.requestsPerSec ?? NONE },
  { name: 'slots 60 d, uncached: p50 ms', of: (p) => p.slots?.latency.p50Ms ?? NONE },
  { name: 'slots 60 d, uncached: p99 ms', of: (p) => p.slots?.latency.p99Ms ?? NONE },
  { name: 'funnel (wellness): median ms', of: (p) => reportMedian(p, 'funnel?journey=wellness') },
  { name: 'funnel (marketplace): median ms', of: (p) => reportMedian(p, 'funnel?journey=marketplace') },
  { name: 'retention: median ms', of: (p) => reportMedian(p, 'retention') },
  { name: 'booking creation: req/s', of: (p) => p.booking?.summary.requestsPerSec ?? NONE },
  { name: 'booking creation: p99 ms', of: (p) => p.booking?.summary.latencyP99Ms ?? NONE },
];

const figureText = (value: number) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '—';
const growthText = (later: number, earlier: number) =>
  Number.isFinite(later) && Number.isFinite(earlier) && earlier > 0 ? `×${(later / earlier).toFixed(2)}` : '—';

/** Each figure at each size, then its growth from each size to the next (later ÷ earlier). */
export function curveTable(points: SizePoint[]): { header: string[]; rows: string[][] } {
  const steps = points.slice(1).map((point, i) => [points[i] as SizePoint, point] as const);
  const header = [
    'figure',
    ...points.map((p) => `${p.size}×`),
    ...steps.map(([earlier, later]) => `${later.size}×/${earlier.size}×`),
  ];
  const rows = FIGURES.map((figure) => [
    figure.name,
    ...points.map((p) => figureText(figure.of(p))),
    ...steps.map(([earlier, later]) => growthText(figure.of(later), figure.of(earlier))),
  ]);
  return { header, rows };
}

function markdownReport(points: SizePoint[], context: { runSeconds: number; redis: boolean }, measuredAt: string) {
  const { header, rows } = curveTable(points);
  const loads = points.map((p) => `${p.size}×: ${p.loadAverage.atStart} → ${p.loadAverage.atEnd}`).join('; ');
  const seeding = points.map((p) => `${p.size}×: seeded in ${p.seedSeconds} s, measured in ${p.measureSeconds} s`);
  return [
    '# Cost curves (`npm run bench:curves`)',
    '',
    `Measured ${measuredAt} on PostgreSQL${context.redis ? ' + Redis' : ''}, ${context.runSeconds} s in all. Load average (1 min) at the start and end of each size: ${loads}.`,
    '',
    markdownTable(header, rows),
    '',
    'Growth is the figure at the larger size divided by the figure at the smaller one: above 1 for a time means',
    'slower, below 1 for a rate (req/s) means slower. Providers stay at the same number at every size, so each',
    "provider's services and booking history grow with the data.",
    '',
    ...seeding.map((line) => `- ${line}`),
    ...points.flatMap((p) => p.failures.map((failure) => `- ${p.size}× failed: ${failure}`)),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Entry

export interface CurvesReport extends RunContext {
  settings: CurvesSettings;
  redis: boolean;
  runSeconds: number;
  points: SizePoint[];
  table: { header: string[]; rows: string[][] };
}

export async function runCurves(
  harness: Harness,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<CurvesReport> {
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  if (!databaseUrl) {
    throw new Error(
      'bench:curves measures PostgreSQL: set BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)',
    );
  }
  const entry = appEntry(log);
  const settings = curvesSettingsFromEnv();
  const started = performance.now();
  const workDir = await harness.tempDir('care-bench-curves-');
  const report = startReport('curves', log);
  const points: SizePoint[] = [];
  for (const size of settings.sizes)
    points.push(await measureSize(harness, entry, settings, size, databaseUrl, workDir, log));
  const runSeconds = Math.round((performance.now() - started) / 1000);
  const table = curveTable(points);
  const redis = process.env.BENCH_REDIS_URL !== undefined;
  log(`\ncost curves on PostgreSQL${redis ? ' + Redis' : ''} (${runSeconds} s; load average now ${loadNow()}):`);
  log(formatTable(table.header, table.rows));
  const finished = await report.finish({ settings, redis, runSeconds, points, table });
  const markdown = join(RESULTS_DIR, 'curves.md');
  await writeFile(markdown, markdownReport(points, { runSeconds, redis }, finished.measuredAt));
  log(`results: ${markdown}`);
  return finished;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runCurves(harness);
  });
}
