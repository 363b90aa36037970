/**
 * `npm run bench:live` (also part of `npm run bench` when BENCH_SCENARIOS includes `live`): the live
 * WebSocket endpoint, /api/v1/live, in two parts (BENCH_LIVE_PARTS, default `connections,fanout`).
 *
 *   connections  BENCH_LIVE_CONNECTIONS (default 5,000) sockets opened and authenticated on one
 *                instance, BENCH_LIVE_OPEN_CONCURRENCY (default 200) at a time, spread over
 *                ceil(N / BENCH_LIVE_PER_USER) accounts (default 100 sockets each, the app's most:
 *                LIVE_MAX_CONNECTIONS_PER_USER). The server's VmRSS (/proc/<pid>/status) before and
 *                BENCH_LIVE_SETTLE_S (default 5) after the last socket was ready, bytes per socket,
 *                the time to open them all, and the server's CPU while they sit idle (its
 *                heartbeat and the half-second session check walk every socket). In-memory store
 *                unless BENCH_LIVE_CONNECTIONS_REDIS=1 (then the session check asks Redis per socket).
 *   fanout       two instances on one PostgreSQL database and one Redis (BENCH_REDIS_URL, default
 *                redis://127.0.0.1:6379): the customer of each booking has a socket on instance B,
 *                the booking's provider posts chat messages on instance A, BENCH_LIVE_MESSAGES
 *                (default 1,000, after BENCH_LIVE_WARMUP_MESSAGES, default 20, not counted) at a
 *                steady BENCH_LIVE_RATE (default 50/s). Latency: the request leaving the bench → the
 *                `chat.message` arriving on B's socket (a message only reaches B through Redis). Each
 *                one must arrive exactly once, on its own customer's socket (the bench waits up to
 *                BENCH_LIVE_DELIVERY_TIMEOUT_S, default 10, after the last answer).
 *
 * Why chat: posting a chat message is a real request that publishes `live.message` after its
 * commit, one per request, with a text the bench can recognise. Its only limit is per sender
 * (CHAT_MESSAGES_PER_MINUTE, not the HTTP rate limiter), so the bench uses as many
 * provider/customer pairs as keep every provider at or under it for the whole run; confirming or
 * cancelling bookings instead would need a fresh pending booking per message and queues notifications.
 *
 * The database: a fresh `bench_live_conns_<pid>` / `bench_live_fanout_<pid>` next to
 * BENCH_DATABASE_URL (standalone default postgres://postgres@127.0.0.1:5432/test), seeded with the
 * marketplace bench's accounts and dropped afterwards; BENCH_LIVE_EMBEDDED=1 runs the connections
 * part on PGlite instead (the fan-out needs PostgreSQL and Redis: without them it is skipped).
 * Both processes need a file-descriptor limit above the sockets (`ulimit -n`): checked first.
 * Only 127.0.0.1 is loaded. Writes bench/results/live.json.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { openDatabase } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { CHAT_MESSAGES_PER_MINUTE } from '../src/modules/bookings/index.js';
import { services } from '../src/modules/catalog/catalog.tables.js';
import { CLOSE, type ServerMessage } from '../src/modules/live/live.protocol.js';
import { envNumber, type Harness, runBench, type ServerProcess } from './lib.js';
import { CUSTOMER_PASSWORD, customerEmail, seedMarketplace } from './marketplace-seed.js';
import { DEFAULT_DATABASE_URL } from './payments.js';
import { getJson, login, mapLimit, type RunContext, scenarioAppEnv, scratchDatabase, startReport } from './support.js';

const DAY_MS = 86_400_000;
/** The most sockets the app lets one person open on an instance (LIVE_MAX_CONNECTIONS_PER_USER). */
const MAX_PER_USER = 100;
/** Descriptors a process needs besides its sockets (modules, database, Redis, logs). */
const FD_HEADROOM = 512;
/** Longest a socket may take from connect to `ready`. */
const OPEN_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** Chat requests the fan-out keeps in flight at most (a stalled server must not grow this without bound). */
const MAX_IN_FLIGHT = 200;
/** After every message arrived, how long the bench still listens for duplicates. */
const DUPLICATE_GRACE_MS = 1_000;
const POLL_MS = 20;
/** The fan-out's target: p99 from the request to the socket on the other instance. */
const TARGET_P99_MS = 100;
/** The provider accounts bench/marketplace-seed.ts writes (all with CUSTOMER_PASSWORD). */
const providerEmail = (i: number) => `bench-provider-${i}@bench.care`;

