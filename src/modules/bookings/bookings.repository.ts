import { and, asc, desc, eq, gt, gte, inArray, lt, ne, or, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import type { Busy } from './bookings.slots.js';
import {
  type AvailabilityRow,
  availability,
  type BookingRow,
  type BookingStatus,
  bookings,
  type ReviewRow,
  reviews,
  waitlistEntries,
} from './bookings.tables.js';

// Bookings that hold their time: the exclusion constraint counts the same ones.
export const ACTIVE_STATUSES: BookingStatus[] = ['pending_payment', 'pending', 'confirmed'];
// Written out as literals (constants, never input), so the planner matches the constraint's partial index.
const ACTIVE_STATUS_LIST = sql.raw(ACTIVE_STATUSES.map((status) => `'${status}'`).join(', '));

/**
 * Serialises making a waitlist offer (exclusive) with booking a provider's time (shared): bookings
 * do not wait for each other, but one being checked and made waits for an offer being made, and
 * the other way round, so an offer and a booking can never both take the same time.
 */
export async function lockOffers(db: Db, providerId: string, mode: 'shared' | 'exclusive'): Promise<void> {
  const key = sql`hashtextextended(${`waitlist-offers:${providerId}`}, 0)`;
  await db.execute(
    mode === 'shared' ? sql`select pg_advisory_xact_lock_shared(${key})` : sql`select pg_advisory_xact_lock(${key})`,
  );
}

/** A keyset position in a list ordered by (starts_at, id). */
export interface BookingCursor {
  startsAt: Date;
  id: string;
}

export interface BookingListFilter {
  customerId?: string;
  providerId?: string;
  status?: BookingStatus;
  statuses?: BookingStatus[];
  from?: Date;
  to?: Date;
  /** Newest first (default) or oldest first (a calendar). */
  order?: 'asc' | 'desc';
  after?: BookingCursor;
  limit: number;
}

export function createBookingsRepository() {
  return {
    async availability(db: Db, providerId: string): Promise<AvailabilityRow | undefined> {
      const [row] = await db.select().from(availability).where(eq(availability.providerId, providerId)).limit(1);
      return row;
    },

    async saveAvailability(db: Db, row: AvailabilityRow): Promise<AvailabilityRow> {
      const [saved] = await db
        .insert(availability)
        .values(row)
        .onConflictDoUpdate({
          target: availability.providerId,
          set: {
            timeZone: row.timeZone,
            weekly: row.weekly,
            breaks: row.breaks,
            exceptions: row.exceptions,
            updatedAt: row.updatedAt,
          },
        })
        .returning();
      return saved as AvailabilityRow;
    },

    /**
     * What a provider's open start times are computed from, in one round trip: the schedule and
     * the blocks (epoch ms, by start) of the active bookings, and of the times held by waitlist
     * offers, that overlap [from, until). Undefined while the provider has no schedule. The
     * bookings' overlap is written as the exclusion constraint's own expression, so its GiST index
     * finds the blocks however long the history; the offers come from their partial index.
     */
    async slotInputs(
      db: Db,
      providerId: string,
      from: Date,
      until: Date,
    ): Promise<
      (Pick<AvailabilityRow, 'timeZone' | 'weekly' | 'breaks' | 'exceptions'> & { busy: Busy[] }) | undefined
    > {
      // Columns by alias: in a one-table select Drizzle names them unqualified, which inside the
      // subquery would mean the bookings' own.
      const busy = sql<[number, number][]>`coalesce((
        select json_agg(json_build_array(
          floor(extract(epoch from t.block_from) * 1000)::bigint,
          floor(extract(epoch from t.block_until) * 1000)::bigint
        ) order by t.block_from)
        from (
          select b.blocks_from as block_from, b.blocks_until as block_until
          from ${bookings} b
          where b.provider_id = ${providerId}
            and b.status in (${ACTIVE_STATUS_LIST})
            and tstzrange(b.blocks_from, b.blocks_until, '[)')
              && tstzrange(${from.toISOString()}::timestamptz, ${until.toISOString()}::timestamptz, '[)')
          union all
          select w.offer_starts_at, w.offer_blocks_until
          from ${waitlistEntries} w
          where w.provider_id = ${providerId}
            and w.status = 'offered'
            and w.offer_starts_at < ${until.toISOString()}::timestamptz
            and w.offer_blocks_until > ${from.toISOString()}::timestamptz
        ) t
      ), '[]'::json)`;
      const [row] = await db
        .select({
          timeZone: availability.timeZone,
          weekly: availability.weekly,
          breaks: availability.breaks,
          exceptions: availability.exceptions,
          busy,
        })
        .from(availability)
        .where(eq(availability.providerId, providerId))
        .limit(1);
      return (
        row && { ...row, busy: row.busy.map(([blockFrom, blockUntil]) => ({ from: blockFrom, until: blockUntil })) }
      );
    },

    /**
     * Whether a waitlist offer to someone other than `holder` holds time in [from, until), after
     * waiting for an offer being made for this provider (lockOffers): one query on the offers'
     * partial index.
     */
    async offerHolds(db: Db, providerId: string, from: Date, until: Date, holder?: string): Promise<boolean> {
      await lockOffers(db, providerId, 'shared');
      const [row] = await db
        .select({ id: waitlistEntries.id })
        .from(waitlistEntries)
        .where(
          and(
            eq(waitlistEntries.providerId, providerId),
            // A literal, so the planner matches the partial index waitlist_entries_offers_idx.
            sql`${waitlistEntries.status} = 'offered'`,
            lt(waitlistEntries.offerStartsAt, until),
            gt(waitlistEntries.offerBlocksUntil, from),
            holder ? ne(waitlistEntries.userId, holder) : undefined,
          ),
        )
        .limit(1);
      return row !== undefined;
    },

    async insert(db: Db, row: typeof bookings.$inferInsert): Promise<BookingRow> {
      const [created] = await db.insert(bookings).values(row).returning();
      return created as BookingRow;
    },

    async find(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<BookingRow | undefined> {
      return firstRow(db.select().from(bookings).where(eq(bookings.id, id)).limit(1), options);
    },

    /** Unpaid bookings whose hold has run out, oldest first. */
    async expiredHolds(db: Db, now: Date, limit: number): Promise<string[]> {
      const rows = await db
        .select({ id: bookings.id })
        .from(bookings)
        .where(and(eq(bookings.status, 'pending_payment'), lt(bookings.paymentDueAt, now)))
        .orderBy(asc(bookings.paymentDueAt))
        .limit(limit);
      return rows.map((row) => row.id);
    },

    async update(db: Db, id: string, patch: Partial<typeof bookings.$inferInsert>): Promise<BookingRow> {
      const [row] = await db.update(bookings).set(patch).where(eq(bookings.id, id)).returning();
      return row as BookingRow;
    },

    async list(db: Db, filter: BookingListFilter): Promise<BookingRow[]> {
      const ascending = filter.order === 'asc';
      const conditions = [
        filter.customerId ? eq(bookings.customerId, filter.customerId) : undefined,
        filter.providerId ? eq(bookings.providerId, filter.providerId) : undefined,
        filter.status ? eq(bookings.status, filter.status) : undefined,
        filter.statuses ? inArray(bookings.status, filter.statuses) : undefined,
        filter.from ? gte(bookings.startsAt, filter.from) : undefined,
        filter.to ? lt(bookings.startsAt, filter.to) : undefined,
        filter.after
          ? ascending
            ? or(
                gt(bookings.startsAt, filter.after.startsAt),
                and(eq(bookings.startsAt, filter.after.startsAt), gt(bookings.id, filter.after.id)),
              )
            : or(
                lt(bookings.startsAt, filter.after.startsAt),
                and(eq(bookings.startsAt, filter.after.startsAt), lt(bookings.id, filter.after.id)),
              )
          : undefined,
      ];
      const order = ascending
        ? [asc(bookings.startsAt), asc(bookings.id)]
        : [desc(bookings.startsAt), desc(bookings.id)];
      return db
        .select()
        .from(bookings)
        .where(and(...conditions))
        .orderBy(...order)
        .limit(filter.limit);
    },

    /** How many of a provider's bookings starting in [from, to) are in each status. */
    async countByStatus(db: Db, providerId: string, from: Date, to: Date) {
      return db
        .select({ status: bookings.status, n: sql<number>`count(*)::int` })
        .from(bookings)
        .where(and(eq(bookings.providerId, providerId), gte(bookings.startsAt, from), lt(bookings.startsAt, to)))
        .groupBy(bookings.status);
    },

    async listForCustomer(db: Db, customerId: string): Promise<BookingRow[]> {
      return db.select().from(bookings).where(eq(bookings.customerId, customerId)).orderBy(asc(bookings.startsAt));
    },

    /** Erasure: the provider keeps the visit, without who the customer was or the customer's note. */
    async pseudonymiseCustomer(db: Db, customerId: string): Promise<number> {
      const rows = await db
        .update(bookings)
        .set({ customerId: null, note: null })
        .where(eq(bookings.customerId, customerId))
        .returning({ id: bookings.id });
      return rows.length;
    },

    async insertReview(db: Db, row: typeof reviews.$inferInsert): Promise<ReviewRow | undefined> {
      const [created] = await db.insert(reviews).values(row).onConflictDoNothing().returning();
      return created;
    },

    async findReview(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<ReviewRow | undefined> {
      return firstRow(db.select().from(reviews).where(eq(reviews.id, id)).limit(1), options);
    },

    async reviewOfBooking(db: Db, bookingId: string): Promise<ReviewRow | undefined> {
      const [row] = await db.select().from(reviews).where(eq(reviews.bookingId, bookingId)).limit(1);
      return row;
    },

    async updateReview(db: Db, id: string, patch: Partial<typeof reviews.$inferInsert>): Promise<ReviewRow> {
      const [row] = await db.update(reviews).set(patch).where(eq(reviews.id, id)).returning();
      return row as ReviewRow;
    },

    /** A provider's visible reviews, newest first (ids are time-ordered UUIDv7). */
    async visibleReviews(db: Db, providerId: string, beforeId: string | undefined, limit: number) {
      return db
        .select()
        .from(reviews)
        .where(
          and(
            eq(reviews.providerId, providerId),
            eq(reviews.visible, true),
            beforeId ? lt(reviews.id, beforeId) : undefined,
          ),
        )
        .orderBy(desc(reviews.id))
        .limit(limit);
    },

    async reviewsByCustomer(db: Db, customerId: string): Promise<ReviewRow[]> {
      return db.select().from(reviews).where(eq(reviews.customerId, customerId)).orderBy(asc(reviews.createdAt));
    },

    /** Erasure: the rating stays (provider averages stay right), the customer's words and the link go. */
    async pseudonymiseReviews(db: Db, customerId: string): Promise<number> {
      const rows = await db
        .update(reviews)
        .set({ customerId: null, text: '' })
        .where(eq(reviews.customerId, customerId))
        .returning({ id: reviews.id });
      return rows.length;
    },
  };
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>;
