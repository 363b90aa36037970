import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { PersonalDataEntry } from '../privacy/data-map.js';
import { createAnalyticsRepository } from './analytics.repository.js';
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

/** Product events linked to her; erasure unlinks them so aggregates stay correct. */
export function analyticsDataMapEntry(repository = createAnalyticsRepository()): PersonalDataEntry {
  return {
    module: 'analytics',
    description: 'Product events from your use of the service (event name, properties, time)',
    purposes: ['improving the product', 'counting usage in aggregate'],
    legalBasis: 'consent (analytics) for client events; legitimate interest for server-side counts',
    retention: 'raw events until the analytics roll-up; unlinked from you when you are erased',
    tables: ['product_events'],
    async export(tx, userId) {
      const rows = await repository.eventsOf(tx, userId);
      return rows.map((row) => ({
        name: row.name,
        properties: row.properties,
        occurred_at: row.occurredAt.toISOString(),
      }));
    },
    async erase(tx, userId) {
      return {
        action: 'pseudonymised',
        rows: await repository.unlinkEvents(tx, userId),
        note: 'events unlinked from you',
      };
    },
  };
}

/** A person's own engagement, from her events (the premium insights read this). */
export function createEngagementStats(deps: { db: Db }, repository = createAnalyticsRepository()) {
  return {
    weekly: (userId: string, names: string[], since: Date) => repository.weeklyCounts(deps.db, userId, names, since),
  };
}

export type EngagementStats = ReturnType<typeof createEngagementStats>;
