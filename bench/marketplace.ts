/**
 * `npm run bench:marketplace` (also the last part of `npm run bench`): the marketplace routes of
 * issue 18 on the built server (`node dist/server.js`: run `npm run build` first; a source file
 * newer than the build is warned about; BENCH_APP_ENTRY=src/server.ts runs the source through tsx
 * instead), each beside its target, in one run:
 *
 *   health           GET /api/health/live: the stack's ceiling, the baseline of the cached search
 *   search-cached    GET /api/v1/services/search, one fixed query (served from the search cache),
 *                    alternating with health for BENCH_MARKETPLACE_ROUNDS (3) rounds: median ratio
 *                    of req/s, target >= 50% (and the ratio of the app's CPU time per request,
 *                    steadier when other work shares the cores)
 *   search-uncached  the same route, every request a distinct cache key (a miss, checked on
 *                    /metrics), full-text terms: P99 target <= 50 ms at 10,000 services, <= 100 ms
 *                    at 100,000
 *   search-typo      the same, queries with one edit (deletion, transposition, keyboard-neighbour
 *                    substitution or insertion) of a word of a service or category name, or a name
 *                    with one word so edited ("sprts", "deep tisue massage"): the same P99 bounds,
 *                    and the share of typo queries that found something (and whose first result
 *                    has the word in its name or category)
 *   slots-uncached   GET /api/v1/providers/:id/slots, now+1 d to now+60 d: rounds of one request per
 *                    provider, each round after every one of those providers changed its schedule
 *                    (PUT /api/v1/provider/availability, not timed), so no cache of any design can
 *                    answer: P99 target <= 30 ms
 *   slots-cached     the same requests with no change between them
 *   booking-create   POST /api/v1/bookings, signed-in customers, each request a distinct free slot:
 *                    target >= 500 req/s on PostgreSQL; afterwards a query counts active bookings
 *                    of a provider that overlap (target 0)
 *
 * On the embedded database (PGlite) and, when BENCH_DATABASE_URL is set, on PostgreSQL in a fresh
 * database `bench_marketplace_<pid>` created next to the URL's and dropped afterwards
 * (BENCH_MARKETPLACE_DATABASES, default `pglite,postgres`, picks). Then the search scenarios again
 * on a catalogue of BENCH_MARKETPLACE_LARGE_SERVICES (100,000; 0 skips) services in a fresh database
 * of each of BENCH_MARKETPLACE_LARGE_DATABASES (default `postgres`; add `pglite` for the embedded one).
 * BENCH_REDIS_URL (e.g. redis://127.0.0.1:6379) runs the app with Redis as its shared store, in a
 * key namespace of its own that is deleted afterwards.
 *
 * Knobs: BENCH_WARMUP_S (2) + BENCH_DURATION_S (5) per autocannon run; BENCH_CONNECTIONS (20) for
 * reads; BENCH_MARKETPLACE_BOOKING_CONNECTIONS (10; each booking is a write transaction);
 * BENCH_MARKETPLACE_SERVICES (10,000), _PROVIDERS (200), _CUSTOMERS (50) size the data; the large
 * catalogue has BENCH_MARKETPLACE_LARGE_PROVIDERS (providers scaled with services: 2,000);
 * BENCH_MARKETPLACE_SLOT_PROVIDERS (100) providers per slots round, BENCH_MARKETPLACE_SLOT_ROUNDS
 * (10) measured rounds after one warm-up round. Writes bench/results/marketplace.json. Only
 * 127.0.0.1 is loaded. About 3 minutes with PostgreSQL on a quiet machine.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Database, type Db, openDatabase } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { type Comparison, compare, envNumber, type Harness, runBench, type ServerProcess } from './lib.js';
import {
  CITIES,
  CUSTOMER_PASSWORD,
  countDoubleBookings,
  customerEmail,
  providerEmail,
  type SeededData,
  type SeededService,
  type SeedSize,
  seedMarketplace,
  type TypoQuery,
  typoQueries,
} from './marketplace-seed.js';
import {
  appEntry,
  benchRedis,
  type CacheUse,
  cacheCounts,
  cacheUse,
  describeCacheUse,
  describeRun,
  formatTable,
  getJson,
  interleavedSlotPlan,
  type LatencySummary,
  loadNow,
  login,
  mapLimit,
  measure,
  type RawRequest,
  type RequestContext,
  type RunContext,
  type RunSummary,
  requestTimer,
  scenarioAppEnv,
  scratchDatabase,
  settledBuild,
  startReport,
  summariseLatencies,
  type TimedRequest,
} from './support.js';

const DAY_MS = 86_400_000;
const DATABASE_PREFIX = 'bench_marketplace_';

/** Issue 18's targets for these routes. */
export const TARGETS = {
  cachedSearchPctOfHealth: 50,
  /** Uncached (and typo) search P99 by catalogue size: up to 10,000 services, up to 100,000. */
  searchP99Ms: [
    { upToServices: 10_000, ms: 50 },
    { upToServices: 100_000, ms: 100 },
  ],
  slotsUncachedP99Ms: 30,
  bookingsPerSecPostgres: 500,
} as const;

