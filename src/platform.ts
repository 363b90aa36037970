import type { Config } from './config.js';
import { type Clock, systemClock } from './infra/clock.js';
import type { Database, Db } from './infra/db/client.js';
import { createEventBus } from './infra/events.js';
import { type IdGenerator, uuidv7 } from './infra/ids.js';
import type { KeyValueStore } from './infra/kv/kv.js';
import type { Logger } from './infra/logger.js';
import type { Metrics } from './infra/metrics.js';
import { createOutbox, type Outbox } from './infra/outbox/outbox.js';
import type { EventBus } from './shared/events.js';

export interface PlatformDeps {
  config: Config;
  database: Database;
  kv: KeyValueStore;
  logger: Logger;
  metrics: Metrics;
  clock?: Clock;
  ids?: IdGenerator;
  random?: () => number;
}

/**
 * What every module is built on, one per app instance: configuration, the database, the shared
 * store, time, ids, the outbox (side effects that must survive a crash), the event bus
 * (reactions after commit). Modules get it in their factory.
 */
export interface Platform {
  config: Config;
  database: Database;
  db: Db;
  /**
   * Reads that may lag the primary a little (search, slots, content lists, reports): the read
   * replica when DATABASE_READ_URL is set, else `db`. Never for a read right after the caller's write.
   */
  readDb: Db;
  kv: KeyValueStore;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  ids: IdGenerator;
  random: () => number;
  outbox: Outbox;
  events: EventBus;
}

export function createPlatform(deps: PlatformDeps): Platform {
  const { config, database, kv, logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? uuidv7;
  return {
    config,
    database,
    db: database.db,
    readDb: database.read,
    kv,
    logger,
    metrics,
    clock,
    ids,
    random: deps.random ?? Math.random,
    outbox: createOutbox({ clock, ids, metrics, defaultMaxAttempts: config.outbox.maxAttempts }),
    events: createEventBus({ logger: logger.child({ component: 'events' }) }),
  };
}