// ---------------------------------------------------------------------------------------------
// Settings

export interface LiveBenchSettings {
  parts: { connections: boolean; fanout: boolean };
  connections: number;
  openConcurrency: number;
  perUser: number;
  settleS: number;
  /** The connections part on PGlite instead of PostgreSQL. */
  embedded: boolean;
  /** The connections part with REDIS_URL set too (the session check then asks Redis per socket). */
  connectionsOnRedis: boolean;
  messages: number;
  warmupMessages: number;
  ratePerS: number;
  redisUrl: string;
  /** Longest wait, after the last answer, for messages still on their way. */
  deliveryTimeoutS: number;
}

const flag = (name: string) => ['1', 'true', 'yes'].includes((process.env[name] ?? '').trim().toLowerCase());

export function liveSettingsFromEnv(): LiveBenchSettings {
  const parts = (process.env.BENCH_LIVE_PARTS ?? 'connections,fanout').split(',').map((part) => part.trim());
  return {
    parts: { connections: parts.includes('connections'), fanout: parts.includes('fanout') },
    connections: Math.round(envNumber('BENCH_LIVE_CONNECTIONS', 5000, 1, 50_000)),
    openConcurrency: Math.round(envNumber('BENCH_LIVE_OPEN_CONCURRENCY', 200, 1, 5000)),
    perUser: Math.round(envNumber('BENCH_LIVE_PER_USER', MAX_PER_USER, 1, MAX_PER_USER)),
    settleS: envNumber('BENCH_LIVE_SETTLE_S', 5, 0, 600),
    embedded: flag('BENCH_LIVE_EMBEDDED'),
    connectionsOnRedis: flag('BENCH_LIVE_CONNECTIONS_REDIS'),
    messages: Math.round(envNumber('BENCH_LIVE_MESSAGES', 1000, 1, 100_000)),
    warmupMessages: Math.round(envNumber('BENCH_LIVE_WARMUP_MESSAGES', 20, 0, 10_000)),
    ratePerS: envNumber('BENCH_LIVE_RATE', 50, 1, 2000),
    redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    deliveryTimeoutS: envNumber('BENCH_LIVE_DELIVERY_TIMEOUT_S', 10, 1, 600),
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers: figures, /proc, the app's own metrics

const round1 = (value: number) => Math.round(value * 10) / 10;
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

/** Nearest-rank percentile of an ascending list (0 when empty). */
const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);

export interface Distribution {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: round1(percentile(sorted, 50)),
    p95Ms: round1(percentile(sorted, 95)),
    p99Ms: round1(percentile(sorted, 99)),
    maxMs: round1(sorted.at(-1) ?? 0),
  };
}

const describe = (d: Distribution) => `p50 ${d.p50Ms}  p95 ${d.p95Ms}  p99 ${d.p99Ms}  max ${d.maxMs} ms`;

/** VmRSS and its peak (VmHWM) of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ rssBytes: number; peakRssBytes: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssBytes: kib('VmRSS') * 1024, peakRssBytes: kib('VmHWM') * 1024 };
}

/** User + system CPU time of a process so far, in clock ticks (USER_HZ: 100 a second on Linux). */
async function cpuTicksOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
const TICKS_PER_S = 100;

/** The soft and hard limit on open files of a process ('self': this one). */
async function openFilesLimit(pid: number | 'self'): Promise<{ soft: number; hard: number }> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const value = (raw: string | undefined) => (raw === 'unlimited' ? Number.POSITIVE_INFINITY : Number(raw));
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/** Both ends hold one descriptor per socket: refuse to start when either limit is too low. */
async function checkDescriptors(server: ServerProcess, sockets: number) {
  const bench = await openFilesLimit('self');
  const app = await openFilesLimit(server.pid as number);
  const needed = sockets + FD_HEADROOM;
  for (const [who, limit] of [
    ['this bench', bench],
    ['the app', app],
  ] as const) {
    if (limit.soft < needed) {
      throw new Error(
        `${who} may open ${limit.soft} files (ulimit -n) but ${sockets} sockets need about ${needed}: raise it (ulimit -n ${Math.max(needed, 65_536)}) and run again`,
      );
    }
  }
  return { bench: bench.soft, app: app.soft };
}

/**
 * One scrape of the app's Prometheus text (/metrics, open without METRICS_TOKEN): a reader of its
 * unlabelled gauges. Each scrape also resets the event-loop delay histogram.
 */