export const searchP99TargetMs = (services: number) =>
  TARGETS.searchP99Ms.find((bound) => services <= bound.upToServices)?.ms;

// ---------------------------------------------------------------------------------------------
// Settings

type DatabaseKind = 'pglite' | 'postgres';

export interface MarketplaceSettings {
  warmupS: number;
  durationS: number;
  readConnections: number;
  bookingConnections: number;
  rounds: number;
  services: number;
  providers: number;
  customers: number;
  largeServices: number;
  largeProviders: number;
  slotProviders: number;
  slotRounds: number;
  databases: DatabaseKind[];
  largeDatabases: DatabaseKind[];
}

function databaseList(name: string, fallback: string): DatabaseKind[] {
  const names = (process.env[name]?.trim() || fallback).split(',').map((entry) => entry.trim());
  for (const entry of names) {
    if (entry !== 'pglite' && entry !== 'postgres' && entry !== 'none') {
      throw new Error(`${name}=${JSON.stringify(process.env[name])}: list pglite and/or postgres (or none)`);
    }
  }
  return (['pglite', 'postgres'] as const).filter((kind) => names.includes(kind));
}

export function marketplaceSettingsFromEnv(): MarketplaceSettings {
  const services = Math.round(envNumber('BENCH_MARKETPLACE_SERVICES', 10_000, 100, 1_000_000));
  const providers = Math.round(envNumber('BENCH_MARKETPLACE_PROVIDERS', 200, 1, 100_000));
  const largeServices = Math.round(envNumber('BENCH_MARKETPLACE_LARGE_SERVICES', 100_000, 0, 2_000_000));
  return {
    warmupS: envNumber('BENCH_WARMUP_S', 2, 0, 600),
    durationS: envNumber('BENCH_DURATION_S', 5, 1, 600),
    readConnections: Math.round(envNumber('BENCH_CONNECTIONS', 20, 1, 10_000)),
    bookingConnections: Math.round(envNumber('BENCH_MARKETPLACE_BOOKING_CONNECTIONS', 10, 1, 1000)),
    rounds: Math.round(envNumber('BENCH_MARKETPLACE_ROUNDS', 3, 1, 10)),
    services,
    providers,
    customers: Math.round(envNumber('BENCH_MARKETPLACE_CUSTOMERS', 50, 1, 10_000)),
    largeServices,
    largeProviders: Math.round(
      envNumber(
        'BENCH_MARKETPLACE_LARGE_PROVIDERS',
        Math.max(1, Math.round((providers * largeServices) / services)),
        1,
        100_000,
      ),
    ),
    slotProviders: Math.round(envNumber('BENCH_MARKETPLACE_SLOT_PROVIDERS', 100, 1, 10_000)),
    slotRounds: Math.round(envNumber('BENCH_MARKETPLACE_SLOT_ROUNDS', 10, 1, 1000)),
    databases: databaseList('BENCH_MARKETPLACE_DATABASES', 'pglite,postgres'),
    largeDatabases: databaseList('BENCH_MARKETPLACE_LARGE_DATABASES', 'postgres'),
  };
}

// ---------------------------------------------------------------------------------------------
// A seeded database and the built app on it

export interface MarketplaceApp {
  kind: DatabaseKind;
  server: ServerProcess;
  seed: SeededData;
  seedSeconds: number;
}

export interface AppSpec {
  /** The app's entry (support.ts appEntry). */
  entry: string;
  kind: DatabaseKind;
  /** Names the server, its log and its Redis namespace. */
  label: string;
  size: SeedSize;
  workDir: string;
  /** PostgreSQL server URL (a scratch database is made next to it); required for `postgres`. */
  databaseUrl?: string;
  redisUrl?: string;
  /** More data, written after the catalogue and before the server starts (e.g. bookings, events). */
  seedMore?: (database: Database) => Promise<void>;
}

const openScratch = (kind: DatabaseKind, url: string, dataDir: string) =>
  kind === 'postgres' ? openDatabase({ kind: 'postgres', url }) : openDatabase({ kind: 'pglite', dataDir });

/**
 * Seeds a fresh database (a scratch PostgreSQL database, or a PGlite directory), starts the built
 * server on it, runs `body`, stops the server, then runs `afterStop` on the database (PGlite lets
 * one process in at a time) and drops it; the Redis namespace, if any, is cleared.
 */
