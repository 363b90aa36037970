import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm';
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

    /** Her events of the given names per ISO week (Monday, UTC) since `since`. */
    async weeklyCounts(db: Db, userId: string, names: string[], since: Date) {
      const week = sql<string>`to_char(date_trunc('week', ${productEvents.occurredAt} at time zone 'UTC'), 'YYYY-MM-DD')`;
      const rows = await db
        .select({ week, name: productEvents.name, count: sql<number>`count(*)::int` })
        .from(productEvents)
        .where(
          and(
            eq(productEvents.userId, userId),
            inArray(productEvents.name, names),
            gte(productEvents.occurredAt, since),
          ),
        )
        .groupBy(week, productEvents.name)
        .orderBy(week);
      return rows.map((row) => ({ week: row.week, name: row.name, count: Number(row.count) }));
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
