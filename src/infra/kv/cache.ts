import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { KeyValueStore } from './kv.js';
import type { LocalCopies } from './local.js';

/**
 * One read-through cache over the shared store, with one policy: the store is an optimisation,
 * never a dependency. A read or write that fails is counted (`cache_requests_total{result="error"}`),
 * logged as a warning and answered from the source, so a Redis outage slows requests down but
 * never fails them. Values are JSON; `undefined` (nothing found) is not cached.
 */
export interface ReadThroughCache {
  get<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T>;
  /**
   * The current value of a generation counter, stamped into keys ("0" when unset). Undefined when
   * the store cannot be read: the caller then answers from the source, never from a key stamped
   * with a generation that may be stale. Callers that ask while a read of the counter is on its way
   * share that read (one round trip for a burst of cache hits), so a change another instance made
   * less than one round trip ago may not be seen yet; this instance's own `bump` is seen by every
   * read that starts after it.
   */
  generation(counter: string): Promise<string | undefined>;
  /** Moves a generation counter on: every key stamped with the old value is stale everywhere. */
  bump(counter: string, ttlMs: number): Promise<void>;
}

export function createReadThroughCache(
  deps: {
    kv: KeyValueStore;
    metrics: Metrics;
    logger: Pick<Logger, 'warn'>;
    /**
     * Keeps what was read or written, decoded, in this process too: a hit there needs no round
     * trip and no parse. Only for keys that say how fresh they are (see LocalCopies).
     */
    local?: LocalCopies;
  },
  /** The `cache` label on the metrics, e.g. "search". */
  name: string,
): ReadThroughCache {
  const { kv, metrics, logger, local } = deps;
  /** Reads of generation counters on their way to the store, shared by whoever asks meanwhile. */
  const reading = new Map<string, Promise<string | undefined>>();
  const failed = (error: unknown, during: string) => {
    metrics.cacheRequests.inc({ cache: name, result: 'error' });
    logger.warn({ err: error, cache: name }, `cache ${during} failed; answered from the source`);
  };
  return {
    async get<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
      const copy = local?.get(key);
      if (copy !== undefined) {
        metrics.cacheRequests.inc({ cache: name, result: 'hit' });
        return copy as T;
      }
      let hit: string | undefined;
      try {
        hit = await kv.get(key);
      } catch (error) {
        failed(error, 'read');
        return load();
      }
      if (hit !== undefined) {
        metrics.cacheRequests.inc({ cache: name, result: 'hit' });
        const value: T = JSON.parse(hit);
        // As long as the entry would last had it been written now.
        local?.set(key, value, hit.length, ttlMs);
        return value;
      }
      metrics.cacheRequests.inc({ cache: name, result: 'miss' });
      const value = await load();
      if (value !== undefined) {
        const text = JSON.stringify(value);
        local?.set(key, value, text.length, ttlMs);
        try {
          await kv.set(key, text, ttlMs);
        } catch (error) {
          failed(error, 'write');
        }
      }
      return value;
    },
    generation(counter) {
      const pending = reading.get(counter);
      if (pending) return pending;
      const read: Promise<string | undefined> = kv
        .get(counter)
        .then(
          (value) => value ?? '0',
          (error: unknown) => {
            failed(error, 'generation read');
            return undefined;
          },
        )
        .finally(() => {
          if (reading.get(counter) === read) reading.delete(counter);
        });
      reading.set(counter, read);
      return read;
    },
    async bump(counter, ttlMs) {
      // A read that started before the bump must not answer anyone who asks after it.
      reading.delete(counter);
      try {
        await kv.increment(counter, ttlMs);
      } catch (error) {
        failed(error, 'invalidation');
      }
    },
  };
}
