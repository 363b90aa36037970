import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { KeyValueStore } from './kv.js';

interface Entry {
  value: string;
  expiresAt: number;
}

/** Process-local store: correct for one instance, shared by nobody else. */
export function createMemoryStore(clock: Clock, options: { maxEntries?: number } = {}): KeyValueStore {
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();
  const bus = new EventEmitter();
  bus.setMaxListeners(0);

  const live = (key: string, now: number) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };

  const store = (key: string, entry: Entry) => {
    if (entries.size >= maxEntries && !entries.has(key)) {
      // Maps iterate in insertion order: drop the oldest key rather than grow without bound.
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(key, entry);
  };

  return {
    kind: 'memory',
    async increment(key, ttlMs) {
      const now = clock.now().getTime();
      const entry = live(key, now);
      if (!entry) {
        store(key, { value: '1', expiresAt: now + ttlMs });
        return { count: 1, ttlMs };
      }
      const count = Number(entry.value) + 1;
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
      entries.delete(key);
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
      bus.removeAllListeners();
    },
  };
}
