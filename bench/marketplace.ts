/**
 * `npm run bench:marketplace` (also the last part of `npm run bench`): the marketplace under load,
 * on a catalogue of 10,000 services from 200 verified providers, seeded straight into the
 * database before the server starts:
 *
 *   search-cached    GET /api/v1/services/search, one fixed query (served from the search cache)
 *   search-uncached  the same route, every request a distinct cache key (every one a miss)
 *   slots-60d        GET /api/v1/providers/:id/slots, from now+1 d to now+60 d, rotating providers
 *   booking-create   POST /api/v1/bookings, signed-in customers, each request a distinct free slot
 *
 * Each on the embedded database (PGlite) and, when BENCH_DATABASE_URL is set, on PostgreSQL in a
 * fresh database `bench_marketplace_<pid>` created next to the URL's and dropped afterwards.
 * Shorter defaults than the comparison scenarios (one run each, no baseline): BENCH_WARMUP_S 2,
 * BENCH_DURATION_S 5, BENCH_CONNECTIONS 20 for reads; BENCH_MARKETPLACE_BOOKING_CONNECTIONS 10
 * (each booking is a write transaction). BENCH_MARKETPLACE_SERVICES (10000),
 * BENCH_MARKETPLACE_PROVIDERS (200), BENCH_MARKETPLACE_CUSTOMERS (50) size the data.
 * Writes bench/results/marketplace.json. Only 127.0.0.1 is loaded.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { envNumber, type Harness, runBench, type ServerProcess } from './lib.js';
import { CITIES, CUSTOMER_PASSWORD, customerEmail, type SeededData, seedMarketplace } from './marketplace-seed.js';
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
const DATABASE_PREFIX = 'bench_marketplace_';

// ---------------------------------------------------------------------------------------------
// Settings

export interface MarketplaceSettings {
  warmupS: number;
  durationS: number;
  readConnections: number;
  bookingConnections: number;
  services: number;
  providers: number;
  customers: number;
}

export function marketplaceSettingsFromEnv(): MarketplaceSettings {
  return {
    warmupS: envNumber('BENCH_WARMUP_S', 2, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 5, 1, 600),
    readConnections: Math.round(envNumber('BENCH_CONNECTIONS', 20, 1, 10_000)),
    bookingConnections: Math.round(envNumber('BENCH_MARKETPLACE_BOOKING_CONNECTIONS', 10, 1, 1000)),
    services: Math.round(envNumber('BENCH_MARKETPLACE_SERVICES', 10_000, 100, 1_000_000)),
    providers: Math.round(envNumber('BENCH_MARKETPLACE_PROVIDERS', 200, 1, 100_000)),
    customers: Math.round(envNumber('BENCH_MARKETPLACE_CUSTOMERS', 50, 1, 10_000)),
  };
}

// ---------------------------------------------------------------------------------------------
// Load

// ---------------------------------------------------------------------------------------------
// HTTP helpers (setup, outside the measured runs)

/** Search cache look-ups so far, from /metrics (cache_requests_total{cache="search"}). */
async function searchCacheCounts(server: ServerProcess): Promise<{ hit: number; miss: number }> {
  const response = await fetch(new URL('/metrics', server.url));
  const text = await response.text();
  const counts = { hit: 0, miss: 0 };
  for (const line of text.split('\n')) {
    if (!line.startsWith('cache_requests_total{') || !line.includes('cache="search"')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.includes('result="hit"')) counts.hit += value;
    if (line.includes('result="miss"')) counts.miss += value;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Databases

interface PreparedDatabase {
  kind: 'pglite' | 'postgres';
  /** Environment that points the server at it. */
  env: Record<string, string>;
  seed: SeededData;
  seedSeconds: number;
  drop(): Promise<void>;
}

const SEARCH_TERMS = [
  'massage',
  'deep tissue',
  'sports massage',
  'yoga',
  'vinyasa',
  'pilates',
  'reformer pilates',
  'physio',
  'physiotherapy back',
  'knee rehabilitation',
  'posture',
  'counselling',
  'cbt anxiety',
  'mindfulness',
  'meditation',
  'breathwork',
  'nutrition',
  'dietitian',
  'acupuncture',
  'osteopathy',
  'reflexology',
  'hot stone',
  'aromatherapy',
  'strength coaching',
  'personal training',
  'runners',
  'seniors',
  'new parents',
  'online',
  'home visit',
  'massge', // a typo: full text finds nothing, the trigram fallback runs
  'pilats',
];

async function seedInto(databaseUrl: string | undefined, dataDir: string, settings: MarketplaceSettings) {
  const database = databaseUrl
    ? await openDatabase({ kind: 'postgres', url: databaseUrl })
    : await openDatabase({ kind: 'pglite', dataDir });
  try {
    await migrate(database.db);
    return await seedMarketplace(database.db, settings);
  } finally {
    // PGlite: the server opens the data dir only after this process has closed it.
    await database.close();
  }
}

async function preparePostgres(
  url: string,
  settings: MarketplaceSettings,
  log: (line: string) => void,
): Promise<PreparedDatabase> {
  const scratch = await scratchDatabase(url, DATABASE_PREFIX, log);
  try {
    const started = performance.now();
    const seed = await seedInto(scratch.url, '', settings);
    return {
      kind: 'postgres',
      env: { DATABASE_URL: scratch.url },
      seed,
      seedSeconds: (performance.now() - started) / 1000,
      drop: scratch.drop,
    };
  } catch (error) {
    await scratch.drop().catch(() => {});
    throw error;
  }
}

async function preparePglite(dataDir: string, settings: MarketplaceSettings): Promise<PreparedDatabase> {
  const started = performance.now();
  const seed = await seedInto(undefined, dataDir, settings);
  return {
    kind: 'pglite',
    env: { DATA_DIR: dataDir },
    seed,
    seedSeconds: (performance.now() - started) / 1000,
    drop: async () => {},
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

export interface ScenarioResult {
  name: string;
  request: string;
  description: string;
  connections: number;
  summary: RunSummary;
  notes: string[];
  extra?: Record<string, unknown>;
}

export interface DatabaseResult {
  database: 'pglite' | 'postgres';
  seedSeconds: number;
  scenarios: ScenarioResult[];
}

async function runScenarios(
  server: ServerProcess,
  seed: SeededData,
  settings: MarketplaceSettings,
  log: (line: string) => void,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const read = settings.readConnections;

  // (a1) search, cached: one fixed query; the warm-up fills the cache, so the measured run hits.
  {
    const path = '/api/v1/services/search?q=deep%20tissue%20massage&city=London&limit=20';
    const before = await searchCacheCounts(server);
    const summary = await measure('search-cached', { server, path, connections: read }, settings);
    const after = await searchCacheCounts(server);
    results.push(
      searchResult('search-cached', 'one fixed query (q + city), from the search cache', read, summary, before, after),
    );
    log(`  search-cached    ${describeRun(summary)}`);
  }

  // (a2) search, uncached: the cache key is the normalised filters, sort, limit and cursor, and
  // unknown query parameters are refused (400), so a cache-busting parameter is not possible.
  // Each request takes the next (q, min_price) pair from a counter that only grows: q cycles
  // through real terms and min_price = floor(counter / terms) pence, so no two requests of the
  // whole bench share a key. min_price stays far below the cheapest service (£15.00) for the
  // first 48,000 requests, so it changes the key, not the result.
  {
    let counter = 0;
    const setupRequest = (request: RawRequest): RawRequest => {
      const n = counter++;
      const q = SEARCH_TERMS[n % SEARCH_TERMS.length] as string;
      const params = new URLSearchParams({ q, min_price: String(Math.floor(n / SEARCH_TERMS.length)), limit: '20' });
      // Every third request also filters by city, as a visitor narrowing down would.
      if (n % 3 === 0) params.set('city', CITIES[Math.floor(n / 3) % CITIES.length] as string);
      return { ...request, path: `/api/v1/services/search?${params}` };
    };
    const before = await searchCacheCounts(server);
    const summary = await measure(
      'search-uncached',
      { server, path: '/api/v1/services/search', connections: read, setupRequest },
      settings,
    );
    const after = await searchCacheCounts(server);
    const result = searchResult(
      'search-uncached',
      'a distinct (q, min_price[, city]) per request: every request a cache miss',
      read,
      summary,
      before,
      after,
    );
    result.extra = { ...result.extra, distinctQueriesSent: counter };
    results.push(result);
    log(`  search-uncached  ${describeRun(summary)}`);
  }

  // (b) slots over 60 days: one active service of each provider in turn.
  const now = Date.now();
  const from = new Date(now + DAY_MS).toISOString();
  const to = new Date(now + 60 * DAY_MS).toISOString();
  const firstService = new Map<string, SeededData['services'][number]>();
  for (const service of seed.services)
    if (!firstService.has(service.providerId)) firstService.set(service.providerId, service);
  const offers = [...firstService.values()];
  const slotsPath = (offer: SeededData['services'][number]) =>
    `/api/v1/providers/${offer.providerId}/slots?${new URLSearchParams({ service_id: offer.id, from, to })}`;
  {
    let counter = 0;
    const setupRequest = (request: RawRequest): RawRequest => ({
      ...request,
      path: slotsPath(offers[counter++ % offers.length] as SeededData['services'][number]),
    });
    const sample = await getJson<{ slots: string[] }>(server, slotsPath(offers[0] as SeededData['services'][number]));
    const summary = await measure(
      'slots-60d',
      { server, path: slotsPath(offers[0] as SeededData['services'][number]), connections: read, setupRequest },
      settings,
    );
    results.push({
      name: 'slots-60d',
      request: 'GET /api/v1/providers/:id/slots',
      description: `from now+1d to now+60d, ${offers.length} providers in turn (Mon–Fri 09:00–17:00 Europe/London)`,
      connections: read,
      summary,
      notes: [`${sample.slots.length} slots in the first answer`],
      extra: { slotsInFirstAnswer: sample.slots.length },
    });
    log(`  slots-60d        ${describeRun(summary)}`);
  }

  // (c) booking creation: free slots read from the API beforehand, kept apart by each service's
  // visit + buffer, interleaved across providers; each request takes the next one, a customer in
  // turn and its own Idempotency-Key.
  {
    const plan = await interleavedSlotPlan(
      offers.map((offer) => ({ ...offer, serviceId: offer.id })),
      async (offer) => (await getJson<{ slots: string[] }>(server, slotsPath(offer))).slots,
    );
    const tokens = await mapLimit(
      Array.from({ length: seed.customers }, (_, i) => customerEmail(i)),
      4,
      (email) => login(server, email, CUSTOMER_PASSWORD),
    );
    let counter = 0;
    const runTag = `${process.pid}-${Date.now()}`;
    const setupRequest = (request: RawRequest): RawRequest => {
      const n = counter++;
      // Past the end of the plan (not expected at these rates) slots repeat and answer 409.
      const slot = plan[n % plan.length] as (typeof plan)[number];
      return {
        ...request,
        method: 'POST',
        path: '/api/v1/bookings',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${tokens[n % tokens.length]}`,
          'idempotency-key': `bench-${runTag}-${n}`,
        },
        body: JSON.stringify({ service_id: slot.serviceId, starts_at: slot.startsAt }),
      };
    };
    const connections = settings.bookingConnections;
    const summary = await measure(
      'booking-create',
      { server, path: '/api/v1/bookings', method: 'POST', connections, setupRequest },
      settings,
    );
    const created = summary.statusCodes['201'] ?? 0;
    const conflicts = summary.statusCodes['409'] ?? 0;
    results.push({
      name: 'booking-create',
      request: 'POST /api/v1/bookings',
      description: `${tokens.length} signed-in customers, a distinct free slot per request across ${offers.length} providers`,
      connections,
      summary,
      notes: [`201 ${created}, 409 ${conflicts} (measured run); ${counter} slots used of ${plan.length} planned`],
      extra: { created, conflicts, slotsPlanned: plan.length, slotsUsedIncludingWarmup: counter },
    });
    log(`  booking-create   ${describeRun(summary)}`);
  }
  return results;
}

function searchResult(
  name: string,
  description: string,
  connections: number,
  summary: RunSummary,
  before: { hit: number; miss: number },
  after: { hit: number; miss: number },
): ScenarioResult {
  const hits = after.hit - before.hit;
  const misses = after.miss - before.miss;
  const ratio = hits + misses > 0 ? (hits / (hits + misses)) * 100 : 0;
  return {
    name,
    request: 'GET /api/v1/services/search',
    description,
    connections,
    summary,
    notes: [`search cache hits ${ratio.toFixed(1)}% (${hits} hit / ${misses} miss, warm-up + measured)`],
    extra: { cacheBefore: before, cacheAfter: after, cacheHitRatioPct: Math.round(ratio * 10) / 10 },
  };
}

export function formatDatabaseResult(result: DatabaseResult, settings: MarketplaceSettings): string {
  const header = ['scenario', 'request', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'notes'];
  const rows = result.scenarios.map((s) => [
    s.name,
    s.request,
    String(s.connections),
    s.summary.requestsPerSec.toLocaleString('en-US'),
    String(s.summary.latencyP50Ms),
    String(s.summary.latencyP99Ms),
    String(s.summary.non2xx),
    s.notes.join('; '),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const left = new Set([0, 1, 7]);
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (left.has(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    `marketplace on ${result.database}: ${settings.services.toLocaleString('en-US')} services, ${settings.providers} providers, seeded in ${result.seedSeconds.toFixed(1)} s`,
    `(${settings.warmupS} s warm-up + ${settings.durationS} s measured per scenario, one run each)`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Entry

export interface MarketplaceReport extends RunContext {
  settings: MarketplaceSettings;
  databases: DatabaseResult[];
}

/** Runs every marketplace scenario on PGlite, then on PostgreSQL if BENCH_DATABASE_URL is set. */
export async function runMarketplace(
  harness: Harness,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<MarketplaceReport> {
  const settings = marketplaceSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-marketplace-');
  const report = startReport('marketplace', log);
  const databases: DatabaseResult[] = [];
  const targets: ('pglite' | 'postgres')[] = ['pglite'];
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  if (databaseUrl) targets.push('postgres');

  for (const kind of targets) {
    log(`\nmarketplace (${kind}): seeding ${settings.services} services, ${settings.providers} providers`);
    const prepared =
      kind === 'postgres' && databaseUrl
        ? await preparePostgres(databaseUrl, settings, log)
        : await preparePglite(join(workDir, 'pglite-data'), settings);
    let server: ServerProcess | undefined;
    try {
      server = await harness.startServer({
        name: `marketplace-${kind}`,
        entry: 'src/server.ts',
        readyPath: '/api/health/ready',
        stdoutFile: join(workDir, `app-${kind}.log`),
        env: scenarioAppEnv(workDir, prepared.env),
      });
      const scenarios = await runScenarios(server, prepared.seed, settings, log);
      const result: DatabaseResult = {
        database: kind,
        seedSeconds: Math.round(prepared.seedSeconds * 10) / 10,
        scenarios,
      };
      databases.push(result);
      log(`\n${formatDatabaseResult(result, settings)}`);
    } finally {
      await server?.stop();
      await prepared.drop();
    }
  }

  return report.finish({ settings, databases });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runMarketplace(harness);
  });
}
