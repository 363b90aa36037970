import { and, count, desc, eq, isNull, lt, lte, ne, type SQL } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type BookingMessageRow, bookingMessages } from './bookings.tables.js';

/** The booking chat's queries (its own table). */
export function createChatRepository() {
  return {
    async insert(db: Db, row: BookingMessageRow): Promise<BookingMessageRow> {
      const [saved] = await db.insert(bookingMessages).values(row).returning();
      return saved as BookingMessageRow;
    },

    /** Newest first, before `beforeId` when given. */
    async list(db: Db, bookingId: string, options: { beforeId?: string; limit: number }): Promise<BookingMessageRow[]> {
      const conditions: SQL[] = [eq(bookingMessages.bookingId, bookingId)];
      if (options.beforeId) conditions.push(lt(bookingMessages.id, options.beforeId));
      return db
        .select()
        .from(bookingMessages)
        .where(and(...conditions))
        .orderBy(desc(bookingMessages.id))
        .limit(options.limit);
    },

    /** Messages from the other party not yet read by `reader`. */
    async countUnread(db: Db, bookingId: string, reader: 'customer' | 'provider'): Promise<number> {
      const [row] = await db
        .select({ n: count() })
        .from(bookingMessages)
        .where(
          and(
            eq(bookingMessages.bookingId, bookingId),
            ne(bookingMessages.senderRole, reader),
            isNull(bookingMessages.readAt),
          ),
        );
      return Number(row?.n ?? 0);
    },

    /** Marks the other party's messages (up to `upToId`) read by `reader`; the ids marked. */
    async markRead(
      db: Db,
      bookingId: string,
      reader: 'customer' | 'provider',
      at: Date,
      upToId?: string,
    ): Promise<string[]> {
      const conditions: SQL[] = [
        eq(bookingMessages.bookingId, bookingId),
        ne(bookingMessages.senderRole, reader),
        isNull(bookingMessages.readAt),
      ];
      if (upToId) conditions.push(lte(bookingMessages.id, upToId));
      const rows = await db
        .update(bookingMessages)
        .set({ readAt: at })
        .where(and(...conditions))
        .returning({ id: bookingMessages.id });
      return rows.map((row) => row.id);
    },

    async listBySender(db: Db, senderId: string): Promise<BookingMessageRow[]> {
      return db
        .select()
        .from(bookingMessages)
        .where(eq(bookingMessages.senderId, senderId))
        .orderBy(bookingMessages.id);
    },

    /** The sender is erased: their messages stay in the thread as "removed", without text or sender. */
    async eraseSender(db: Db, senderId: string): Promise<number> {
      const rows = await db
        .update(bookingMessages)
        .set({ senderId: null, body: null })
        .where(eq(bookingMessages.senderId, senderId))
        .returning({ id: bookingMessages.id });
      return rows.length;
    },
  };
}

export type ChatRepository = ReturnType<typeof createChatRepository>;
