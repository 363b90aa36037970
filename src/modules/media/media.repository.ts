import { and, arrayOverlaps, desc, eq, inArray, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type MediaRow, media } from './media.tables.js';

export function createMediaRepository() {
  return {
    async insert(db: Db, row: typeof media.$inferInsert): Promise<MediaRow> {
      const [created] = await db.insert(media).values(row).returning();
      return created as MediaRow;
    },

    async find(db: Db, id: string): Promise<MediaRow | undefined> {
      const [row] = await db.select().from(media).where(eq(media.id, id)).limit(1);
      return row;
    },

    /** A person's uploads, newest first; `beforeId` continues a page. */
    async listFor(db: Db, userId: string, page: { beforeId?: string; limit: number }): Promise<MediaRow[]> {
      const conditions: SQL[] = [eq(media.userId, userId)];
      if (page.beforeId) conditions.push(lt(media.id, page.beforeId));
      return db
        .select()
        .from(media)
        .where(and(...conditions))
        .orderBy(desc(media.id))
        .limit(page.limit);
    },

    /** Deletes the rows; answers the keys they held. */
    async delete(db: Db, where: { id: string } | { userId: string }): Promise<{ rows: number; keys: string[] }> {
      const deleted = await db
        .delete(media)
        .where('id' in where ? eq(media.id, where.id) : eq(media.userId, where.userId))
        .returning({ keys: media.keys });
      return { rows: deleted.length, keys: deleted.flatMap((row) => row.keys) };
    },

    /** Of `ids`, those that are uploads of `userId`. */
    async idsOwnedBy(db: Db, userId: string, ids: string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await db
        .select({ id: media.id })
        .from(media)
        .where(and(eq(media.userId, userId), inArray(media.id, ids)));
      return new Set(rows.map((row) => row.id));
    },

    /** Of `keys`, those some upload still uses (an identical image uploaded twice shares its files). */
    async keysInUse(db: Db, keys: string[]): Promise<Set<string>> {
      if (keys.length === 0) return new Set();
      const rows = await db.select({ keys: media.keys }).from(media).where(arrayOverlaps(media.keys, keys));
      const wanted = new Set(keys);
      return new Set(rows.flatMap((row) => row.keys).filter((key) => wanted.has(key)));
    },
  };
}

export type MediaRepository = ReturnType<typeof createMediaRepository>;
