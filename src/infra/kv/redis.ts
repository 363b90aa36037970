import { Redis } from 'ioredis';
import type { KeyValueStore } from './kv.js';

// INCRBY and the first PEXPIRE in one round trip, atomically.
const INCREMENT_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {count, ttl}`;

export function createRedisStore(url: string, options: { keyPrefix?: string } = {}): KeyValueStore {
  const connectionOptions = {
    keyPrefix: options.keyPrefix ?? 'care:',
    // Fail fast instead of queueing commands forever while Redis is down.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  const client = new Redis(url, connectionOptions);
  let subscriber: Redis | undefined;
  const listeners = new Map<string, Set<(message: string) => void>>();
  // ioredis emits 'error' on every failed reconnect; health reports the outage instead.
  client.on('error', () => {});

  // While (re)connecting, a command waits briefly for the connection instead of failing at once;
  // when Redis is really down it fails fast and callers degrade (rate limits fail open).
  // Commands waiting at the same time share one wait (and one 'ready' listener).
  const waits = new Map<number, Promise<void>>();
  const ready = (timeoutMs = 1000): Promise<void> => {
    if (client.status === 'ready') return Promise.resolve();
    let wait = waits.get(timeoutMs);
    if (!wait) {
      wait = new Promise<void>((resolve, reject) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          reject(new Error(`redis not connected (${client.status})`));
        }, timeoutMs);
        client.once('ready', onReady);
      }).finally(() => waits.delete(timeoutMs));
      waits.set(timeoutMs, wait);
    }
    return wait;
  };

  return {
    kind: 'redis',
    async increment(key, ttlMs, by = 1) {
      await ready();
      const [count, ttl] = (await client.eval(INCREMENT_SCRIPT, 1, key, ttlMs, by)) as [number, number];
      return { count, ttlMs: ttl > 0 ? ttl : ttlMs };
    },
    async get(key) {
      await ready();
      return (await client.get(key)) ?? undefined;
    },
    async set(key, value, ttlMs) {
      await ready();
      if (ttlMs) await client.set(key, value, 'PX', ttlMs);
      else await client.set(key, value);
    },
    async delete(key) {
      await ready();
      await client.del(key);
    },
    async publish(channel, message) {
      await ready();
      await client.publish(`${connectionOptions.keyPrefix}${channel}`, message);
    },
    async subscribe(channel, listener) {
      const fullChannel = `${connectionOptions.keyPrefix}${channel}`;
      if (!subscriber) {
        // Subscriptions wait for the connection however long it takes (and are renewed after
        // a reconnect), so an instance that boots while Redis is down still hears changes later.
        subscriber = new Redis(url, {
          ...connectionOptions,
          keyPrefix: undefined,
          enableOfflineQueue: true,
          maxRetriesPerRequest: null,
        });
        subscriber.on('error', () => {});
        subscriber.on('message', (name: string, message: string) => {
          for (const fn of listeners.get(name) ?? []) fn(message);
        });
      }
      let set = listeners.get(fullChannel);
      if (!set) {
        set = new Set();
        listeners.set(fullChannel, set);
        // Wait for the subscription while Redis answers; when it is down, go on (the command
        // stays queued) rather than hold up whoever subscribes, such as start-up.
        const subscribed = subscriber.subscribe(fullChannel).catch(() => {});
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([subscribed, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
        clearTimeout(timer);
      }
      set.add(listener);
      return async () => {
        set.delete(listener);
        if (set.size === 0) {
          listeners.delete(fullChannel);
          if (subscriber?.status === 'ready') await subscriber.unsubscribe(fullChannel);
        }
      };
    },
    async ping() {
      await ready(2000);
      await client.ping();
    },
    async close() {
      subscriber?.disconnect();
      client.disconnect();
    },
  };
}
