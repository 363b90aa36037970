import type { Clock } from '../clock.js';

/**
 * A bounded copy, in this process, of entries of the shared store, decoded, for answers read far
 * more often than they change: a hit costs a map look-up instead of a round trip to the store and a
 * parse. It is never told about changes, so it must only hold keys that say how fresh they are
 * themselves (a generation counter stamped into the key); each copy lasts at most the store's TTL
 * from when it was made. Values are shared by every reader: nobody may change one.
 */
export interface LocalCopies {
  get(key: string): unknown;
  /** `size`: the length of the value's stored text, what the bound counts. */
  set(key: string, value: unknown, size: number, ttlMs: number): void;
  /** Forgets every entry (e.g. the generation stamped into the keys moved on). */
  clear(): void;
}

interface Copy {
  value: unknown;
  size: number;
  expiresAt: number;
}

export function createLocalCopies(options: {
  clock: Clock;
  /** At most this many entries… */
  maxEntries?: number;
  /** …of this much stored text in all; a longer value is not copied. */
  maxChars?: number;
}): LocalCopies {
  const { clock } = options;
  const maxEntries = options.maxEntries ?? 1000;
  const maxChars = options.maxChars ?? 8_000_000;
  const copies = new Map<string, Copy>();
  let chars = 0;

  const remove = (key: string, copy: Copy) => {
    copies.delete(key);
    chars -= copy.size;
  };

  return {
    get(key) {
      const copy = copies.get(key);
      if (copy === undefined) return undefined;
      if (copy.expiresAt <= clock.now().getTime()) {
        remove(key, copy);
        return undefined;
      }
      return copy.value;
    },
    set(key, value, size, ttlMs) {
      const previous = copies.get(key);
      if (previous) remove(key, previous);
      if (size > maxChars) return;
      // Maps iterate in insertion order: the oldest copies go first.
      for (const [oldKey, oldCopy] of copies) {
        if (copies.size < maxEntries && chars + size <= maxChars) break;
        remove(oldKey, oldCopy);
      }
      copies.set(key, { value, size, expiresAt: clock.now().getTime() + ttlMs });
      chars += size;
    },
    clear() {
      copies.clear();
      chars = 0;
    },
  };
}
