import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import { productEvents } from './analytics.tables.js';

/** Records a product event inside the caller's transaction: it exists exactly when the action commits. */
export type Track = (
  tx: Db,
  name: string,
  userId: string | null,
  properties?: Record<string, unknown>,
) => Promise<void>;

export function createTracker(deps: { clock: Clock; ids: IdGenerator }): Track {
  return async (tx, name, userId, properties = {}) => {
    await tx.insert(productEvents).values({
      id: deps.ids(),
      name,
      userId,
      properties,
      occurredAt: deps.clock.now(),
    });
  };
}
