/**
 * Real app processes for the cluster and fault suites (npm run test:cluster, npm run test:faults):
 * `node dist/server.js` as production runs it, on a PostgreSQL database and a Redis namespace of
 * their own, reached over HTTP like any client.
 *
 * Services: PostgreSQL at TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; the
 * harness creates and drops databases on its server) and Redis at TEST_REDIS_URL (default
 * redis://127.0.0.1:6379). The build: dist/ from `npm run build`.
 *
 * API
 * - `servicesUnavailable()`: undefined when PostgreSQL and Redis both answer within 2 s, else why
 *   not. Files skip with it: `describe.skipIf(unavailable)(...)`, the reason printed once.
 * - `requireBuild()`: throws "… missing: run npm run build" without dist/server.js and dist/migrate.js.
 * - `createDeployment({ env })`: one deployment as the app's operators would set it up: a fresh
 *   database (unique name) migrated once by `node dist/migrate.js`, a fresh REDIS_KEY_PREFIX, and
 *   one JWT_SECRET, METRICS_TOKEN and HEALTH_TOKEN that all its instances share. `env` is added to
 *   every instance's environment over the defaults (`baseEnv`): NODE_ENV=production, LOG_LEVEL=info,
 *   workers on, DATABASE_POOL_MAX=5, SHUTDOWN_TIMEOUT_MS=5000, load shedding off
 *   (OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0) and rate limits too high to matter; a test about one of
 *   these sets it. Nothing else is inherited from the runner's environment but PATH, HOME, LANG,
 *   TZ and TMPDIR.
 *   - `deployment.start(name, { env, port, waitReady, readyTimeoutMs })`: one `node dist/server.js` on
 *     127.0.0.1 (a free port unless `port` is given), waited for until GET /api/health/ready answers
 *     200 (unless `waitReady: false`; then `waitUntilReady(instance, timeoutMs)`), and prints how long
 *     that took. `env` wins over the deployment's, so DATABASE_URL or REDIS_URL may point at a
 *     fault-injection proxy. A restarted instance may take its predecessor's `port`.
 *   - `deployment.query(text, params)`: SQL on the deployment's database (setup, counting rows).
 *   - `deployment.redisKeys()`: the keys under the deployment's prefix.
 *   - `deployment.close()`: kills instances still running, drops the database, deletes the prefix's
 *     keys (SCAN + DEL); answers how many keys it deleted.
 * - `Instance`: `name`, `url`, `port`, `pid`, `env`;
 *   - `request(method, path, { json, token, headers })` → `{ status, headers, body }` (fetch, body
 *     parsed as JSON when it is JSON, else text); `get(path, token?)` is the common case;
 *   - `logs` (every stdout/stderr line, `json` set when the line is a pino record), `output(tail?)`,
 *     `logsMatching(predicate)`, `waitForLog(predicate, what, timeoutMs)`;
 *   - `metric(name, labels?)`: the sum of the samples of one Prometheus metric (labels match as a
 *     subset) from /metrics with the deployment's METRICS_TOKEN;
 *   - `stop(signal = 'SIGTERM', timeoutMs)` → `{ code, signal, durationMs, timedOut }` (SIGKILL after
 *     `timeoutMs`); `kill()` is SIGKILL; `exited` settles when the process is gone, `running()`.
 * - `printLogsOnFailure(() => instances)`: call in a describe; a failed test prints each
 *   instance's last log lines.
 * - `waitFor(check, what, { timeoutMs, intervalMs })`: polls until `check` answers something truthy,
 *   failing with "timed out after … waiting for <what>".
 * - `signUp(instance, { headers })`, `signIn(instance, account)`, `makeAdmin(deployment, instance, account)`:
 *   accounts over the public API (an admin is made with SQL, as an operator would, then signs in
 *   again); an `Account` holds its email, password, id and current access token.
 * - Also: `sleep(ms)`, `freePort()`, `sumMetric(prometheusText, name, labels)`, the `Envelope<D>` type of
 *   the API's answers (`body.data` on success, `body.code` and `body.message` on an error).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { beforeEach } from 'vitest';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const SERVER_ENTRY = join(ROOT, 'dist', 'server.js');
const MIGRATE_ENTRY = join(ROOT, 'dist', 'migrate.js');
const PROBE_TIMEOUT_MS = 2000;
// Lines kept per instance: enough for a whole scenario, bounded for a long load test.
const MAX_LOG_LINES = 100_000;
const FAILURE_TAIL_LINES = 60;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it answers something truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${ADMIN_DATABASE_URL} does not answer (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisProblem(): Promise<string | undefined> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The socket's own error (ECONNREFUSED, …) says more than the rejection ("Connection is closed").
  let cause: Error | undefined;
  redis.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return `Redis at ${REDIS_URL} does not answer (${(cause ?? (error as Error)).message})`;
  } finally {
    redis.disconnect();
  }
}

/** Undefined when PostgreSQL and Redis both answer; otherwise a message saying which does not. */
export async function servicesUnavailable(): Promise<string | undefined> {
  const problems = (await Promise.all([postgresProblem(), redisProblem()])).filter(Boolean);
  if (problems.length === 0) return undefined;
  const message = `skipped: ${problems.join('; ')} (these suites need both)`;
  console.warn(message);
  return message;
}

