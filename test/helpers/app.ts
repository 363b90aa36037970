import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/infra/clock.js';
import type { Database } from '../../src/infra/db/client.js';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { createTestDatabase } from './database.js';

export const testRedisUrl = process.env.TEST_REDIS_URL;

/** A clock tests move by hand. */
export function createTestClock(start = new Date('2026-11-23T10:00:00.000Z')) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
    set(date: Date) {
      now = date.getTime();
    },
  } satisfies Clock & Record<string, unknown>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  database?: Database;
  kv?: KeyValueStore;
  /** Use Redis (TEST_REDIS_URL) under this key prefix; default: Redis with a fresh prefix when configured. */
  redisPrefix?: string;
  /** Collect log lines (parsed JSON) here; default: logging off. */
  logLines?: Record<string, unknown>[];
  /** Add routes (test fixtures) before the app is ready. */
  extend?: (app: FastifyInstance) => Promise<void> | void;
  random?: () => number;
}

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  kv: KeyValueStore;
  close(): Promise<void>;
}

/**
 * The real app on a fresh migrated database (PGlite, or PostgreSQL in services mode),
 * with memory or Redis counters. Rate limits are off unless a test turns them on.
 */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  // Uploaded images go to a directory of this app's own, removed when it closes.
  const mediaDir = join(tmpdir(), `care-test-media-${randomBytes(6).toString('hex')}`);
  const config = loadConfig({
    MEDIA_DIR: mediaDir,
    NODE_ENV: 'test',
    LOG_LEVEL: options.logLines ? 'info' : 'silent',
    RATE_LIMIT_ENABLED: 'false',
    WORKERS_ENABLED: 'false',
    // A busy CI machine stalls the event loop past any threshold now and then; load shedding
    // has its own tests (test/platform/overload.test.ts), which turn it on.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Failed sign-ins answer at once unless a test is about the delay (test/security/).
    LOGIN_DELAY_BASE_MS: '0',
    ...options.env,
  });
  const metrics = createMetrics();
  const database = options.database ?? (await createTestDatabase({ metrics }));
  const clock = options.clock;
  const kv =
    options.kv ??
    (testRedisUrl
      ? createRedisStore(testRedisUrl, { keyPrefix: options.redisPrefix ?? `test:${randomBytes(6).toString('hex')}:` })
      : createMemoryStore(clock ?? { now: () => new Date() }));
  const lines = options.logLines;
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) lines?.push(JSON.parse(line));
      callback();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const app = await buildApp({ config, database, kv, logger, metrics, clock, random: options.random });
  if (options.extend) await options.extend(app);
  await app.ready();
  return {
    app,
    database,
    kv,
    close: async () => {
      await app.close();
      await rm(mediaDir, { recursive: true, force: true });
    },
  };
}