async function scrape(server: ServerProcess): Promise<(name: string) => number | undefined> {
  const response = await fetch(new URL('/metrics', server.url), { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return (name) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Data: the marketplace bench's accounts, written before the app starts

interface Prepared {
  /** The app's database variables: DATABASE_URL, or DATA_DIR of a PGlite directory. */
  env: Record<string, string>;
  kind: 'postgres' | 'pglite';
  /** The active service of each provider, by the provider's seed index. */
  offers: { serviceId: string; providerId: string }[];
  drop(): Promise<void>;
}

async function prepare(
  target: { kind: 'postgres'; url: string; prefix: string } | { kind: 'pglite'; dataDir: string },
  size: { providers: number; customers: number },
  log: (line: string) => void,
): Promise<Prepared> {
  const scratch = target.kind === 'postgres' ? await scratchDatabase(target.url, target.prefix, log) : undefined;
  try {
    const database = await openDatabase(
      scratch
        ? { kind: 'postgres', url: scratch.url }
        : { kind: 'pglite', dataDir: (target as { dataDir: string }).dataDir },
    );
    try {
      await migrate(database.db);
      const seed = await seedMarketplace(database.db, {
        providers: size.providers,
        services: size.providers,
        customers: size.customers,
      });
      // The seed leaves ~3% of services inactive; here every provider needs its one service bookable.
      await database.db.update(services).set({ isActive: true });
      const rows = await database.db.select({ serviceId: services.id, providerId: services.providerId }).from(services);
      const byProvider = new Map(rows.map((row) => [row.providerId, row]));
      const offers = seed.providerIds.map((providerId) => {
        const offer = byProvider.get(providerId);
        if (!offer) throw new Error(`seeded provider ${providerId} has no service`);
        return offer;
      });
      return {
        env: scratch ? { DATABASE_URL: scratch.url } : { DATA_DIR: (target as { dataDir: string }).dataDir },
        kind: target.kind,
        offers,
        drop: scratch?.drop ?? (async () => {}),
      };
    } finally {
      await database.close();
    }
  } catch (error) {
    await scratch?.drop().catch(() => {});
    throw error;
  }
}

/** The app as the scenarios run it, plus: no HTTP limiter, tokens that outlive the run, 100 sockets a person. */
const liveAppEnv = (workDir: string, database: Record<string, string>) => ({
  ...scenarioAppEnv(workDir, database),
  RATE_LIMIT_ENABLED: 'false',
  // An expired token closes its socket (4001): an hour outlasts any run here.
  ACCESS_TOKEN_TTL_SECONDS: '3600',
  LIVE_MAX_CONNECTIONS_PER_USER: String(MAX_PER_USER),
});

// ---------------------------------------------------------------------------------------------
// WebSocket client

const CLOSE_NAMES = new Map<number, string>(Object.entries(CLOSE).map(([name, code]) => [code, name]));

class SocketFailure extends Error {}

interface LiveSocket {
  socket: WebSocket;
  /** Connect → `ready`, in ms. */
  readyMs: number;
}

const liveUrl = (server: ServerProcess) => `${server.url.replace(/^http/, 'ws')}/api/v1/live`;

/**
 * Connects, authenticates and resolves once the server answered `ready`; rejects with a
 * SocketFailure naming why not. Messages after `ready` go to `onMessage` (with the moment they
 * arrived, performance.now()), a close after it to `onClose`.
 */
function openLiveSocket(
  server: ServerProcess,
  token: string,
  handlers: { onMessage?: (message: ServerMessage, receivedAt: number) => void; onClose?: (code: number) => void } = {},
): Promise<LiveSocket> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(liveUrl(server), { perMessageDeflate: false });
    let state: 'opening' | 'ready' | 'failed' = 'opening';
    const fail = (reason: string) => {
      if (state !== 'opening') return;
      state = 'failed';
      clearTimeout(timer);
      socket.terminate();
      reject(new SocketFailure(reason));
    };
    const timer = setTimeout(() => fail('no ready within the timeout'), OPEN_TIMEOUT_MS);
    socket.once('open', () => socket.send(JSON.stringify({ type: 'auth', token })));
    socket.on('message', (raw) => {
      const receivedAt = performance.now();
      if (state === 'failed') return;
      let message: ServerMessage;
      try {
        message = JSON.parse(raw.toString()) as ServerMessage;
      } catch {
        return fail('unreadable message');
      }
      if (state === 'ready') return handlers.onMessage?.(message, receivedAt);
      if (message.type !== 'ready') return fail(`first message ${message.type}: ${String(message.data?.code)}`);
      state = 'ready';
      clearTimeout(timer);
      resolve({ socket, readyMs: receivedAt - started });
    });
    socket.on('error', (error) => fail(`error: ${error.message}`));
    socket.on('close', (code) => {
      if (state === 'ready') handlers.onClose?.(code);
      else fail(`closed ${code} ${CLOSE_NAMES.get(code) ?? ''}`.trim());
    });
  });
}

