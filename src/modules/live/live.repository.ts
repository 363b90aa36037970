import { and, asc, eq, gt, lt } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type LiveEventRow, liveEvents } from './live.tables.js';

export function createLiveRepository() {
  return {
    async insert(db: Db, rows: LiveEventRow[]): Promise<void> {
      if (rows.length > 0) await db.insert(liveEvents).values(rows);
    },

    /** The person's messages after `afterId` and since `since`, oldest first. */
    async after(db: Db, userId: string, afterId: string, since: Date, limit: number): Promise<LiveEventRow[]> {
      return db
        .select()
        .from(liveEvents)
        .where(and(eq(liveEvents.userId, userId), gt(liveEvents.id, afterId), gt(liveEvents.createdAt, since)))
        .orderBy(asc(liveEvents.id))
        .limit(limit);
    },

    /** Whether the person's message `id` is still kept (created since `since`). */
    async has(db: Db, userId: string, id: string, since: Date): Promise<boolean> {
      const rows = await db
        .select({ id: liveEvents.id })
        .from(liveEvents)
        .where(and(eq(liveEvents.userId, userId), eq(liveEvents.id, id), gt(liveEvents.createdAt, since)))
        .limit(1);
      return rows.length > 0;
    },

    async listForUser(db: Db, userId: string): Promise<LiveEventRow[]> {
      return db.select().from(liveEvents).where(eq(liveEvents.userId, userId)).orderBy(asc(liveEvents.id));
    },

    async deleteForUser(db: Db, userId: string): Promise<number> {
      const deleted = await db.delete(liveEvents).where(eq(liveEvents.userId, userId)).returning({ id: liveEvents.id });
      return deleted.length;
    },

    async deleteBefore(db: Db, before: Date): Promise<number> {
      const deleted = await db
        .delete(liveEvents)
        .where(lt(liveEvents.createdAt, before))
        .returning({ id: liveEvents.id });
      return deleted.length;
    },
  };
}

export type LiveRepository = ReturnType<typeof createLiveRepository>;
