import type { Config } from '../config.js';
import { systemClock } from './clock.js';
import { type Database, DEFAULT_PGLITE_TUNING, openDatabase } from './db/client.js';
import { migrate, pendingMigrations } from './db/migrate.js';
import type { KeyValueStore } from './kv/kv.js';
import { createMemoryStore } from './kv/memory.js';
import { deploymentKeyPrefix } from './kv/namespace.js';
import { createRedisStore } from './kv/redis.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';

export interface Infrastructure {
  logger: Logger;
  metrics: Metrics;
  database: Database;
  kv: KeyValueStore;
}

/**
 * The one place that chooses implementations from configuration: PostgreSQL or embedded
 * PGlite, Redis or memory. Migrations are applied before anything else touches the database.
 */
export async function openInfrastructure(
  config: Config,
  logger = createLogger({ level: config.logLevel }),
  /** `migrate: true` applies pending migrations whatever MIGRATE_ON_START says (`node dist/migrate.js`). */
  options: { migrate?: boolean } = {},
): Promise<Infrastructure> {
  const metrics = createMetrics();
  // Development catches a query that would wait on its own transaction; production skips the check.
  const guardTransactions = !config.isProduction;
  const observed = {
    metrics,
    logger: logger.child({ component: 'database' }),
    slowQueryMs: config.db.slowQueryMs,
    guardTransactions,
  };
  const database = config.databaseUrl
    ? await openDatabase({
        kind: 'postgres',
        url: config.databaseUrl,
        readUrl: config.databaseReadUrl,
        poolMax: config.databasePoolMax,
        connectTimeoutMs: config.db.connectTimeoutMs,
        statementTimeoutMs: config.db.statementTimeoutMs,
        ...observed,
      })
    : await openDatabase({
        kind: 'pglite',
        dataDir: config.dataDir,
        tuning: { ...DEFAULT_PGLITE_TUNING, settings: { shared_buffers: config.pgliteSharedBuffers } },
        ...observed,
      });
  metrics.sources.dbPools = database.poolUsage;
  try {
    if (options.migrate ?? config.migrateOnStart) {
      const applied = await migrate(database.db);
      if (applied > 0) logger.info({ applied }, 'database migrations applied');
    } else {
      const pending = await pendingMigrations(database.db);
      if (pending > 0) {
        throw new Error(
          `the database is ${pending} migration(s) behind this release: run node dist/migrate.js (or npm run migrate) first, or set MIGRATE_ON_START=true`,
        );
      }
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  const kv = config.redisUrl
    ? await openRedisStore(config.redisUrl, { config, database, logger })
    : createMemoryStore(systemClock);
  return { logger, metrics, database, kv };
}

/**
 * Redis under REDIS_KEY_PREFIX, or by default under the namespace the database names (its
 * deployment id), so databases sharing one Redis never share a key or a channel.
 */
async function openRedisStore(
  url: string,
  { config, database, logger }: { config: Config; database: Database; logger: Logger },
): Promise<KeyValueStore> {
  try {
    const keyPrefix = config.redisKeyPrefix ?? (await deploymentKeyPrefix(database.db));
    const store = createRedisStore(url, { keyPrefix });
    logger.info({ key_prefix: keyPrefix }, 'redis key namespace');
    return store;
  } catch (error) {
    await database.close();
    throw error;
  }
}
