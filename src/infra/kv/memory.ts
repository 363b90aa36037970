import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { KeyValueStore } from './kv.js';

interface Entry {
  value: string;
  expiresAt: number;
}

/** Keys holding security state: lockouts, failure counts, revocations, scores and blocks. */
export const PROTECTED_PREFIXES = ['auth:', 'sec:'];
const SWEEP_EVERY = 10_000;

/**
 * Process-local store: correct for one instance, shared by nobody else. Caches and counters
 * share a bounded map that drops its oldest key when full; security state lives in a second map
 * that is never evicted (flooding the first with new keys cannot lift a lockout or a block) and
 * is swept of expired keys as it grows.
 */
export function createMemoryStore(
  clock: Clock,
  options: { maxEntries?: number; protectedPrefixes?: string[] } = {},
): KeyValueStore {
  const maxEntries = options.maxEntries ?? 100_000;
  const prefixes = options.protectedPrefixes ?? PROTECTED_PREFIXES;
  const entries = new Map<string, Entry>();
  const pinned = new Map<string, Entry>();
  let pinnedWrites = 0;
  const mapOf = (key: string) => (prefixes.some((prefix) => key.startsWith(prefix)) ? pinned : entries);
  const bus = new EventEmitter();
  bus.setMaxListeners(0);

  const live = (key: string, now: number) => {
    const map = mapOf(key);
    const entry = map.get(key);
    if (entry && entry.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return entry;
  };

  const store = (key: string, entry: Entry) => {
    if (mapOf(key) === pinned) {
      if (++pinnedWrites >= SWEEP_EVERY) {
        pinnedWrites = 0;
        const now = clock.now().getTime();
        for (const [pinnedKey, value] of pinned) if (value.expiresAt <= now) pinned.delete(pinnedKey);
      }
      pinned.set(key, entry);
      return;
    }
    if (entries.size >= maxEntries && !entries.has(key)) {
      // Maps iterate in insertion order: drop the oldest key rather than grow without bound.
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(key, entry);
  };

  return {
    kind: 'memory',
    async increment(key, ttlMs, by = 1) {
      const now = clock.now().getTime();
      const entry = live(key, now);
      if (!entry) {
        store(key, { value: String(by), expiresAt: now + ttlMs });
        return { count: by, ttlMs };
      }
      const count = Number(entry.value) + by;
      entry.value = String(count);
      return { count, ttlMs: entry.expiresAt - now };
    },
    async get(key) {
      return live(key, clock.now().getTime())?.value;
    },
    async set(key, value, ttlMs) {
      store(key, { value, expiresAt: ttlMs ? clock.now().getTime() + ttlMs : Number.POSITIVE_INFINITY });
    },
    async delete(key) {
      mapOf(key).delete(key);
    },
    async publish(channel, message) {
      bus.emit(channel, message);
    },
    async subscribe(channel, listener) {
      bus.on(channel, listener);
      return async () => {
        bus.off(channel, listener);
      };
    },
    async ping() {},
    async close() {
      entries.clear();
      pinned.clear();
      bus.removeAllListeners();
    },
  };
}