/** The suites run the build, never the sources: a missing dist/ is a setup error, not a skip. */
export function requireBuild(): void {
  for (const entry of [SERVER_ENTRY, MIGRATE_ENTRY]) {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build`);
  }
}

/** A TCP port nobody listens on right now (the instance may still lose a race for it; `start` retries). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** Date.now() when the harness read the line. */
  at: number;
  text: string;
  /** The pino record, when the line is one. */
  json?: Record<string, unknown>;
}

/** The API's envelope, loosely: a test names the `data` it reads with the type parameter. */
export interface Envelope<D = unknown> {
  success?: boolean;
  data: D;
  meta?: Record<string, unknown>;
  /** On an error answer. */
  code?: string;
  message?: string;
  correlation_id?: string;
}

export interface Answer<T = Envelope> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  json?: unknown;
  /** An access token: `Authorization: Bearer <token>`. */
  token?: string;
  headers?: Record<string, string>;
  /** Abort after this long (default 10 s); the answer is then a thrown TimeoutError. */
  timeoutMs?: number;
}

export interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the signal to the process being gone. */
  durationMs: number;
  /** The process outlived `timeoutMs` and was killed. */
  timedOut: boolean;
}

export interface Instance {
  name: string;
  port: number;
  url: string;
  pid: number;
  env: Record<string, string>;
  logs: LogLine[];
  /** The last `tail` lines (all by default) as text, each prefixed with the instance's name. */
  output(tail?: number): string;
  logsMatching(match: (record: Record<string, unknown>) => boolean): Record<string, unknown>[];
  waitForLog(
    match: (record: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  request<T = Envelope>(method: string, path: string, options?: RequestOptions): Promise<Answer<T>>;
  get<T = Envelope>(path: string, token?: string): Promise<Answer<T>>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  running(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Stopped>;
  kill(): Promise<Stopped>;
}

export interface StartOptions {
  env?: Record<string, string>;
  port?: number;
  /** Wait for GET /api/health/ready to answer 200 (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
}

export interface Deployment {
  databaseName: string;
  databaseUrl: string;
  redisUrl: string;
  redisKeyPrefix: string;
  jwtSecret: string;
  metricsToken: string;
  healthToken: string;
  /** What every instance gets (before its own `env`). */
  env: Record<string, string>;
  instances: Instance[];
  start(name: string, options?: StartOptions): Promise<Instance>;
  query<T extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  redisKeys(): Promise<string[]>;
  close(): Promise<{ redisKeysDeleted: number }>;
}

/**
 * The environment of a production instance in these suites. Load shedding is off (a shared
 * 2-core machine stalls an event loop now and then; the fault suite turns it on where it is the
 * subject), rate limits are generous unless a test is about them.
 */
function baseEnv(deployment: {
  databaseUrl: string;
  redisKeyPrefix: string;
  jwtSecret: string;
  metricsToken: string;
  healthToken: string;
}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: deployment.databaseUrl,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: REDIS_URL,
    REDIS_KEY_PREFIX: deployment.redisKeyPrefix,
    JWT_SECRET: deployment.jwtSecret,
    METRICS_TOKEN: deployment.metricsToken,
    HEALTH_TOKEN: deployment.healthToken,
    WORKERS_ENABLED: 'true',
    SHUTDOWN_TIMEOUT_MS: '5000',
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    RATE_LIMIT_ANON_MAX: '100000',
    RATE_LIMIT_USER_MAX: '100000',
    RATE_LIMIT_SENSITIVE_MAX: '100000',
  };
}

/** Only what node needs from the test runner's environment: vitest's NODE_ENV=test and any app variables stay out. */
function inheritedEnv(): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

function runMigrations(env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MIGRATE_ENTRY], {
      cwd: ROOT,
      env: { ...inheritedEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`node dist/migrate.js exited with ${code}:\n${output}`)),
    );
  });
}

const children = new Set<ChildProcess>();
// A test runner that dies must not leave servers behind holding ports and connections.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Prometheus text → the sum of `name`'s samples whose labels include `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) sum += Number(match[3]);
  }
  return sum;
}

