import type { Db, Tx } from './client.js';
import { isRetryableConflict } from './errors.js';

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
      if (attempt >= retries || !isRetryableConflict(error)) throw error;
    }
  }
}
