import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { clientKey } from '../../shared/ip.js';

export const MAX_ACCOUNT_FAILURES = 5;
const FAILURE_MEMORY_MS = 12 * 60 * 60 * 1000;
// Reservations only bound the checks in flight; one that never finished (an error mid-check)
// frees itself after this, while failures are remembered for 12 hours by their own counter.
const RESERVATION_MS = 60_000;
const FIRST_LOCK_MS = 60_000;
const MAX_LOCK_MS = 15 * 60_000;
const IP_WINDOW_MS = 10 * 60_000;

export interface LoginGuardOptions {
  /** Delay after the 2nd failure of an account or address, doubling per further failure (0: none). */
  delayBaseMs: number;
  delayMaxMs: number;
  ipv6PrefixLength: number;
}

/**
 * Brute-force protection, counted atomically in the shared store (Redis when configured):
 * - per account (any email, known or not): a try is reserved *before* the password is checked,
 *   so however many attempts run in parallel, at most 5 are checked before the lock; the 5th
 *   failure locks the account 1 minute, doubling per further lockout up to 15 minutes; counts
 *   reset on success or after 12 hours;
 * - progressive delay: from the 2nd failure of an account, or of an address within 10 minutes,
 *   the answer waits `delayBaseMs`, doubling per failure up to `delayMaxMs` (a timer: no thread
 *   is held);
 * - per address: every failure also counts towards the security monitor's score, which blocks
 *   the address (403 IP_BLOCKED) at its threshold.
 */
export function createLoginGuard(deps: { kv: KeyValueStore; clock: Clock; options: LoginGuardOptions }) {
  const { kv, clock, options } = deps;
  const keys = {
    tries: (account: string) => `auth:tries:${account}`,
    failures: (account: string) => `auth:failures:${account}`,
    lock: (account: string) => `auth:lock:${account}`,
    lockouts: (account: string) => `auth:lockouts:${account}`,
    ipFailures: (ip: string) => `auth:ipfail:${clientKey(ip, options.ipv6PrefixLength)}`,
  };

  const locked = (untilMs: number) => {
    const seconds = Math.max(1, Math.ceil((untilMs - clock.now().getTime()) / 1000));
    return new AppError(
      'ACCOUNT_LOCKED',
      `Too many failed sign-in attempts: this account is locked for ${seconds} seconds. You can still reset your password.`,
      { headers: { 'retry-after': String(seconds) } },
    );
  };

  const delayFor = (failures: number) =>
    options.delayBaseMs <= 0 || failures < 2
      ? 0
      : Math.min(options.delayMaxMs, options.delayBaseMs * 2 ** Math.min(failures - 2, 20));

  return {
    /** Throws ACCOUNT_LOCKED, or reserves one try for this attempt. */
    async reserveAttempt(account: string): Promise<void> {
      const lockedUntil = await kv.get(keys.lock(account));
      if (lockedUntil) throw locked(Number(lockedUntil));
      const { count } = await kv.increment(keys.tries(account), RESERVATION_MS);
      if (count > MAX_ACCOUNT_FAILURES) {
        // Others in flight used the remaining tries; the lock is being (or was just) set.
        throw locked(clock.now().getTime() + FIRST_LOCK_MS);
      }
    },

    /**
     * Records a failed check: the lock duration when this failure locked the account, and how
     * long to wait before answering.
     */
    async recordFailure(account: string, ip: string | null): Promise<{ lockedForMs?: number; delayMs: number }> {
      const now = clock.now().getTime();
      const ipFailures = ip ? (await kv.increment(keys.ipFailures(ip), IP_WINDOW_MS)).count : 0;
      // Counted atomically: of failures finishing together, exactly one is the 5th and locks.
      const { count: failures } = await kv.increment(keys.failures(account), FAILURE_MEMORY_MS);
      const delayMs = delayFor(Math.max(failures, ipFailures));
      if (failures !== MAX_ACCOUNT_FAILURES) return { delayMs };
      const { count: lockouts } = await kv.increment(keys.lockouts(account), FAILURE_MEMORY_MS);
      const duration = Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 2 ** (lockouts - 1));
      await kv.set(keys.lock(account), String(now + duration), duration);
      await Promise.all([kv.delete(keys.tries(account)), kv.delete(keys.failures(account))]);
      return { lockedForMs: duration, delayMs };
    },

    /** A successful sign-in or password reset clears the account's counters and lock. */
    async clear(account: string): Promise<void> {
      await Promise.all([keys.tries, keys.failures, keys.lockouts, keys.lock].map((key) => kv.delete(key(account))));
    },
  };
}

export type LoginGuard = ReturnType<typeof createLoginGuard>;