export async function withMarketplaceApp<T, A = undefined>(
  harness: Harness,
  spec: AppSpec,
  log: (line: string) => void,
  body: (app: MarketplaceApp) => Promise<T>,
  afterStop?: (db: Db) => Promise<A>,
): Promise<{ result: T; afterStop: A | undefined }> {
  if (spec.kind === 'postgres' && !spec.databaseUrl) throw new Error('PostgreSQL needs BENCH_DATABASE_URL');
  const scratch =
    spec.kind === 'postgres' ? await scratchDatabase(spec.databaseUrl as string, DATABASE_PREFIX, log) : undefined;
  const dataDir = join(spec.workDir, `pglite-${spec.label}`);
  const redis = benchRedis(spec.redisUrl, spec.label);
  let server: ServerProcess | undefined;
  try {
    const started = performance.now();
    const database = await openScratch(spec.kind, scratch?.url ?? '', dataDir);
    let seed: SeededData;
    try {
      await migrate(database.db);
      seed = await seedMarketplace(database.db, spec.size);
      log(`  catalogue written in ${Math.round((performance.now() - started) / 100) / 10} s`);
      await spec.seedMore?.(database);
    } finally {
      // PGlite: the server opens the data dir only after this process has closed it.
      await database.close();
    }
    const seedSeconds = Math.round((performance.now() - started) / 100) / 10;
    log(`  seeded in ${seedSeconds} s`);
    const start = async () => {
      await settledBuild(spec.entry, log);
      return harness.startServer({
        name: spec.label,
        entry: spec.entry,
        readyPath: '/api/health/ready',
        stdoutFile: join(spec.workDir, `app-${spec.label}.log`),
        env: scenarioAppEnv(spec.workDir, {
          ...(scratch ? { DATABASE_URL: scratch.url } : { DATA_DIR: dataDir }),
          ...redis.env,
        }),
        readyTimeoutMs: 120_000,
      });
    };
    // Once more if it fails: a build that started meanwhile may have emptied dist/ under it.
    server = await start().catch((error: unknown) => {
      log(
        `  ${spec.label} did not start (${error instanceof Error ? error.message.split('\n')[0] : error}); trying again`,
      );
      return start();
    });
    const result = await body({ kind: spec.kind, server, seed, seedSeconds });
    await server.stop();
    let after: A | undefined;
    if (afterStop) {
      const database = await openScratch(spec.kind, scratch?.url ?? '', dataDir);
      try {
        after = await afterStop(database.db);
      } finally {
        await database.close();
      }
    }
    return { result, afterStop: after };
  } finally {
    await server?.stop();
    await scratch?.drop();
    await redis.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios (also used by the cost curves, bench/curves.ts)

export interface LoadSettings {
  warmupS: number;
  durationS: number;
  readConnections: number;
  bookingConnections: number;
}

const SEARCH_PATH = '/api/v1/services/search';
const CACHED_SEARCH = `${SEARCH_PATH}?q=deep%20tissue%20massage&city=London&limit=20`;

// Words and phrases of the catalogue that full text finds (the typos are a scenario of their own).
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
];

export interface HealthVsCached {
  comparison: Comparison;
  searchCache: CacheUse;
}

/** Health and the cached search in alternating rounds on one server: the median ratio of req/s. */
export async function measureCachedSearch(
  server: ServerProcess,
  settings: LoadSettings & { rounds: number },
  log: (line: string) => void,
): Promise<HealthVsCached> {
  const before = await cacheCounts(server);
  const comparison = await compare(
    {
      name: 'search-cached',
      description: 'the cached search vs GET /api/health/live on the same server',
      baseline: { label: 'health', server, path: '/api/health/live' },
      subject: { label: 'search', server, path: CACHED_SEARCH },
      targetPct: TARGETS.cachedSearchPctOfHealth,
    },
    {
      connections: settings.readConnections,
      warmupS: settings.warmupS,
      durationS: settings.durationS,
      rounds: settings.rounds,
    },
    log,
  );
  const searchCache = cacheUse(before, await cacheCounts(server), (cache) => cache === 'search');
  return { comparison, searchCache };
}

export interface SearchRun {
  summary: RunSummary;
  cache: CacheUse;
  distinctQueries: number;
}

export interface TypoRun extends SearchRun {
  typos: number;
  /**
   * Typo queries answered (in the timed run, or by the sweep after it that asks the rest), found
   * (at least one result), and with a relevant first result.
   */
  answered: number;
  answeredInRun: number;
  found: number;
  relevant: number;
  foundPct: number;
  relevantPct: number;
  byEdit: Record<string, { answered: number; found: number }>;
  /** Up to ten typo queries that found nothing. */
  notFound: string[];
}

/**
 * Requests that no earlier request of the server's life shares a cache key with. The cache key
 * is the normalised filters, sort, limit and cursor, and unknown query parameters are refused
 * (400), so a cache-busting parameter is not possible: request n sends query n mod |queries| with
 * min_price = floor(n / |queries|) pence, which stays far below the cheapest service (£15.00) for
 * the first 1,500 × |queries| requests, so it changes the key, not the result. Every third
 * request also filters by city, as a visitor narrowing down would.
 */
function distinctSearches(queries: string[]) {
  let counter = 0;
  return {
    next(): { path: string; index: number } {
      const n = counter++;
      const index = n % queries.length;
      const params = new URLSearchParams({
        q: queries[index] as string,
        min_price: String(Math.floor(n / queries.length)),
        limit: '20',
      });
      if (n % 3 === 0) params.set('city', CITIES[Math.floor(n / 3) % CITIES.length] as string);
      return { path: `${SEARCH_PATH}?${params}`, index };
    },
    sent: () => counter,
  };
}

/** Uncached searches of catalogue terms (full text). */
export async function measureUncachedSearch(
  server: ServerProcess,
  settings: LoadSettings,
  log: (line: string) => void,
): Promise<SearchRun> {
  const searches = distinctSearches(SEARCH_TERMS);
  const before = await cacheCounts(server);
  const summary = await measure(
    'search-uncached',
    {
      server,
      path: SEARCH_PATH,
      connections: settings.readConnections,
      setupRequest: (request) => ({ ...request, path: searches.next().path }),
    },
    settings,
  );
  const cache = cacheUse(before, await cacheCounts(server), (name) => name === 'search');
  log(`  search-uncached  ${describeRun(summary)}; ${describeCacheUse(cache)}`);
  return { summary, cache, distinctQueries: searches.sent() };
}

interface SearchAnswer {
  data?: { name: string; category: { name: string } }[];
}

interface TypoOutcome {
  found: boolean;
  relevant: boolean;
}

/** Did the answer find anything, and has its first result the mistyped word in its name or category? */
function typoOutcome(typo: TypoQuery, body: string): TypoOutcome {
  const first = (JSON.parse(body) as SearchAnswer).data?.[0];
  return {
    found: first !== undefined,
    relevant: first !== undefined && `${first.name} ${first.category.name}`.toLowerCase().includes(typo.word),
  };
}

/**
 * Uncached searches of typo queries, reading each answer. The timed run reaches the queries it
 * has time for; with `sweep`, the rest are then asked once each (untimed), so the share found
 * covers every typo query.
 */
export async function measureTypoSearch(
  server: ServerProcess,
  settings: LoadSettings,
  log: (line: string) => void,
  options: { sweep: boolean } = { sweep: true },
): Promise<TypoRun> {
  const typos = typoQueries();
  const searches = distinctSearches(typos.map((typo) => typo.query));
  // The first answer to each typo query (later ones differ only by a min_price that filters nothing).
  const outcomes = new Map<number, TypoOutcome>();
  const onResponse = (status: number, body: string, context: RequestContext) => {
    const index = context.typo as number;
    if (status === 200 && !outcomes.has(index)) outcomes.set(index, typoOutcome(typos[index] as TypoQuery, body));
  };
  const before = await cacheCounts(server);
  const summary = await measure(
    'search-typo',
    {
      server,
      path: SEARCH_PATH,
      connections: settings.readConnections,
      setupRequest: (request, context) => {
        const { path, index } = searches.next();
        context.typo = index;
        return { ...request, path };
      },
      onResponse,
    },
    settings,
  );
  const cache = cacheUse(before, await cacheCounts(server), (name) => name === 'search');
  const answeredInRun = outcomes.size;
  if (options.sweep) await sweepTypos(server, typos, outcomes, settings.readConnections);

  const byEdit: TypoRun['byEdit'] = {};
  for (const [index, outcome] of outcomes) {
    const typo = typos[index] as TypoQuery;
    const kind = typo.phrase ? `${typo.edit} in a name` : typo.edit;
    byEdit[kind] ??= { answered: 0, found: 0 };
    byEdit[kind].answered++;
    if (outcome.found) byEdit[kind].found++;
  }
  const answers = [...outcomes.entries()];
  const found = answers.filter(([, outcome]) => outcome.found).length;
  const relevant = answers.filter(([, outcome]) => outcome.relevant).length;
  const pct = (count: number) => (answers.length > 0 ? Math.round((count / answers.length) * 1000) / 10 : 0);
  const run: TypoRun = {
    summary,
    cache,
    distinctQueries: searches.sent(),
    typos: typos.length,
    answered: answers.length,
    answeredInRun,
    found,
    relevant,
    foundPct: pct(found),
    relevantPct: pct(relevant),
    byEdit,
    notFound: answers
      .filter(([, outcome]) => !outcome.found)
      .slice(0, 10)
      .map(([index]) => (typos[index] as TypoQuery).query),
  };
  log(
    `  search-typo      ${describeRun(summary)}; ${describeCacheUse(cache)}; found ${run.foundPct}% of ${run.answered} typo queries (${answeredInRun} in the timed run), first result relevant ${run.relevantPct}%${run.notFound.length ? `; not found e.g. ${run.notFound.join(', ')}` : ''}`,
  );
  return run;
}

/** Asks each typo query the timed run did not reach, once, untimed (a key no run used: no min_price). */
async function sweepTypos(
  server: ServerProcess,
  typos: TypoQuery[],
  outcomes: Map<number, TypoOutcome>,
  concurrency: number,
) {
  const missing = typos.map((_, index) => index).filter((index) => !outcomes.has(index));
  const timer = requestTimer(server, concurrency);
  try {
    const batch = await timer.run(
      missing.map((index) => ({
        path: `${SEARCH_PATH}?${new URLSearchParams({ q: (typos[index] as TypoQuery).query, limit: '20' })}`,
      })),
      { keepBodies: true },
    );
    batch.answers?.forEach(({ status, body }, i) => {
      const index = missing[i] as number;
      if (status !== 200) throw new Error(`search for ${(typos[index] as TypoQuery).query}: ${status} ${body}`);
      outcomes.set(index, typoOutcome(typos[index] as TypoQuery, body));
    });
  } finally {
    timer.close();
  }
}

/** The service each provider's slots and bookings are asked for: its first active one. */
export function firstOffers(seed: SeededData): SeededService[] {
  const first = new Map<string, SeededService>();
  for (const service of seed.services) if (!first.has(service.providerId)) first.set(service.providerId, service);
  return [...first.values()];
}

export function slotsPath(offer: SeededService, now = Date.now()): string {
  const from = new Date(now + DAY_MS).toISOString();
  const to = new Date(now + 60 * DAY_MS).toISOString();
  return `/api/v1/providers/${offer.providerId}/slots?${new URLSearchParams({ service_id: offer.id, from, to })}`;
}

export interface SlotsUncachedRun {
  latency: LatencySummary;
  /** Slot requests answered per second of the rounds' read phases. */
  requestsPerSec: number;
  providers: number;
  rounds: number;
  statusCodes: Record<string, number>;
  cache: CacheUse;
  slotsInFirstAnswer: number;
}

/** A Mon–Fri schedule ending at `end`: each round alternates the end, so every change is a real one. */
const schedule = (end: string) => ({
  time_zone: 'Europe/London',
  weekly: [1, 2, 3, 4, 5].map((day) => ({ day_of_week: day, start: '09:00', end })),
  breaks: [],
  exceptions: [],
});

/**
 * Slots over 60 days, every request a cache miss whatever the cache keys on: one request per
 * provider a round, each round after all of them changed their schedule (not timed). Every
 * latency is kept, so the P99 spans the rounds; one warm-up round first.
 */
export async function measureUncachedSlots(
  server: ServerProcess,
  seed: SeededData,
  settings: LoadSettings & { slotProviders: number; slotRounds: number },
  log: (line: string) => void,
): Promise<SlotsUncachedRun> {
  const offers = firstOffers(seed).slice(0, settings.slotProviders);
  const providerIndex = new Map(seed.providerIds.map((id, i) => [id, i]));
  const tokens = await mapLimit(offers, 4, (offer) =>
    login(server, providerEmail(providerIndex.get(offer.providerId) as number), CUSTOMER_PASSWORD),
  );
  const timer = requestTimer(server, settings.readConnections);
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let readMs = 0;
  let slotsInFirstAnswer = 0;
  let before = await cacheCounts(server);
  try {
    for (let round = 0; round <= settings.slotRounds; round++) {
      const body = JSON.stringify(schedule(round % 2 === 0 ? '17:15' : '17:00'));
      const changes = await timer.run(
        tokens.map((token) => ({
          method: 'PUT',
          path: '/api/v1/provider/availability',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body,
        })),
        { keepBodies: true },
      );
      const refused = changes.answers?.find((answer) => answer.status !== 200);
      if (refused) throw new Error(`schedule change: ${refused.status} ${refused.body}`);
      const now = Date.now();
      const requests: TimedRequest[] = offers.map((offer) => ({ path: slotsPath(offer, now) }));
      const batch = await timer.run(requests, { keepBodies: round === 0 });
      if (round === 0) {
        // The warm-up round: not counted.
        const first = JSON.parse(batch.answers?.[0]?.body ?? '{}') as { data?: { slots: string[] } };
        slotsInFirstAnswer = first.data?.slots.length ?? 0;
        before = await cacheCounts(server);
        continue;
      }
      latencies.push(...batch.latenciesMs);
      readMs += batch.elapsedMs;
      for (const [status, count] of Object.entries(batch.statusCodes))
        statusCodes[status] = (statusCodes[status] ?? 0) + count;
    }
  } finally {
    timer.close();
  }
  if (Object.keys(statusCodes).some((status) => status !== '200')) {
    throw new Error(`slots-uncached: answers other than 200: ${JSON.stringify(statusCodes)}`);
  }
  const cache = cacheUse(before, await cacheCounts(server), (name) => name.includes('slot'));
  const run: SlotsUncachedRun = {
    latency: summariseLatencies(latencies),
    requestsPerSec: Math.round(latencies.length / (readMs / 1000)),
    providers: offers.length,
    rounds: settings.slotRounds,
    statusCodes,
    cache,
    slotsInFirstAnswer,
  };
  log(
    `  slots-uncached   ${run.requestsPerSec} req/s, p50 ${run.latency.p50Ms} ms, p99 ${run.latency.p99Ms} ms over ${run.latency.requests} requests (${run.rounds} rounds × ${run.providers} providers, ${settings.readConnections} in flight); ${describeCacheUse(cache)}`,
  );
  return run;
}

export interface SlotsCachedRun {
  summary: RunSummary;
  providers: number;
  cache: CacheUse;
}

/** The same slot requests, nothing changing between them: what a cache makes of them. */
export async function measureCachedSlots(
  server: ServerProcess,
  seed: SeededData,
  settings: LoadSettings & { slotProviders: number },
  log: (line: string) => void,
): Promise<SlotsCachedRun> {
  const offers = firstOffers(seed).slice(0, settings.slotProviders);
  const now = Date.now();
  const paths = offers.map((offer) => slotsPath(offer, now));
  let counter = 0;
  const before = await cacheCounts(server);
  const summary = await measure(
    'slots-cached',
    {
      server,
      path: paths[0] as string,
      connections: settings.readConnections,
      setupRequest: (request) => ({ ...request, path: paths[counter++ % paths.length] as string }),
    },
    settings,
  );
  const cache = cacheUse(before, await cacheCounts(server), (name) => name.includes('slot'));
  log(`  slots-cached     ${describeRun(summary)}; ${describeCacheUse(cache)}`);
  return { summary, providers: offers.length, cache };
}

export interface BookingRun {
  summary: RunSummary;
  created: number;
  conflicts: number;
  slotsPlanned: number;
  customers: number;
  providers: number;
}

/**
 * Booking creation: free slots read from the API beforehand, kept apart by each service's visit +
 * buffer, interleaved across providers; each request takes the next one, a customer in turn and
 * its own Idempotency-Key.
 */
export async function measureBookingCreate(
  server: ServerProcess,
  seed: SeededData,
  settings: LoadSettings,
  log: (line: string) => void,
): Promise<BookingRun> {
  const offers = firstOffers(seed);
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
  const summary = await measure(
    'booking-create',
    { server, path: '/api/v1/bookings', method: 'POST', connections: settings.bookingConnections, setupRequest },
    settings,
  );
  const run: BookingRun = {
    summary,
    created: summary.statusCodes['201'] ?? 0,
    conflicts: summary.statusCodes['409'] ?? 0,
    slotsPlanned: plan.length,
    customers: tokens.length,
    providers: offers.length,
  };
  log(`  booking-create   ${describeRun(summary)}; 201 ${run.created}, 409 ${run.conflicts}`);
  return run;
}

// ---------------------------------------------------------------------------------------------
// Verdicts

export interface Verdict {
  database: DatabaseKind;
  figure: string;
  target: string;
  ours: string;
  /** null: no target for this figure on this database. */
  met: boolean | null;
}

const ms = (value: number) => `${value.toLocaleString('en-US')} ms`;
/** A latency verdict's figures: P99 first (the target), then p50, throughput and cache hits. */
const latencyFigures = (p99: number, p50: number, requestsPerSec: number, cache: CacheUse) =>
  `P99 ${ms(p99)} (p50 ${p50} ms, ${requestsPerSec.toLocaleString('en-US')} req/s, ${cache.hitPct ?? 0}% hits)`;
// The req/s ratio a CPU-bound server would show, from the app's CPU time per request: steadier on a busy machine.
const cpuRatio = (comparison: Comparison) =>
  comparison.cpuRatioPct === undefined ? '' : `; by app CPU per request ${comparison.cpuRatioPct}%`;
const verdictText = (met: boolean | null) => (met === null ? '—' : met ? 'met' : 'MISSED');

function searchVerdicts(database: DatabaseKind, services: number, plain: SearchRun, typo: TypoRun): Verdict[] {
  const bound = searchP99TargetMs(services);
  const size = `${services.toLocaleString('en-US')} services`;
  const within = (p99: number) => (bound === undefined ? null : p99 <= bound);
  const target = bound === undefined ? '—' : `P99 <= ${ms(bound)}`;
  return [
    {
      database,
      figure: `uncached search, ${size}`,
      target,
      ours: latencyFigures(
        plain.summary.latencyP99Ms,
        plain.summary.latencyP50Ms,
        plain.summary.requestsPerSec,
        plain.cache,
      ),
      met: within(plain.summary.latencyP99Ms),
    },
    {
      database,
      figure: `typo search, ${size}`,
      target,
      ours: latencyFigures(
        typo.summary.latencyP99Ms,
        typo.summary.latencyP50Ms,
        typo.summary.requestsPerSec,
        typo.cache,
      ),
      met: within(typo.summary.latencyP99Ms),
    },
    {
      database,
      figure: `typo queries that found results, ${size}`,
      target: 'all',
      ours: `${typo.foundPct}% of ${typo.answered} (first result has the word: ${typo.relevantPct}%)`,
      met: typo.answered > 0 && typo.found === typo.answered,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// One database

export interface DatabaseResult {
  database: DatabaseKind;
  services: number;
  providers: number;
  seedSeconds: number;
  loadAverageAtStart: number;
  cachedSearch: HealthVsCached;
  uncachedSearch: SearchRun;
  typoSearch: TypoRun;
  slotsUncached: SlotsUncachedRun;
  slotsCached: SlotsCachedRun;
  bookingCreate: BookingRun;
  doubleBookings: number;
  verdicts: Verdict[];
}

export interface LargeCatalogueResult {
  database: DatabaseKind;
  services: number;
  providers: number;
  seedSeconds: number;
  loadAverageAtStart: number;
  uncachedSearch: SearchRun;
  typoSearch: TypoRun;
  verdicts: Verdict[];
}

async function benchDatabase(
  harness: Harness,
  entry: string,
  kind: DatabaseKind,
  settings: MarketplaceSettings,
  workDir: string,
  log: (line: string) => void,
): Promise<DatabaseResult> {
  const loadAverageAtStart = loadNow();
  log(
    `\nmarketplace (${kind}): ${settings.services.toLocaleString('en-US')} services, ${settings.providers} providers; load average ${loadAverageAtStart}`,
  );
  const { result, afterStop } = await withMarketplaceApp(
    harness,
    {
      entry,
      kind,
      label: `marketplace-${kind}`,
      size: settings,
      workDir,
      databaseUrl: process.env.BENCH_DATABASE_URL,
      redisUrl: process.env.BENCH_REDIS_URL,
    },
    log,
    async ({ server, seed, seedSeconds }) => {
      const cachedSearch = await measureCachedSearch(server, settings, log);
      log(
        `  search-cached / health: median ${cachedSearch.comparison.ratioPct}% (rounds ${cachedSearch.comparison.roundRatiosPct.join('%, ')}%${cpuRatio(cachedSearch.comparison)}); ${describeCacheUse(cachedSearch.searchCache)}`,
      );
      const uncachedSearch = await measureUncachedSearch(server, settings, log);
      const typoSearch = await measureTypoSearch(server, settings, log);
      const slotsUncached = await measureUncachedSlots(server, seed, settings, log);
      const slotsCached = await measureCachedSlots(server, seed, settings, log);
      const bookingCreate = await measureBookingCreate(server, seed, settings, log);
      return { seedSeconds, cachedSearch, uncachedSearch, typoSearch, slotsUncached, slotsCached, bookingCreate };
    },
    countDoubleBookings,
  );
  const doubleBookings = afterStop ?? Number.NaN;
  log(`  double bookings (active bookings of one provider that overlap): ${doubleBookings}`);
  const { cachedSearch, slotsUncached, slotsCached, bookingCreate } = result;
  const health = cachedSearch.comparison.baseline;
  const search = cachedSearch.comparison.subject;
  const verdicts: Verdict[] = [
    {
      database: kind,
      figure: 'cached search / GET /api/health/live',
      target: `>= ${TARGETS.cachedSearchPctOfHealth}% of req/s`,
      ours: `${cachedSearch.comparison.ratioPct}% (best ${search.requestsPerSec.toLocaleString('en-US')} / ${health.requestsPerSec.toLocaleString('en-US')} req/s${cpuRatio(cachedSearch.comparison)}, ${cachedSearch.searchCache.hitPct ?? 0}% hits)`,
      met: cachedSearch.comparison.meetsTarget,
    },
    ...searchVerdicts(kind, settings.services, result.uncachedSearch, result.typoSearch),
    {
      database: kind,
      figure: 'slots 60 d, uncached',
      target: `P99 <= ${ms(TARGETS.slotsUncachedP99Ms)}`,
      ours: latencyFigures(
        slotsUncached.latency.p99Ms,
        slotsUncached.latency.p50Ms,
        slotsUncached.requestsPerSec,
        slotsUncached.cache,
      ),
      met: slotsUncached.latency.p99Ms <= TARGETS.slotsUncachedP99Ms,
    },
    {
      database: kind,
      figure: 'slots 60 d, cached',
      target: '—',
      ours: `P99 ${ms(slotsCached.summary.latencyP99Ms)} (p50 ${slotsCached.summary.latencyP50Ms} ms, ${slotsCached.summary.requestsPerSec.toLocaleString('en-US')} req/s, ${slotsCached.cache.hitPct === null ? 'no slots cache counted' : `${slotsCached.cache.hitPct}% hits`})`,
      met: null,
    },
    {
      database: kind,
      figure: 'booking creation',
      target: kind === 'postgres' ? `>= ${TARGETS.bookingsPerSecPostgres} req/s` : '— (PostgreSQL)',
      ours: `${bookingCreate.summary.requestsPerSec.toLocaleString('en-US')} req/s (p99 ${bookingCreate.summary.latencyP99Ms} ms, ${bookingCreate.created} × 201, ${bookingCreate.conflicts} × 409)`,
      met: kind === 'postgres' ? bookingCreate.summary.requestsPerSec >= TARGETS.bookingsPerSecPostgres : null,
    },
    {
      database: kind,
      figure: 'double bookings afterwards',
      target: '0',
      ours: String(doubleBookings),
      met: doubleBookings === 0,
    },
  ];
  return {
    database: kind,
    services: settings.services,
    providers: settings.providers,
    loadAverageAtStart,
    ...result,
    doubleBookings,
    verdicts,
  };
}

async function benchLargeCatalogue(
  harness: Harness,
  entry: string,
  kind: DatabaseKind,
  settings: MarketplaceSettings,
  workDir: string,
  log: (line: string) => void,
): Promise<LargeCatalogueResult> {
  const loadAverageAtStart = loadNow();
  const size = { services: settings.largeServices, providers: settings.largeProviders, customers: settings.customers };
  log(
    `\nmarketplace, large catalogue (${kind}): ${size.services.toLocaleString('en-US')} services, ${size.providers} providers; load average ${loadAverageAtStart}`,
  );
  const { result } = await withMarketplaceApp(
    harness,
    {
      entry,
      kind,
      label: `marketplace-large-${kind}`,
      size,
      workDir,
      databaseUrl: process.env.BENCH_DATABASE_URL,
      redisUrl: process.env.BENCH_REDIS_URL,
    },
    log,
    async ({ server, seedSeconds }) => ({
      seedSeconds,
      uncachedSearch: await measureUncachedSearch(server, settings, log),
      typoSearch: await measureTypoSearch(server, settings, log),
    }),
  );
  return {
    database: kind,
    services: size.services,
    providers: size.providers,
    loadAverageAtStart,
    ...result,
    verdicts: searchVerdicts(kind, size.services, result.uncachedSearch, result.typoSearch),
  };
}

export function formatVerdicts(verdicts: Verdict[]): string {
  return formatTable(
    ['database', 'figure', 'target', 'ours', 'verdict'],
    verdicts.map((v) => [v.database, v.figure, v.target, v.ours, verdictText(v.met)]),
    [0, 1, 2, 3, 4],
  );
}

// ---------------------------------------------------------------------------------------------
// Entry

export interface MarketplaceReport extends RunContext {
  settings: MarketplaceSettings;
  redis: boolean;
  databases: DatabaseResult[];
  largeCatalogue: LargeCatalogueResult[];
  verdicts: Verdict[];
}

/** Every marketplace scenario on each database, then the search scenarios on the large catalogue. */
export async function runMarketplace(
  harness: Harness,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<MarketplaceReport> {
  const entry = appEntry(log);
  const settings = marketplaceSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-marketplace-');
  const report = startReport('marketplace', log);
  const hasPostgres = (kind: DatabaseKind) => kind === 'pglite' || process.env.BENCH_DATABASE_URL !== undefined;
  const skipped = [...settings.databases, ...settings.largeDatabases].filter((kind) => !hasPostgres(kind));
  if (skipped.length > 0) log('marketplace: PostgreSQL skipped (set BENCH_DATABASE_URL to include it)');

  const databases: DatabaseResult[] = [];
  for (const kind of settings.databases.filter(hasPostgres)) {
    databases.push(await benchDatabase(harness, entry, kind, settings, workDir, log));
  }
  const largeCatalogue: LargeCatalogueResult[] = [];
  if (settings.largeServices > 0) {
    for (const kind of settings.largeDatabases.filter(hasPostgres)) {
      largeCatalogue.push(await benchLargeCatalogue(harness, entry, kind, settings, workDir, log));
    }
  }
  const verdicts = [...databases, ...largeCatalogue].flatMap((result) => result.verdicts);
  log(
    `\nmarketplace targets (issue 18), ${settings.readConnections} connections for reads, ${settings.bookingConnections} for bookings${process.env.BENCH_REDIS_URL ? ', Redis as the shared store' : ', in-memory shared store'}; load average now ${loadNow()}:\n${formatVerdicts(verdicts)}`,
  );
  return report.finish({
    settings,
    redis: process.env.BENCH_REDIS_URL !== undefined,
    databases,
    largeCatalogue,
    verdicts,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runMarketplace(harness);
  });
}
