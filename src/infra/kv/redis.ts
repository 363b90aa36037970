import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { SpanKind, traced } from '../tracing.js';
import type { KeyValueStore } from './kv.js';

// INCRBY and the first PEXPIRE in one round trip, atomically. One key per call, so it runs on
// Redis Cluster as it is: no operation here touches two keys, and no key needs a hash tag.
const INCREMENT_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {count, ttl}`;

interface HostPort {
  host: string;
  port: number;
}

/** Where REDIS_URL points: one server (ioredis reads the URL itself), a Sentinel-watched master, or a Cluster. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; options: RedisOptions }
  | { kind: 'cluster'; nodes: HostPort[]; options: RedisOptions };

// scheme://[userinfo@]host[:port][,host[:port]...][/path][?query]
const URL_PARTS = /^([a-z+]+):\/\/(?:([^@/?#]*)@)?([^@/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/i;
const HOST_PORT = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/;

function hostList(text: string, defaultPort: number): HostPort[] {
  return text.split(',').map((entry) => {
    const match = HOST_PORT.exec(entry.trim());
    if (!match) throw new Error(`REDIS_URL: "${entry}" is not host[:port]`);
    return { host: match[1] ?? match[2] ?? '', port: match[3] ? Number(match[3]) : defaultPort };
  });
}

/** `user:password` (either may be empty, both percent-encoded) as ioredis options. */
function credentials(userinfo: string | undefined): Pick<RedisOptions, 'username' | 'password'> {
  if (!userinfo) return {};
  const colon = userinfo.indexOf(':');
  const [user, password] = colon < 0 ? ['', userinfo] : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  return {
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
}

/** The query parameters, refusing any this shape does not know (a typo must not be ignored). */
function queryOf(query: string | undefined, allowed: string[]): URLSearchParams {
  const params = new URLSearchParams(query ?? '');
  for (const name of params.keys()) {
    if (!allowed.includes(name))
      throw new Error(`REDIS_URL: unknown parameter "${name}" (known: ${allowed.join(', ') || 'none'})`);
  }
  return params;
}

/**
 * Reads REDIS_URL. `redis://` and `rediss://` go to ioredis unchanged.
 * `redis+sentinel://[user:password@]host:26379,host2:26379/master-name[?db=N&sentinelUsername=..&sentinelPassword=..]`:
 * the credentials are the master's, the sentinels' come from the parameters.
 * `redis+cluster://[user:password@]host:6379,host2:6379` (`rediss+cluster://` for TLS): any
 * reachable nodes; the rest of the cluster is discovered from them.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = /^([a-z+]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'server', url };
  const parts = URL_PARTS.exec(url);
  if (!parts) throw new Error('REDIS_URL cannot be read (percent-encode @, /, ? and # in a password)');
  const [, , userinfo, hosts = '', path = '', query] = parts;
  if (scheme === 'redis+sentinel') {
    const name = decodeURIComponent(path.replace(/^\//, ''));
    if (!name || name.includes('/')) throw new Error('REDIS_URL: redis+sentinel:// needs the master name as its path');
    const params = queryOf(query, ['db', 'sentinelUsername', 'sentinelPassword']);
    const db = params.get('db');
    if (db !== null && !/^\d+$/.test(db)) throw new Error('REDIS_URL: db must be a database number');
    const sentinelUsername = params.get('sentinelUsername');
    const sentinelPassword = params.get('sentinelPassword');
    return {
      kind: 'sentinel',
      sentinels: hostList(hosts, 26379),
      name,
      options: {
        ...credentials(userinfo),
        ...(db !== null ? { db: Number(db) } : {}),
        ...(sentinelUsername ? { sentinelUsername } : {}),
        ...(sentinelPassword ? { sentinelPassword } : {}),
      },
    };
  }
  if (scheme === 'redis+cluster' || scheme === 'rediss+cluster') {
    if (path && path !== '/') throw new Error('REDIS_URL: a Redis Cluster has one database; drop the path');
    queryOf(query, []);
    return {
      kind: 'cluster',
      nodes: hostList(hosts, 6379),
      options: { ...credentials(userinfo), ...(scheme === 'rediss+cluster' ? { tls: {} } : {}) },
    };
  }
  throw new Error(`REDIS_URL: unknown scheme "${scheme}"`);
}

type Client = Redis | Cluster;

interface ConnectionOptions {
  keyPrefix?: string;
  enableOfflineQueue: boolean;
  maxRetriesPerRequest: number | null;
  connectTimeout: number;
  commandTimeout?: number;
  retryStrategy: (attempt: number) => number;
  enableAutoPipelining: boolean;
}

/** One connection (or, for a Cluster, one connection per node) to the target. */
function connect(target: RedisTarget, options: ConnectionOptions): Client {
  if (target.kind === 'server') return new Redis(target.url, options);
  if (target.kind === 'sentinel') {
    // The failover detector listens to the sentinels and moves to a new master as soon as they
    // name one, instead of writing on to a demoted master until the connection drops.
    const sentinel = { sentinels: target.sentinels, name: target.name, failoverDetector: true };
    return new Redis({ ...target.options, ...options, ...sentinel });
  }
  const { keyPrefix, enableOfflineQueue, retryStrategy, enableAutoPipelining, ...nodeOptions } = options;
  return new Cluster(target.nodes, {
    keyPrefix,
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: retryStrategy,
    redisOptions: { ...target.options, ...nodeOptions },
    // With TLS the certificates name hosts: connect to each node by the name the cluster gives,
    // not by an address ioredis looked up first (which no certificate names).
    ...(target.options.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  });
}

/**
 * The store on Redis: one server, a master found through Sentinel, or a Cluster (see
 * parseRedisUrl). Every key and every pub/sub channel starts with `keyPrefix`: the app passes its
 * deployment's namespace (src/infra/index.ts), so deployments sharing one Redis never meet.
 */
export function createRedisStore(url: string, options: { keyPrefix?: string } = {}): KeyValueStore {
  const target = parseRedisUrl(url);
  const keyPrefix = options.keyPrefix ?? 'care:';
  const connectionOptions: ConnectionOptions = {
    keyPrefix,
    // Fail fast instead of queueing commands forever while Redis is down.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // A Redis that accepts but never answers must not hold requests (nor the health probes) forever.
    commandTimeout: 1000,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    // Commands issued in the same tick (the rate limit and the cache reads of concurrent requests)
    // go out in one write: a write per command cost about a fifth of the app's CPU under load.
    enableAutoPipelining: true,
  };
  const client = connect(target, connectionOptions);
  let subscriber: Client | undefined;
  const listeners = new Map<string, Set<(message: string) => void>>();
  // ioredis emits 'error' on every failed reconnect; health reports the outage instead.
  client.on('error', () => {});

  // While (re)connecting, a command waits briefly for the connection instead of failing at once;
  // when Redis is really down it fails fast and callers degrade (rate limits fail open).
  // Commands waiting at the same time share one wait (and one 'ready' listener).
  // Once a wait has run out, Redis is taken as down: later commands fail at once instead of each
  // waiting again, until the connection is ready.
  const waits = new Map<number, Promise<void>>();
  let down = false;
  client.on('ready', () => {
    down = false;
  });
  const ready = (timeoutMs = 1000): Promise<void> => {
    if (client.status === 'ready') return Promise.resolve();
    if (down) return Promise.reject(new Error(`redis not connected (${client.status})`));
    let wait = waits.get(timeoutMs);
    if (!wait) {
      wait = new Promise<void>((resolve, reject) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          down = true;
          reject(new Error(`redis not connected (${client.status})`));
        }, timeoutMs);
        client.once('ready', onReady);
      }).finally(() => waits.delete(timeoutMs));
      waits.set(timeoutMs, wait);
    }
    return wait;
  };

  // Waits for the connection, then runs one command in a CLIENT span while a trace is recording
  // (the command's name only: keys and values are not span attributes).
  const command = <T>(name: string, run: () => Promise<T>): Promise<T> =>
    traced(
      `redis ${name}`,
      { 'db.system': 'redis', 'db.operation': name },
      async () => {
        await ready();
        return run();
      },
      { kind: SpanKind.CLIENT },
    );

  return {
    kind: 'redis',
    increment: (key, ttlMs, by = 1) =>
      command('EVAL', async () => {
        const [count, ttl] = (await client.eval(INCREMENT_SCRIPT, 1, key, ttlMs, by)) as [number, number];
        return { count, ttlMs: ttl > 0 ? ttl : ttlMs };
      }),
    get: (key) => command('GET', async () => (await client.get(key)) ?? undefined),
    set: (key, value, ttlMs) =>
      command('SET', async () => {
        if (ttlMs) await client.set(key, value, 'PX', ttlMs);
        else await client.set(key, value);
      }),
    delete: (key) =>
      command('DEL', async () => {
        await client.del(key);
      }),
    // A channel is not a key: ioredis leaves it alone, so the namespace is added here.
    publish: (channel, message) =>
      command('PUBLISH', async () => {
        await client.publish(`${keyPrefix}${channel}`, message);
      }),
    async subscribe(channel, listener) {
      const fullChannel = `${keyPrefix}${channel}`;
      if (!subscriber) {
        // Subscriptions wait for the connection however long it takes (and are renewed after
        // a reconnect), so an instance that boots while Redis is down still hears changes later.
        subscriber = connect(target, {
          ...connectionOptions,
          keyPrefix: undefined,
          enableOfflineQueue: true,
          maxRetriesPerRequest: null,
          // A queued SUBSCRIBE waits for the connection, however long.
          commandTimeout: undefined,
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
