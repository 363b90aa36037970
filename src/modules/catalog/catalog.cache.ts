import { createReadThroughCache } from '../../infra/kv/cache.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';

/** Bumped by any change to a category, provider or service: every cached catalog answer is stale. */
export const CATALOG_GENERATION = 'catalog:gen';
// Outlives every cached entry, so a counter that expired and restarted can never meet an old entry.
const GENERATION_TTL_MS = 365 * 86_400_000;

/** One kind of cached catalog answer, read through the shared store. */
export interface CatalogAnswers {
  get<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T>;
}

/**
 * The catalog's cached answers (categories, public profiles, searches). Their keys carry one
 * generation counter from the shared store, so any change anywhere in the catalog is one
 * increment and reaches every instance. A store that fails is a miss, never a failed request.
 */
export interface CatalogCache {
  categories: CatalogAnswers;
  providers: CatalogAnswers;
  search: CatalogAnswers;
  /** Every cached catalog answer is stale. */
  invalidate(): Promise<void>;
}

export function createCatalogCache(deps: {
  kv: KeyValueStore;
  metrics: Metrics;
  logger: Pick<Logger, 'warn'>;
}): CatalogCache {
  // The counter is shared by the three caches; its own failures are counted as cache="catalog".
  const counter = createReadThroughCache(deps, 'catalog');
  const answers = (name: 'categories' | 'providers' | 'search'): CatalogAnswers => {
    const cache = createReadThroughCache(deps, name);
    return {
      async get(key, ttlMs, load) {
        const generation = await counter.generation(CATALOG_GENERATION);
        if (generation === undefined) return load();
        return cache.get(`catalog:${name}:${generation}:${key}`, ttlMs, load);
      },
    };
  };
  return {
    categories: answers('categories'),
    providers: answers('providers'),
    search: answers('search'),
    invalidate: () => counter.bump(CATALOG_GENERATION, GENERATION_TTL_MS),
  };
}
