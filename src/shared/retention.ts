import type { Db } from '../infra/db/client.js';

/**
 * One kind of data whose retention period ran out: `run` removes it and says how many rows.
 * Modules declare theirs in their descriptor; the retention job (src/jobs/retention.ts) runs
 * each in its own transaction under an advisory lock.
 */
export interface RetentionRule {
  name: string;
  run(tx: Db, now: Date): Promise<number>;
}