/** Closes every socket (1000), waiting a bounded time for the server's close frames, then cuts the rest. */
async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            socket.terminate();
            resolve();
          }, CLOSE_TIMEOUT_MS);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close(1000, 'bench done');
        }),
    ),
  );
}

/** POST a JSON body as a signed-in person (set-up and the fan-out's triggers). */
async function postAs(
  server: ServerProcess,
  path: string,
  token: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { data?: { id?: string } } }> {
  const response = await fetch(new URL(path, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json()) as { data?: { id?: string } } };
}

// ---------------------------------------------------------------------------------------------
// Part 1: many sockets on one instance

export interface ConnectionsResult {
  database: 'postgres' | 'pglite';
  store: 'memory' | 'redis';
  requested: number;
  accounts: number;
  openConcurrency: number;
  ready: number;
  failed: Record<string, number>;
  /** First connect → last `ready`. */
  openAllS: number;
  socketsPerS: number;
  /** Connect → `ready` of each socket. */
  perSocket: Distribution;
  /** Sockets the server closed while they sat idle (none expected). */
  closedWhileIdle: Record<string, number>;
  /** The app's live_connections gauge once all were ready. */
  serverGauge: number | undefined;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  peakRssBytes: number;
  rssPerConnectionBytes: number;
  heapUsedBeforeBytes: number | undefined;
  heapUsedAfterBytes: number | undefined;
  /** Server CPU over the settle period with every socket open and idle, % of one core. */
  idleCpuPct: number;
  settleS: number;
  benchRssAfterBytes: number;
  fileLimit: { bench: number; app: number };
}

