import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createReadThroughCache } from '../../src/infra/kv/cache.js';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { createMetrics } from '../../src/infra/metrics.js';
import { createTestClock, testRedisUrl } from '../helpers/app.js';

const clock = createTestClock();
const kinds: [string, () => KeyValueStore[]][] = [
  [
    'memory',
    () => {
      const store = createMemoryStore(clock);
      return [store, store];
    },
  ],
];
const redisUrl = testRedisUrl;
if (redisUrl) {
  kinds.push([
    'redis',
    () => {
      const prefix = `test:kv:${randomBytes(4).toString('hex')}:`;
      return [createRedisStore(redisUrl, { keyPrefix: prefix }), createRedisStore(redisUrl, { keyPrefix: prefix })];
    },
  ]);
}

describe.each(kinds)('%s key-value store', (kind, make) => {
  const open: KeyValueStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  const pair = () => {
    const stores = make();
    open.push(...new Set(stores));
    return stores as [KeyValueStore, KeyValueStore];
  };

  it('counts atomically: 50 parallel increments from two clients give 1..50 exactly once', async () => {
    const [a, b] = pair();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).increment('counter', 60_000)),
    );
    expect(results.map((r) => r.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(results.every((r) => r.ttlMs > 0 && r.ttlMs <= 60_000)).toBe(true);
  });

  it('stores values with and without a TTL, and deletes them', async () => {
    const [a, b] = pair();
    await a.set('greeting', 'hello');
    expect(await b.get('greeting')).toBe('hello');
    await a.delete('greeting');
    expect(await b.get('greeting')).toBeUndefined();
    expect(await a.get('never-set')).toBeUndefined();
  });

  it('expires keys when their TTL passes', async () => {
    const [a] = pair();
    // The memory store follows the test clock; Redis keeps its own time, so it is waited for.
    const ttlMs = kind === 'memory' ? 1000 : 150;
    await a.set('short', 'x', ttlMs);
    await a.increment('window', ttlMs);
    if (kind === 'memory') clock.advance(ttlMs + 1);
    else await new Promise((resolve) => setTimeout(resolve, ttlMs * 3));
    expect(await a.get('short')).toBeUndefined();
    expect((await a.increment('window', ttlMs)).count).toBe(1);
  });

  it('delivers published messages to subscribers of another client', async () => {
    const [a, b] = pair();
    const received: string[] = [];
    const unsubscribe = await b.subscribe('flags', (message) => received.push(message));
    await a.publish('flags', 'changed:beta');
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toEqual(['changed:beta']);
    await unsubscribe();
    await a.publish('flags', 'changed:again');
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toEqual(['changed:beta']);
  });

  it('answers ping', async () => {
    const [a] = pair();
    await expect(a.ping()).resolves.toBeUndefined();
  });
});

describe('memory store bound', () => {
  it('drops the oldest keys instead of growing without limit', async () => {
    const store = createMemoryStore(clock, { maxEntries: 3 });
    for (const key of ['a', 'b', 'c', 'd']) await store.set(key, key);
    expect(await store.get('a')).toBeUndefined();
    expect(await store.get('d')).toBe('d');
  });
});

describe('generation counters of the read-through cache', () => {
  it('shares one store read among callers that ask while it is on its way, and reads again after a bump', async () => {
    const store = createMemoryStore(clock);
    let reads = 0;
    let release: (() => void) | undefined;
    const slow: KeyValueStore = {
      ...store,
      async get(key) {
        reads += 1;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return store.get(key);
      },
    };
    const cache = createReadThroughCache({ kv: slow, metrics: createMetrics(), logger: { warn() {} } }, 'test');
    const burst = [cache.generation('gen'), cache.generation('gen'), cache.generation('gen')];
    expect(reads).toBe(1);
    release?.();
    expect(await Promise.all(burst)).toEqual(['0', '0', '0']);

    // A read already on its way when this instance bumps the counter answers only those who asked before.
    const before = cache.generation('gen');
    const firstRelease = release;
    await cache.bump('gen', 60_000);
    const after = cache.generation('gen');
    expect(reads).toBe(3);
    firstRelease?.();
    release?.();
    expect(await before).toBe('1'); // the store already held the bump when this read reached it
    expect(await after).toBe('1');
    // Settled reads are not kept: the next caller reads the store again.
    const next = cache.generation('gen');
    expect(reads).toBe(4);
    release?.();
    expect(await next).toBe('1');
  });
});