function launch(name: string, port: number, env: Record<string, string>, metricsToken: string): Instance {
  const child = spawn(process.execPath, ['--enable-source-maps', SERVER_ENTRY], {
    cwd: ROOT,
    env: { ...inheritedEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs: LogLine[] = [];
  const collect = (stream: LogLine['stream']) => {
    let partial = '';
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        if (!text) continue;
        let json: Record<string, unknown> | undefined;
        if (text.startsWith('{')) {
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
        }
        if (logs.length >= MAX_LOG_LINES) logs.shift();
        logs.push({ stream, at: Date.now(), text, json });
      }
    };
  };
  child.stdout?.on('data', collect('stdout'));
  child.stderr?.on('data', collect('stderr'));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      exit = { code, signal };
      resolve(exit);
    });
  });
  const url = `http://127.0.0.1:${port}`;

  const request = async <T = Envelope>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<Answer<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    const isJson = (response.headers.get('content-type') ?? '').includes('json');
    return {
      status: response.status,
      headers: response.headers,
      body: (isJson && text ? JSON.parse(text) : text) as T,
    };
  };

  const logsMatching = (match: (record: Record<string, unknown>) => boolean) =>
    logs.flatMap((line) => (line.json && match(line.json) ? [line.json] : []));

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Stopped> => {
    const started = Date.now();
    if (exit) return { ...exit, durationMs: 0, timedOut: false };
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([exited, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      child.kill('SIGKILL');
      const killed = await exited;
      return { ...killed, durationMs: Date.now() - started, timedOut: true };
    }
    return { ...outcome, durationMs: Date.now() - started, timedOut: false };
  };

  return {
    name,
    port,
    url,
    pid: child.pid ?? -1,
    env,
    logs,
    output: (tail = logs.length) =>
      logs
        .slice(-tail)
        .map((line) => `[${name}${line.stream === 'stderr' ? ' stderr' : ''}] ${line.text}`)
        .join('\n'),
    logsMatching,
    waitForLog: (match, what, timeoutMs = 10_000) =>
      waitFor(() => logsMatching(match)[0], `${name}: ${what}`, { timeoutMs, intervalMs: 20 }),
    request,
    get: <T = Envelope>(path: string, token?: string) => request<T>('GET', path, { token }),
    async metric(metricName, labels = {}) {
      const answer = await request<string>('GET', '/metrics', { token: metricsToken });
      if (answer.status !== 200) throw new Error(`${name}: /metrics answered ${answer.status}`);
      return sumMetric(answer.body, metricName, labels);
    },
    running: () => exit === undefined,
    exited,
    stop,
    kill: () => stop('SIGKILL', 5000),
  };
}

/** Waits for GET /api/health/ready to answer 200; fails (killing the process) after `timeoutMs` or if it exits. */
export async function waitUntilReady(instance: Instance, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!instance.running()) {
      const { code, signal } = await instance.exited;
      throw new Error(
        `instance ${instance.name} exited (code ${code}, signal ${signal}) before it was ready:\n${instance.output(40)}`,
      );
    }
    try {
      const answer = await instance.request('GET', '/api/health/ready', { timeoutMs: 1000 });
      if (answer.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await instance.kill();
      throw new Error(`instance ${instance.name} was not ready after ${timeoutMs} ms:\n${instance.output(40)}`);
    }
    await sleep(50);
  }
}

const addressInUse = (instance: Instance) => instance.logs.some((line) => line.text.includes('EADDRINUSE'));

