import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';

export const MAX_ACCOUNT_FAILURES = 5;
const FAILURE_MEMORY_MS = 12 * 60 * 60 * 1000;
// Reservations only bound the checks in flight; one that never finished (an error mid-check)
// frees itself after this, while failures are remembered for 12 hours by their own counter.
const RESERVATION_MS = 60_000;
const FIRST_LOCK_MS = 60_000;
const MAX_LOCK_MS = 15 * 60_000;
export const MAX_IP_FAILURES = 20;
const IP_WINDOW_MS = 10 * 60_000;
const IP_BLOCK_MS = 15 * 60_000;

/**
 * Brute-force protection, counted atomically in the shared store (Redis when configured):
 * - per account (any email, known or not): a try is reserved *before* the password is checked,
 *   so however many attempts run in parallel, at most 5 are checked before the lock; the 5th
 *   failure locks the account 1 minute, doubling per further lockout up to 15 minutes; counts
 *   reset on success or after 12 hours;
 * - per IP: 20 failures in 10 minutes block the address for 15 minutes.
 */
export function createLoginGuard(deps: { kv: KeyValueStore; clock: Clock }) {
  const { kv, clock } = deps;
  const keys = {
    tries: (account: string) => `auth:tries:${account}`,
    failures: (account: string) => `auth:failures:${account}`,
    lock: (account: string) => `auth:lock:${account}`,
    lockouts: (account: string) => `auth:lockouts:${account}`,
    ipFailures: (ip: string) => `auth:ipfail:${ip}`,
    ipBlock: (ip: string) => `auth:ipblock:${ip}`,
  };

  const locked = (untilMs: number) => {
    const seconds = Math.max(1, Math.ceil((untilMs - clock.now().getTime()) / 1000));
    return new AppError(
      'ACCOUNT_LOCKED',
      `Too many failed sign-in attempts: this account is locked for ${seconds} seconds. You can still reset your password.`,
      { headers: { 'retry-after': String(seconds) } },
    );
  };

  return {
    /** Throws IP_BLOCKED / ACCOUNT_LOCKED, or reserves one try for this attempt. */
    async reserveAttempt(account: string, ip: string | null): Promise<void> {
      if (ip) {
        const blockedUntil = await kv.get(keys.ipBlock(ip));
        if (blockedUntil) {
          const seconds = Math.max(1, Math.ceil((Number(blockedUntil) - clock.now().getTime()) / 1000));
          throw new AppError('IP_BLOCKED', 'Too many failed sign-in attempts from this address; try again later', {
            headers: { 'retry-after': String(seconds) },
          });
        }
      }
      const lockedUntil = await kv.get(keys.lock(account));
      if (lockedUntil) throw locked(Number(lockedUntil));
      const { count } = await kv.increment(keys.tries(account), RESERVATION_MS);
      if (count > MAX_ACCOUNT_FAILURES) {
        // Others in flight used the remaining tries; the lock is being (or was just) set.
        throw locked(clock.now().getTime() + FIRST_LOCK_MS);
      }
    },

    /** Records a failed check; returns the lock duration when this failure locked the account. */
    async recordFailure(account: string, ip: string | null): Promise<number | undefined> {
      const now = clock.now().getTime();
      if (ip) {
        const { count } = await kv.increment(keys.ipFailures(ip), IP_WINDOW_MS);
        if (count >= MAX_IP_FAILURES) await kv.set(keys.ipBlock(ip), String(now + IP_BLOCK_MS), IP_BLOCK_MS);
      }
      // Counted atomically: of failures finishing together, exactly one is the 5th and locks.
      const { count: failures } = await kv.increment(keys.failures(account), FAILURE_MEMORY_MS);
      if (failures !== MAX_ACCOUNT_FAILURES) return undefined;
      const { count: lockouts } = await kv.increment(keys.lockouts(account), FAILURE_MEMORY_MS);
      const duration = Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 2 ** (lockouts - 1));
      await kv.set(keys.lock(account), String(now + duration), duration);
      await Promise.all([kv.delete(keys.tries(account)), kv.delete(keys.failures(account))]);
      return duration;
    },

    /** A successful sign-in or password reset clears the account's counters and lock. */
    async clear(account: string): Promise<void> {
      await Promise.all([keys.tries, keys.failures, keys.lockouts, keys.lock].map((key) => kv.delete(key(account))));
    },
  };
}

export type LoginGuard = ReturnType<typeof createLoginGuard>;
