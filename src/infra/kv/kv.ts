/**
 * Shared state that must be the same for every app instance: counters with a TTL
 * (rate limits, lockouts), cached values, and pub/sub for cross-instance invalidation.
 * In memory by default; Redis when REDIS_URL is set (one server, Sentinel or Cluster), where
 * every key and channel lies in the deployment's namespace (docs/redis.md). Keys under `auth:`
 * and `sec:` are security state: the memory store never evicts them, and Redis must run with
 * `maxmemory-policy noeviction` (or a `volatile-*` policy with room to spare) so it does not
 * either.
 */
export interface KeyValueStore {
  readonly kind: 'memory' | 'redis';
  /** Atomically adds `by` (default 1, an integer) to `key`; the first increment starts a TTL of `ttlMs`. */
  increment(key: string, ttlMs: number, by?: number): Promise<{ count: number; ttlMs: number }>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
