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
    /** Deletes the rows; answers what they were (id and purpose) and the keys they held. */
    async delete(
      db: Db,
      where: { id: string } | { userId: string },
    ): Promise<{ rows: Pick<MediaRow, 'id' | 'purpose'>[]; keys: string[] }> {
      const deleted = await db
        .delete(media)
        .where('id' in where ? eq(media.id, where.id) : eq(media.userId, where.userId))
        .returning({ id: media.id, purpose: media.purpose, keys: media.keys });
      return {
        rows: deleted.map(({ id, purpose }) => ({ id, purpose })),
        keys: deleted.flatMap((row) => row.keys),
      };
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

    /**
     * These uploads' owner and purpose, each row locked FOR KEY SHARE until the caller's transaction
     * ends: a concurrent delete waits for the link being written, then unlinks it (ON DELETE SET NULL
     * or CASCADE), so a link never points at a row deleted between the check and the write.
     */
    async lockForLink(db: Db, ids: string[]): Promise<Pick<MediaRow, 'id' | 'userId' | 'purpose'>[]> {
      if (ids.length === 0) return [];
      return db
        .select({ id: media.id, userId: media.userId, purpose: media.purpose })
        .from(media)
        .where(inArray(media.id, ids))
        .for('key share');
    },

    /** These uploads (ids that are none are left out), in one read. */
    async findMany(db: Db, ids: string[]): Promise<MediaRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(media).where(inArray(media.id, ids));
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
