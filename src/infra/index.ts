import type { Config } from '../config.js';
import { systemClock } from './clock.js';
import { type Database, openDatabase } from './db/client.js';
import { migrate } from './db/migrate.js';
import type { KeyValueStore } from './kv/kv.js';
import { createMemoryStore } from './kv/memory.js';
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
): Promise<Infrastructure> {
  const metrics = createMetrics();
  // Development catches a query that would wait on its own transaction; production skips the check.
  const guardTransactions = !config.isProduction;
  const database = config.databaseUrl
    ? await openDatabase({
        kind: 'postgres',
        url: config.databaseUrl,
        poolMax: config.databasePoolMax,
        metrics,
        guardTransactions,
      })
    : await openDatabase({ kind: 'pglite', dataDir: config.dataDir, metrics, guardTransactions });
  try {
    const applied = await migrate(database.db);
    if (applied > 0) logger.info({ applied }, 'database migrations applied');
  } catch (error) {
    await database.close();
    throw error;
  }
  const kv = config.redisUrl ? createRedisStore(config.redisUrl) : createMemoryStore(systemClock);
  return { logger, metrics, database, kv };
}
