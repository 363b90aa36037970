import type { Clock } from '../../infra/clock.js';
import { createReadThroughCache } from '../../infra/kv/cache.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { createLocalCopies } from '../../infra/kv/local.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';

/** Bumped by any change to a category, provider or service: every cached catalog answer is stale. */
export const CATALOG_GENERATION = 'catalog:gen';
// Outlives every cached entry, so a counter that expired and restarted can never meet an old entry.
const GENERATION_TTL_MS = 365 * 86_400_000;

/** One kind of cached catalog answer, read through the shared store. */
export interface CatalogAnswers {
  /** The cached value is shared by every request that reads it: never change it. */
  get<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T>;
}

/**
 * The catalog's cached answers (categories, public profiles and services, searches). Their keys carry one
 * generation counter from the shared store, so any change anywhere in the catalog is one
 * increment and reaches every instance: each answer reads the counter from the store, so an
 * instance sees another's change on its next request. A store that fails is a miss, never a
 * failed request. What an instance read or wrote it also keeps in memory, decoded, for the
 * current generation, so a repeated answer costs the counter's read and nothing else.
 */
export interface CatalogCache {
  categories: CatalogAnswers;
  providers: CatalogAnswers;
  services: CatalogAnswers;
  search: CatalogAnswers;
  /** Every cached catalog answer is stale. */
  invalidate(): Promise<void>;
}

export function createCatalogCache(deps: {
  kv: KeyValueStore;
  metrics: Metrics;
  logger: Pick<Logger, 'warn'>;
  clock: Clock;
  /** How many answers this instance keeps in memory, and their total size in characters. */
  inMemory?: { maxEntries?: number; maxChars?: number };
}): CatalogCache {
  const { kv, metrics, logger } = deps;
  // The counter is shared by the three caches; its own failures are counted as cache="catalog".
  const counter = createReadThroughCache({ kv, metrics, logger }, 'catalog');
  const local = createLocalCopies({ clock: deps.clock, ...deps.inMemory });
  let localGeneration: string | undefined;

  /** The key stamped with the current generation, or undefined when the counter cannot be read. */
  const stamped = async (name: string, key: string): Promise<string | undefined> => {
    const generation = await counter.generation(CATALOG_GENERATION);
    if (generation === undefined) return undefined;
    // The copies in memory are of one generation: a new one makes them all unreachable.
    if (generation !== localGeneration) {
      local.clear();
      localGeneration = generation;
    }
    return `catalog:${name}:${generation}:${key}`;
  };

  const answers = (name: 'categories' | 'providers' | 'services' | 'search'): CatalogAnswers => {
    const cache = createReadThroughCache({ kv, metrics, logger, local }, name);
    return {
      async get(key, ttlMs, load) {
        const full = await stamped(name, key);
        return full === undefined ? load() : cache.get(full, ttlMs, load);
      },
    };
  };
  return {
    categories: answers('categories'),
    providers: answers('providers'),
    services: answers('services'),
    search: answers('search'),
    invalidate: () => counter.bump(CATALOG_GENERATION, GENERATION_TTL_MS),
  };
}