async function measureConnections(
  harness: Harness,
  databaseUrl: string | undefined,
  settings: LiveBenchSettings,
  log: (line: string) => void,
): Promise<ConnectionsResult> {
  const accounts = Math.ceil(settings.connections / settings.perUser);
  const workDir = await harness.tempDir('care-bench-live-');
  const embedded = settings.embedded || databaseUrl === undefined;
  log(
    `\nlive connections: ${settings.connections} sockets over ${accounts} accounts on one instance (${embedded ? 'PGlite' : 'PostgreSQL'}${settings.connectionsOnRedis ? ', Redis' : ''})`,
  );
  const prepared = await prepare(
    embedded
      ? { kind: 'pglite', dataDir: join(workDir, 'data') }
      : { kind: 'postgres', url: databaseUrl as string, prefix: 'bench_live_conns_' },
    { providers: 1, customers: accounts },
    log,
  );
  const sockets: WebSocket[] = [];
  let server: ServerProcess | undefined;
  let idle = false;
  const closedWhileIdle: Record<string, number> = {};
  try {
    server = await harness.startServer({
      name: 'live',
      entry: 'src/server.ts',
      readyPath: '/api/health/ready',
      stdoutFile: join(workDir, 'app.log'),
      env: {
        ...liveAppEnv(workDir, prepared.env),
        ...(settings.connectionsOnRedis ? { REDIS_URL: settings.redisUrl } : {}),
      },
    });
    const pid = server.pid as number;
    const fileLimit = await checkDescriptors(server, settings.connections);
    const tokens = await mapLimit(
      Array.from({ length: accounts }, (_, i) => customerEmail(i)),
      4,
      (email) => login(server as ServerProcess, email, CUSTOMER_PASSWORD),
    );
    // Let the sign-ins' argon2 buffers and start-up garbage settle before the baseline.
    await sleep(settings.settleS * 1000);
    const before = await memoryOf(pid);
    const heapBefore = (await scrape(server))('nodejs_heap_size_used_bytes');
    log(`  server RSS before: ${mib(before.rssBytes)}; opening ${settings.openConcurrency} at a time`);

    const failed: Record<string, number> = {};
    const readyMs: number[] = [];
    const started = performance.now();
    await mapLimit(
      Array.from({ length: settings.connections }, (_, i) => i),
      settings.openConcurrency,
      async (i) => {
        try {
          const opened = await openLiveSocket(server as ServerProcess, tokens[i % accounts] as string, {
            onClose: (code) => {
              if (!idle) return;
              const key = `${code} ${CLOSE_NAMES.get(code) ?? ''}`.trim();
              closedWhileIdle[key] = (closedWhileIdle[key] ?? 0) + 1;
            },
          });
          sockets.push(opened.socket);
          readyMs.push(opened.readyMs);
        } catch (error) {
          const reason = error instanceof SocketFailure ? error.message : String(error);
          failed[reason] = (failed[reason] ?? 0) + 1;
        }
      },
    );
    const openAllS = (performance.now() - started) / 1000;
    server.assertRunning();
    log(
      `  ${sockets.length}/${settings.connections} ready in ${openAllS.toFixed(1)} s; settling ${settings.settleS} s`,
    );

    idle = true;
    const cpuStart = await cpuTicksOf(pid);
    const idleStart = performance.now();
    await sleep(settings.settleS * 1000);
    const idleCpuPct =
      (((await cpuTicksOf(pid)) - cpuStart) / TICKS_PER_S / ((performance.now() - idleStart) / 1000)) * 100;
    const after = await memoryOf(pid);
    const metricsAfter = await scrape(server);
    const heapAfter = metricsAfter('nodejs_heap_size_used_bytes');
    const serverGauge = metricsAfter('live_connections');
    idle = false;

    return {
      database: prepared.kind,
      store: settings.connectionsOnRedis ? 'redis' : 'memory',
      requested: settings.connections,
      accounts,
      openConcurrency: settings.openConcurrency,
      ready: sockets.length,
      failed,
      openAllS: round1(openAllS),
      socketsPerS: Math.round(sockets.length / openAllS),
      perSocket: distribution(readyMs),
      closedWhileIdle,
      serverGauge,
      rssBeforeBytes: before.rssBytes,
      rssAfterBytes: after.rssBytes,
      peakRssBytes: after.peakRssBytes,
      rssPerConnectionBytes: sockets.length ? Math.round((after.rssBytes - before.rssBytes) / sockets.length) : 0,
      heapUsedBeforeBytes: heapBefore,
      heapUsedAfterBytes: heapAfter,
      idleCpuPct: round1(idleCpuPct),
      settleS: settings.settleS,
      benchRssAfterBytes: process.memoryUsage().rss,
      fileLimit,
    };
  } finally {
    idle = false;
    await closeAll(sockets);
    await server?.stop();
    await prepared.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: fan-out from instance A to instance B

export interface FanOutResult {
  database: 'postgres';
  pairs: number;
  messagesPerProvider: number;
  warmupMessages: number;
  messages: number;
  ratePerS: number;
  /** Measured messages sent per second, first to last. */
  achievedPerS: number;
  /** Answers of the measured chat posts, by status. */
  statuses: Record<string, number>;
  /** Measured messages that arrived once, on their customer's socket. */
  exactlyOnce: number;
  lost: number;
  duplicated: number;
  /** Arrived on another customer's socket (none expected). */
  misrouted: number;
  /** Bench's POST leaving → the message on B's socket. */
  sendToReceive: Distribution;
  /** The message's `at` (A's clock after the commit) → on B's socket (same machine clock, ms resolution). */
  atToReceive: Distribution;
  /** The POST's round trip on A (it answers once the message is published). */
  httpRoundTrip: Distribution;
  /** While sending and delivering: each instance's CPU per message sent (warm-up included) and its event-loop delay. */
  instances: Record<'a' | 'b', { cpuMsPerMessage: number; eventLoopP99Ms?: number; eventLoopMaxMs?: number }>;
  targetP99Ms: number;
  meetsTarget: boolean;
}

interface Sent {
  pair: number;
  warmup: boolean;
  sentAt: number;
  answeredAt?: number;
  status?: number;
  receipts: { socket: number; at: number; wallAt: number; messageAt: string }[];
}

async function measureFanOut(
  harness: Harness,
  databaseUrl: string,
  settings: LiveBenchSettings,
  log: (line: string) => void,
): Promise<FanOutResult> {
  const total = settings.warmupMessages + settings.messages;
  const pairs = Math.ceil(total / CHAT_MESSAGES_PER_MINUTE);
  log(
    `\nlive fan-out: ${settings.messages} chat messages (+${settings.warmupMessages} warm-up) at ${settings.ratePerS}/s, ` +
      `posted on A, received on B, over ${pairs} provider/customer pairs (${Math.ceil(total / pairs)} per provider, at most ${CHAT_MESSAGES_PER_MINUTE} a minute)`,
  );
  const workDir = await harness.tempDir('care-bench-live-fanout-');
  const prepared = await prepare(
    { kind: 'postgres', url: databaseUrl, prefix: 'bench_live_fanout_' },
    { providers: pairs, customers: pairs },
    log,
  );
  const sockets: WebSocket[] = [];
  const servers: ServerProcess[] = [];
  try {
    const env = {
      ...liveAppEnv(workDir, prepared.env),
      REDIS_URL: settings.redisUrl,
      // Both instances must accept each other's tokens.
      JWT_SECRET: randomBytes(32).toString('base64url'),
    };
    // The first applies any migration (none: the bench applied them before seeding); the second finds none.
    const a = await harness.startServer({
      name: 'live-a',
      entry: 'src/server.ts',
      readyPath: '/api/health/ready',
      stdoutFile: join(workDir, 'app-a.log'),
      env,
    });
    servers.push(a);
    const b = await harness.startServer({
      name: 'live-b',
      entry: 'src/server.ts',
      readyPath: '/api/health/ready',
      stdoutFile: join(workDir, 'app-b.log'),
      env,
    });
    servers.push(b);

    const indices = Array.from({ length: pairs }, (_, i) => i);
    const customerTokens = await mapLimit(indices, 4, (i) => login(a, customerEmail(i), CUSTOMER_PASSWORD));
    const providerTokens = await mapLimit(indices, 4, (i) => login(a, providerEmail(i), CUSTOMER_PASSWORD));
    const from = new Date(Date.now() + DAY_MS).toISOString();
    const to = new Date(Date.now() + 15 * DAY_MS).toISOString();
    const bookingIds = await mapLimit(indices, 8, async (i) => {
      const offer = prepared.offers[i] as Prepared['offers'][number];
      const query = new URLSearchParams({ service_id: offer.serviceId, from, to });
      const { slots } = await getJson<{ slots: string[] }>(a, `/api/v1/providers/${offer.providerId}/slots?${query}`);
      if (!slots[0]) throw new Error(`provider ${i} has no free slot`);
      const booked = await postAs(a, '/api/v1/bookings', customerTokens[i] as string, {
        service_id: offer.serviceId,
        starts_at: slots[0],
      });
      if (booked.status !== 201 || !booked.body.data?.id) {
        throw new Error(`booking for pair ${i}: ${booked.status} ${JSON.stringify(booked.body)}`);
      }
      return booked.body.data.id;
    });

    const runTag = `bench-live-${process.pid}-${Date.now()}`;
    const seqOfText = new Map<string, number>();
    const sent: Sent[] = [];
    let foreign = 0;
    const opened = await mapLimit(indices, 16, (i) =>
      openLiveSocket(b, customerTokens[i] as string, {
        onMessage: (message, receivedAt) => {
          if (message.type !== 'chat.message') return;
          const seq = seqOfText.get(String(message.data.text));
          const record = seq === undefined ? undefined : sent[seq];
          if (!record) {
            foreign += 1;
            return;
          }
          record.receipts.push({ socket: i, at: receivedAt, wallAt: Date.now(), messageAt: message.at });
        },
      }),
    );
    sockets.push(...opened.map((item) => item.socket));
    log(`  ${pairs} bookings made on A, ${sockets.length} customer sockets ready on B; sending`);

    // A scrape resets the app's event-loop delay histogram: the next one covers the run alone.
    await Promise.all([a, b].map(scrape));
    const cpuBefore = await Promise.all([a, b].map((server) => cpuTicksOf(server.pid as number)));
    const inFlight = new Set<Promise<void>>();
    const intervalMs = 1000 / settings.ratePerS;
    const startedAt = performance.now();
    for (let seq = 0; seq < total; seq++) {
      const due = startedAt + seq * intervalMs - performance.now();
      if (due > 0) await sleep(due);
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      const pair = seq % pairs;
      const text = `${runTag} #${seq}`;
      const record: Sent = { pair, warmup: seq < settings.warmupMessages, sentAt: performance.now(), receipts: [] };
      sent.push(record);
      seqOfText.set(text, seq);
      const request = postAs(a, `/api/v1/bookings/${bookingIds[pair]}/messages`, providerTokens[pair] as string, {
        text,
      })
        .then(
          (answer) => {
            record.status = answer.status;
          },
          () => {
            record.status = 0;
          },
        )
        .finally(() => {
          record.answeredAt = performance.now();
          inFlight.delete(request);
        });
      inFlight.add(request);
    }
    await Promise.all(inFlight);
    const sendingS = (performance.now() - startedAt) / 1000;

    const deadline = performance.now() + settings.deliveryTimeoutS * 1000;
    const waiting = () => sent.some((record) => record.status === 201 && record.receipts.length === 0);
    while (waiting() && performance.now() < deadline) await sleep(POLL_MS);
    const cpuAfter = await Promise.all([a, b].map((server) => cpuTicksOf(server.pid as number)));
    const instanceFigures = await Promise.all(
      [a, b].map(async (server, i) => {
        const metrics = await scrape(server);
        const seconds = (name: string) => {
          const value = metrics(name);
          return value === undefined ? undefined : round1(value * 1000);
        };
        return {
          cpuMsPerMessage: round1(
            ((((cpuAfter[i] ?? 0) - (cpuBefore[i] ?? 0)) / TICKS_PER_S) * 1000) / Math.max(1, total),
          ),
          eventLoopP99Ms: seconds('nodejs_eventloop_lag_p99_seconds'),
          eventLoopMaxMs: seconds('nodejs_eventloop_lag_max_seconds'),
        };
      }),
    );
    await sleep(DUPLICATE_GRACE_MS);
    a.assertRunning();
    b.assertRunning();

    const measured = sent.filter((record) => !record.warmup);
    const statuses: Record<string, number> = {};
    const sendToReceive: number[] = [];
    const atToReceive: number[] = [];
    const httpRoundTrip: number[] = [];
    let exactlyOnce = 0;
    let lost = 0;
    let duplicated = 0;
    let misrouted = 0;
    for (const record of measured) {
      const status = String(record.status ?? 'none');
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (record.answeredAt !== undefined) httpRoundTrip.push(record.answeredAt - record.sentAt);
      const first = record.receipts[0];
      if (!first) {
        if (record.status === 201) lost += 1;
        continue;
      }
      if (record.receipts.length > 1) duplicated += 1;
      if (record.receipts.some((receipt) => receipt.socket !== record.pair)) misrouted += 1;
      else if (record.receipts.length === 1) exactlyOnce += 1;
      sendToReceive.push(first.at - record.sentAt);
      atToReceive.push(first.wallAt - Date.parse(first.messageAt));
    }
    if (foreign > 0) log(`  note: ${foreign} chat.message(s) not sent by this run arrived`);
    const first = measured[0];
    const last = measured.at(-1);
    const spanS = first && last ? (last.sentAt - first.sentAt) / 1000 : 0;
    const latency = distribution(sendToReceive);
    log(`  sent ${total} in ${sendingS.toFixed(1)} s; ${exactlyOnce}/${measured.length} arrived exactly once`);
    return {
      database: 'postgres',
      pairs,
      messagesPerProvider: Math.ceil(total / pairs),
      warmupMessages: settings.warmupMessages,
      messages: measured.length,
      ratePerS: settings.ratePerS,
      achievedPerS: spanS > 0 ? round1((measured.length - 1) / spanS) : 0,
      statuses,
      exactlyOnce,
      lost,
      duplicated,
      misrouted,
      sendToReceive: latency,
      atToReceive: distribution(atToReceive),
      httpRoundTrip: distribution(httpRoundTrip),
      instances: {
        a: instanceFigures[0] as FanOutResult['instances']['a'],
        b: instanceFigures[1] as FanOutResult['instances']['b'],
      },
      targetP99Ms: TARGET_P99_MS,
      meetsTarget: exactlyOnce === measured.length && latency.p99Ms < TARGET_P99_MS,
    };
  } finally {
    await closeAll(sockets);
    await Promise.all(servers.map((server) => server.stop()));
    await prepared.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

export interface LiveReport extends RunContext {
  settings: LiveBenchSettings;
  connections: ConnectionsResult | { skipped: string };
  fanOut: FanOutResult | { skipped: string };
}

const table = (rows: [string, string][]) => {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`);
};

const counts = (record: Record<string, number>) =>
  Object.keys(record).length === 0
    ? 'none'
    : Object.entries(record)
        .map(([key, n]) => `${key}: ${n}`)
        .join(', ');

export function formatLiveReport(report: LiveReport): string {
  const lines: string[] = [];
  const c = report.connections;
  if ('skipped' in c) lines.push(`live connections: skipped (${c.skipped})`);
  else {
    lines.push(
      `live connections: ${c.requested} WebSockets on one instance (${c.database}, ${c.store} store), ${c.accounts} accounts, ${c.openConcurrency} opening at a time`,
      ...table([
        ['sockets ready', `${c.ready} / ${c.requested} (failed: ${counts(c.failed)})`],
        ['server live_connections', String(c.serverGauge ?? 'n/a')],
        ['open + auth, all', `${c.openAllS} s (${c.socketsPerS} sockets/s)`],
        ['open + auth, per socket', describe(c.perSocket)],
        ['server RSS before', mib(c.rssBeforeBytes)],
        [
          'server RSS after',
          `${mib(c.rssAfterBytes)} (${c.settleS} s after the last ready; peak ${mib(c.peakRssBytes)})`,
        ],
        ['RSS per connection', `${(c.rssPerConnectionBytes / 1024).toFixed(1)} KiB`],
        [
          'server heap used',
          c.heapUsedBeforeBytes !== undefined && c.heapUsedAfterBytes !== undefined
            ? `${mib(c.heapUsedBeforeBytes)} → ${mib(c.heapUsedAfterBytes)}`
            : 'n/a',
        ],
        ['server CPU, all idle', `${c.idleCpuPct}% of one core over ${c.settleS} s`],
        ['closed while idle', counts(c.closedWhileIdle)],
        ['open files limit', `bench ${c.fileLimit.bench}, app ${c.fileLimit.app}`],
        ['bench RSS', mib(c.benchRssAfterBytes)],
      ]),
    );
  }
  const f = report.fanOut;
  if ('skipped' in f) lines.push(`live fan-out: skipped (${f.skipped})`);
  else {
    lines.push(
      `live fan-out: chat posted on instance A, received on instance B (postgres + Redis), ${f.messages} messages (+${f.warmupMessages} warm-up) at ${f.ratePerS}/s over ${f.pairs} pairs`,
      ...table([
        ['sent', `${f.messages} at ${f.achievedPerS}/s; answers: ${counts(f.statuses)}`],
        [
          'received exactly once',
          `${f.exactlyOnce} / ${f.messages} (lost ${f.lost}, duplicated ${f.duplicated}, misrouted ${f.misrouted})`,
        ],
        ['send → on B', describe(f.sendToReceive)],
        ['at → on B', describe(f.atToReceive)],
        ['HTTP round trip on A', describe(f.httpRoundTrip)],
        ...(['a', 'b'] as const).map((name): [string, string] => {
          const figures = f.instances[name];
          return [
            `instance ${name.toUpperCase()}`,
            `${figures.cpuMsPerMessage} ms CPU per message; event-loop delay p99 ${figures.eventLoopP99Ms ?? 'n/a'} ms, max ${figures.eventLoopMaxMs ?? 'n/a'} ms`,
          ];
        }),
        ['target', `p99 send → on B < ${f.targetP99Ms} ms, none lost or twice: ${f.meetsTarget ? 'MET' : 'NOT MET'}`],
      ]),
    );
  }
  return lines.join('\n');
}

/**
 * Both parts, one after the other (each with its own servers and scratch database, all stopped
 * and dropped before the next). Without `databaseUrl` the connections part runs on PGlite and the
 * fan-out is skipped; without Redis the fan-out is skipped too.
 */
export async function runLive(
  harness: Harness,
  databaseUrl: string | undefined,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<LiveReport> {
  const settings = liveSettingsFromEnv();
  const report = startReport('live', log);
  const connections = settings.parts.connections
    ? await measureConnections(harness, databaseUrl, settings, log)
    : { skipped: 'not in BENCH_LIVE_PARTS' };
  let fanOut: FanOutResult | { skipped: string };
  if (!settings.parts.fanout) fanOut = { skipped: 'not in BENCH_LIVE_PARTS' };
  else if (!databaseUrl) fanOut = { skipped: 'it needs PostgreSQL: set BENCH_DATABASE_URL' };
  else if (!(await redisAnswers(settings.redisUrl))) fanOut = { skipped: `no Redis answers at ${settings.redisUrl}` };
  else fanOut = await measureFanOut(harness, databaseUrl, settings, log);
  const finished = await report.finish({ settings, connections, fanOut });
  log(`\n${formatLiveReport(finished)}`);
  return finished;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBench(async (harness) => {
    await runLive(harness, process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL);
  });
}
