import type { Db, Tx } from './client.js';

// serialization_failure, deadlock_detected: safe to run the whole transaction again.
const RETRYABLE = new Set(['40001', '40P01']);

function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export { sqlState };

/**
 * Runs `work` in one transaction. Serialization failures and deadlocks are retried
 * (the work must not have side effects outside the transaction — use the outbox).
 */
export async function inTransaction<T>(
  db: Db,
  work: (tx: Tx) => Promise<T>,
  options: { isolationLevel?: 'read committed' | 'repeatable read' | 'serializable'; retries?: number } = {},
): Promise<T> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction(
        work,
        options.isolationLevel ? { isolationLevel: options.isolationLevel } : undefined,
      );
    } catch (error) {
      const state = sqlState(error);
      if (attempt >= retries || !state || !RETRYABLE.has(state)) throw error;
    }
  }
}
