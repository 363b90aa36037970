import { and, desc, eq, lt } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type DataExportRow, dataExports, erasureReceipts } from './privacy.tables.js';

export function createPrivacyRepository() {
  return {
    async insertExport(db: Db, row: typeof dataExports.$inferInsert): Promise<DataExportRow> {
      const [created] = await db.insert(dataExports).values(row).returning();
      return created as DataExportRow;
    },

    async findExport(db: Db, id: string): Promise<DataExportRow | undefined> {
      const [row] = await db.select().from(dataExports).where(eq(dataExports.id, id)).limit(1);
      return row;
    },

    async pendingExportOf(db: Db, userId: string): Promise<DataExportRow | undefined> {
      const [row] = await db
        .select()
        .from(dataExports)
        .where(and(eq(dataExports.userId, userId), eq(dataExports.status, 'pending')))
        .limit(1);
      return row;
    },

    async exportsOf(db: Db, userId: string): Promise<DataExportRow[]> {
      return db.select().from(dataExports).where(eq(dataExports.userId, userId)).orderBy(desc(dataExports.id));
    },

    async completeExport(
      db: Db,
      id: string,
      patch: Pick<DataExportRow, 'status' | 'document' | 'error' | 'completedAt' | 'expiresAt'>,
    ): Promise<void> {
      await db
        .update(dataExports)
        .set(patch)
        .where(and(eq(dataExports.id, id), eq(dataExports.status, 'pending')));
    },

    async deleteExportsOf(db: Db, userId: string): Promise<number> {
      const rows = await db.delete(dataExports).where(eq(dataExports.userId, userId)).returning({ id: dataExports.id });
      return rows.length;
    },

    /** Ready documents past their expiry lose the document and say so. */
    async expireExports(db: Db, now: Date): Promise<number> {
      const rows = await db
        .update(dataExports)
        .set({ status: 'expired', document: null })
        .where(and(eq(dataExports.status, 'ready'), lt(dataExports.expiresAt, now)))
        .returning({ id: dataExports.id });
      return rows.length;
    },

    async insertReceipt(db: Db, row: typeof erasureReceipts.$inferInsert): Promise<void> {
      await db.insert(erasureReceipts).values(row);
    },
  };
}

export type PrivacyRepository = ReturnType<typeof createPrivacyRepository>;
