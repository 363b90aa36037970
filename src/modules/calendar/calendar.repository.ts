import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type CalendarFeedRow, calendarFeeds } from './calendar.tables.js';

export function createCalendarRepository() {
  return {
    async findByUser(db: Db, userId: string): Promise<CalendarFeedRow | undefined> {
      const [row] = await db.select().from(calendarFeeds).where(eq(calendarFeeds.userId, userId)).limit(1);
      return row;
    },

    /** The feed whose token hashes to this, by the unique index: the same one lookup whether it exists or not. */
    async findByTokenHash(db: Db, tokenHash: string): Promise<CalendarFeedRow | undefined> {
      const [row] = await db.select().from(calendarFeeds).where(eq(calendarFeeds.tokenHash, tokenHash)).limit(1);
      return row;
    },

    /**
     * Sets the person's token: a new row, or the old token replaced in one statement (so two
     * rotations at once leave exactly one of their tokens). `created` says which (`xmax = 0`
     * holds for a row this statement inserted).
     */
    async upsert(
      db: Db,
      row: { userId: string; tokenHash: string; now: Date },
    ): Promise<CalendarFeedRow & { created: boolean }> {
      const [saved] = await db
        .insert(calendarFeeds)
        .values({ userId: row.userId, tokenHash: row.tokenHash, createdAt: row.now, rotatedAt: row.now })
        .onConflictDoUpdate({
          target: calendarFeeds.userId,
          set: { tokenHash: row.tokenHash, rotatedAt: row.now },
        })
        .returning({
          userId: calendarFeeds.userId,
          tokenHash: calendarFeeds.tokenHash,
          createdAt: calendarFeeds.createdAt,
          rotatedAt: calendarFeeds.rotatedAt,
          created: sql<boolean>`(xmax = 0)`,
        });
      return saved as CalendarFeedRow & { created: boolean };
    },

    async delete(db: Db, userId: string): Promise<number> {
      const rows = await db
        .delete(calendarFeeds)
        .where(eq(calendarFeeds.userId, userId))
        .returning({ userId: calendarFeeds.userId });
      return rows.length;
    },
  };
}

export type CalendarRepository = ReturnType<typeof createCalendarRepository>;