/** A fresh database and Redis namespace, migrated, ready for instances. */
export async function createDeployment(options: { env?: Record<string, string> } = {}): Promise<Deployment> {
  requireBuild();
  const id = randomBytes(5).toString('hex');
  const databaseName = `care_cluster_${id}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  await admin.connect();
  try {
    await admin.query(`create database ${databaseName}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${databaseName}`;
  const secrets = {
    databaseUrl: url.toString(),
    redisKeyPrefix: `cluster-test:${id}:`,
    jwtSecret: randomBytes(32).toString('hex'),
    metricsToken: `metrics-${randomBytes(12).toString('hex')}`,
    healthToken: `health-${randomBytes(12).toString('hex')}`,
  };
  const env = { ...baseEnv(secrets), ...options.env };
  const pool = new pg.Pool({ connectionString: secrets.databaseUrl, max: 2 });
  pool.on('error', () => undefined);
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const instances: Instance[] = [];

  const dropDatabase = async () => {
    await pool.end().catch(() => undefined);
    const dropper = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await dropper.connect();
    await dropper.query(`drop database if exists ${databaseName} with (force)`).finally(() => dropper.end());
  };

  const redisKeys = async () => {
    if (redis.status === 'wait') await redis.connect();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${secrets.redisKeyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  try {
    await runMigrations(env);
  } catch (error) {
    await dropDatabase();
    throw error;
  }

  return {
    databaseName,
    ...secrets,
    redisUrl: REDIS_URL,
    env,
    instances,
    async start(name, startOptions = {}) {
      const readyTimeoutMs = startOptions.readyTimeoutMs ?? 30_000;
      for (let attempt = 1; ; attempt++) {
        const port = startOptions.port ?? (await freePort());
        const instanceEnv = { ...env, ...startOptions.env, PORT: String(port) };
        const instance = launch(name, port, instanceEnv, secrets.metricsToken);
        instances.push(instance);
        if (startOptions.waitReady === false) return instance;
        try {
          const launchedAt = Date.now();
          await waitUntilReady(instance, readyTimeoutMs);
          console.log(`instance ${name} (pid ${instance.pid}, port ${port}) ready in ${Date.now() - launchedAt} ms`);
          return instance;
        } catch (error) {
          // Another process took the free port between our look and the listen: try another.
          if (attempt < 3 && startOptions.port === undefined && addressInUse(instance)) continue;
          throw error;
        }
      }
    },
    async query(text, params = []) {
      return (await pool.query(text, params)).rows;
    },
    redisKeys,
    async close() {
      await Promise.all(instances.map((instance) => instance.kill()));
      let redisKeysDeleted = 0;
      try {
        const keys = await redisKeys();
        for (let index = 0; index < keys.length; index += 500) {
          redisKeysDeleted += await redis.del(...keys.slice(index, index + 500));
        }
      } finally {
        redis.disconnect();
        await dropDatabase();
      }
      return { redisKeysDeleted };
    },
  };
}

/** Prints each instance's last log lines when a test of the enclosing describe fails. */
export function printLogsOnFailure(instances: () => Instance[], tail = FAILURE_TAIL_LINES): void {
  beforeEach((context) => {
    context.onTestFailed(() => {
      for (const instance of instances()) {
        console.log(`--- last ${tail} log lines of instance ${instance.name} ---\n${instance.output(tail)}`);
      }
    });
  });
}

export interface Account {
  id: string;
  email: string;
  password: string;
  token: string;
  refreshToken: string;
}

interface TokenPair {
  access_token: string;
  refresh_token: string;
}

let accounts = 0;

/** Signs a new person up through `instance`'s public API (`headers`: e.g. an X-Forwarded-For). */
export async function signUp(
  instance: Instance,
  options: { email?: string; password?: string; headers?: Record<string, string> } = {},
): Promise<Account> {
  accounts += 1;
  const email = options.email ?? `cluster${accounts}.${randomBytes(4).toString('hex')}@example.test`;
  const password = options.password ?? `Cluster-passphrase-${randomBytes(6).toString('hex')}`;
  const answer = await instance.request<Envelope<{ user: { id: string }; tokens: TokenPair }>>(
    'POST',
    '/api/v1/auth/signup',
    { json: { email, password }, headers: options.headers },
  );
  if (answer.status !== 201)
    throw new Error(`signup on ${instance.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  const { user, tokens } = answer.body.data;
  return { id: user.id, email, password, token: tokens.access_token, refreshToken: tokens.refresh_token };
}

/** Signs `account` in again (a new session): the token then carries its current role and plan. */
export async function signIn(instance: Instance, account: Account): Promise<Account> {
  const answer = await instance.request<Envelope<TokenPair>>('POST', '/api/v1/auth/login', {
    json: { email: account.email, password: account.password },
  });
  if (answer.status !== 200)
    throw new Error(`login on ${instance.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return { ...account, token: answer.body.data.access_token, refreshToken: answer.body.data.refresh_token };
}

/** Makes `account` an admin the way an operator would (SQL), then signs it in again. */
export async function makeAdmin(deployment: Deployment, instance: Instance, account: Account): Promise<Account> {
  await deployment.query(`update users set role = 'admin' where id = $1`, [account.id]);
  return signIn(instance, account);
}
