import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type SupportRequestRow, supportRequests } from './support.tables.js';

export function createSupportRepository() {
  return {
    async insert(db: Db, row: typeof supportRequests.$inferInsert): Promise<SupportRequestRow> {
      const [created] = await db.insert(supportRequests).values(row).returning();
      return created as SupportRequestRow;
    },

    /** Newest first; `beforeId` continues a page. */
    async list(
      db: Db,
      filters: { priority?: boolean; status?: 'open' | 'closed'; userId?: string; beforeId?: string; limit: number },
    ): Promise<SupportRequestRow[]> {
      const conditions: SQL[] = [];
      if (filters.priority !== undefined) conditions.push(eq(supportRequests.priority, filters.priority));
      if (filters.status) conditions.push(eq(supportRequests.status, filters.status));
      if (filters.userId) conditions.push(eq(supportRequests.userId, filters.userId));
      if (filters.beforeId) conditions.push(lt(supportRequests.id, filters.beforeId));
      return db
        .select()
        .from(supportRequests)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(supportRequests.id))
        .limit(filters.limit);
    },

    async deleteFor(db: Db, userId: string): Promise<number> {
      const rows = await db
        .delete(supportRequests)
        .where(eq(supportRequests.userId, userId))
        .returning({ id: supportRequests.id });
      return rows.length;
    },
  };
}

export type SupportRepository = ReturnType<typeof createSupportRepository>;
