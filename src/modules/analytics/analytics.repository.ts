import { asc, eq } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { productEvents } from './analytics.tables.js';

export function createAnalyticsRepository() {
  return {
    async eventsOf(db: Db, userId: string) {
      return db
        .select({
          name: productEvents.name,
          properties: productEvents.properties,
          occurredAt: productEvents.occurredAt,
        })
        .from(productEvents)
        .where(eq(productEvents.userId, userId))
        .orderBy(asc(productEvents.occurredAt));
    },

    /** Unlinks her events: they still count in aggregates, but no longer point at anyone. */
    async unlinkEvents(db: Db, userId: string): Promise<number> {
      const rows = await db
        .update(productEvents)
        .set({ userId: null })
        .where(eq(productEvents.userId, userId))
        .returning({ id: productEvents.id });
      return rows.length;
    },
  };
}
