/**
 * The waitlist: a person waits for a time with a provider on one day (the provider's local date),
 * for one of the provider's services. When a booking's time frees (cancelled, released unpaid,
 * moved away), the first waiter of that day whose service fits the freed start is offered it: the
 * time is held for them alone (free slots and other people's bookings treat it as taken) until
 * the offer expires, then it goes to the next waiter. Accepting books it through POST /bookings'
 * own rules, in the transaction that marks the entry booked, so an offer is booked at most once.
 */
import { Type } from '@sinclair/typebox';
import { and, asc, desc, eq, lt, lte, sql } from 'drizzle-orm';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import { type Db, firstRow } from '../../infra/db/client.js';
import { isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import { DateOnly, literals, Nullable, Uuid } from '../../shared/http-schemas.js';
import { wallTime } from '../../shared/zoned-time.js';
import { type CatalogService, catalogNames } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import { scheduleOf } from './bookings.availability.js';
import type { BookingHooks, CreatedBooking } from './bookings.create.js';
import { toSchedule } from './bookings.dto.js';
import { type BookingsRepository, lockOffers } from './bookings.repository.js';
import { CreateBookingBody } from './bookings.schemas.js';
import { DEFAULT_MIN_NOTICE_MS, HORIZON_MS, slotUnavailableReason, visitSpan } from './bookings.slots.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import { type BookingRow, WAITLIST_STATUSES, type WaitlistEntryRow, waitlistEntries } from './bookings.tables.js';

/** The outbox message saying a booking's time is free again: the waitlist may offer it. */
export const WAITLIST_TIME_FREED = 'bookings.waitlist_time_freed';
/** How long a waiter has to accept an offered time (less when the time's booking notice comes first). */
export const WAITLIST_OFFER_MINUTES = 30;
// Waiters of one day looked at for one freed time: services that do not fit it are passed over.
const CANDIDATES = 50;
const EXPIRY_BATCH = 100;

// --- schemas ---

export const JoinWaitlistBody = Type.Object(
  {
    provider_id: Uuid,
    service_id: Type.String({ format: 'uuid', description: 'the service you want, one of this provider’s' }),
    day: Type.String({
      ...DateOnly,
      description: 'the day you want a time on, YYYY-MM-DD in the provider’s time zone; today up to 60 days ahead',
    }),
  },
  { additionalProperties: false },
);

export const AcceptOfferBody = Type.Pick(CreateBookingBody, ['note', 'payment_method', 'payment_token'], {
  additionalProperties: false,
});

export const WaitlistEntrySchema = Type.Object({
  id: Uuid,
  provider_id: Uuid,
  service_id: Uuid,
  provider_name: Type.String(),
  service_name: Type.String(),
  day: Type.String({ description: 'YYYY-MM-DD, the provider’s local date' }),
  status: literals(
    WAITLIST_STATUSES,
    'waiting | offered (a time is held for you until offer_expires_at) | booked | expired | cancelled',
  ),
  offer_starts_at: Nullable(Type.String({ format: 'date-time', description: 'the time offered to you' })),
  offer_ends_at: Nullable(Type.String({ format: 'date-time' })),
  offer_expires_at: Nullable(
    Type.String({ format: 'date-time', description: 'accept (POST /waitlist/:id/accept) before this' }),
  ),
  booking_id: Nullable(Type.String({ format: 'uuid', description: 'the booking made by accepting the offer' })),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export type WaitlistEntry = typeof WaitlistEntrySchema.static;
export type JoinWaitlistInput = typeof JoinWaitlistBody.static;
export type AcceptOfferInput = typeof AcceptOfferBody.static;

// --- queries ---

export function createWaitlistRepository() {
  return {
    async insert(db: Db, row: typeof waitlistEntries.$inferInsert): Promise<WaitlistEntryRow> {
      const [created] = await db.insert(waitlistEntries).values(row).returning();
      return created as WaitlistEntryRow;
    },

    async find(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<WaitlistEntryRow | undefined> {
      return firstRow(db.select().from(waitlistEntries).where(eq(waitlistEntries.id, id)).limit(1), options);
    },

    async update(db: Db, id: string, patch: Partial<typeof waitlistEntries.$inferInsert>): Promise<WaitlistEntryRow> {
      const [row] = await db.update(waitlistEntries).set(patch).where(eq(waitlistEntries.id, id)).returning();
      return row as WaitlistEntryRow;
    },

    /** A person's entries, newest first (ids are time-ordered UUIDv7). */
    async listMine(db: Db, userId: string, beforeId: string | undefined, limit: number) {
      return db
        .select()
        .from(waitlistEntries)
        .where(and(eq(waitlistEntries.userId, userId), beforeId ? lt(waitlistEntries.id, beforeId) : undefined))
        .orderBy(desc(waitlistEntries.id))
        .limit(limit);
    },

    /**
     * The first waiters of a provider's day, in the order they joined, locked; one being left or
     * offered elsewhere right now is skipped, not waited for.
     */
    async waiting(db: Db, providerId: string, day: string, limit: number): Promise<WaitlistEntryRow[]> {
      return db
        .select()
        .from(waitlistEntries)
        .where(
          and(
            eq(waitlistEntries.providerId, providerId),
            eq(waitlistEntries.day, day),
            sql`${waitlistEntries.status} = 'waiting'`,
          ),
        )
        .orderBy(asc(waitlistEntries.createdAt), asc(waitlistEntries.id))
        .limit(limit)
        .for('update', { skipLocked: true });
    },

    /** One offer that has expired, locked; those another instance is expiring are skipped. */
    async expiredOffer(db: Db, now: Date): Promise<WaitlistEntryRow | undefined> {
      const [row] = await db
        .select()
        .from(waitlistEntries)
        .where(and(sql`${waitlistEntries.status} = 'offered'`, lte(waitlistEntries.offerExpiresAt, now)))
        .orderBy(asc(waitlistEntries.offerExpiresAt))
        .limit(1)
        .for('update', { skipLocked: true });
      return row;
    },

    async listForUser(db: Db, userId: string): Promise<WaitlistEntryRow[]> {
      return db
        .select()
        .from(waitlistEntries)
        .where(eq(waitlistEntries.userId, userId))
        .orderBy(asc(waitlistEntries.createdAt));
    },

    async deleteForUser(db: Db, userId: string): Promise<WaitlistEntryRow[]> {
      return db.delete(waitlistEntries).where(eq(waitlistEntries.userId, userId)).returning();
    },
  };
}

export type WaitlistRepository = ReturnType<typeof createWaitlistRepository>;

// --- the use cases ---

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The entry as the API shows it, without names (toEntry adds them). */
export const toWaitlistEntry = (row: WaitlistEntryRow, names: { provider_name: string; service_name: string }) => ({
  id: row.id,
  provider_id: row.providerId,
  service_id: row.serviceId,
  ...names,
  day: row.day,
  status: row.status,
  offer_starts_at: iso(row.offerStartsAt),
  offer_ends_at: iso(row.offerEndsAt),
  offer_expires_at: iso(row.offerExpiresAt),
  booking_id: row.bookingId,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** The local date (YYYY-MM-DD) of an instant in a time zone. */
const localDate = (at: number, timeZone: string) => {
  const wall = wallTime(at, timeZone);
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}`;
};

/**
 * A time a booking no longer takes (cancelled, released, moved away), told to the waitlist in the
 * caller's transaction; a time already started is not worth offering.
 */
export async function queueFreedTime(
  outbox: Pick<Outbox, 'enqueue'>,
  tx: Db,
  booking: Pick<BookingRow, 'providerId' | 'startsAt'>,
  now: Date,
): Promise<void> {
  if (booking.startsAt <= now) return;
  await outbox.enqueue(tx, {
    type: WAITLIST_TIME_FREED,
    payload: { provider_id: booking.providerId, starts_at: booking.startsAt.toISOString() },
  });
}

export function createWaitlist(deps: {
  db: Db;
  repository: BookingsRepository;
  waitlist: WaitlistRepository;
  catalog: Pick<CatalogService, 'bookableService'>;
  notify: Notify;
  slotsCache: Pick<SlotsCache, 'changed'>;
  /** POST /bookings' own creation, which accepting an offer goes through. */
  create: (
    actor: Actor,
    input: typeof CreateBookingBody.static,
    key?: string,
    hooks?: BookingHooks,
  ) => Promise<CreatedBooking>;
  clock: Clock;
  ids: IdGenerator;
  minNoticeMs?: number;
  offerMinutes?: number;
}) {
  const { db, repository, waitlist, catalog, clock } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;
  const offerMs = (deps.offerMinutes ?? WAITLIST_OFFER_MINUTES) * 60_000;

  const named = async (source: Db, rows: WaitlistEntryRow[]): Promise<WaitlistEntry[]> => {
    const names = await catalogNames(source, {
      serviceIds: rows.map((row) => row.serviceId),
      providerIds: rows.map((row) => row.providerId),
    });
    return rows.map((row) =>
      toWaitlistEntry(row, {
        provider_name: names.providers.get(row.providerId) ?? '',
        service_name: names.services.get(row.serviceId) ?? '',
      }),
    );
  };

  /**
   * Offers the time starting at `startsAt` to the first waiter of its local day whose service fits
   * there (open hours, notice, clear of bookings and other offers); nothing when none does. Holds
   * the provider's offer lock (lockOffers) to the end of `tx`, so no booking takes the time meanwhile.
   */
  const offerTime = async (tx: Db, providerId: string, startsAt: Date): Promise<WaitlistEntryRow | undefined> => {
    await lockOffers(tx, providerId, 'exclusive');
    const schedule = await scheduleOf(repository, tx, providerId);
    if (!schedule) return undefined;
    const now = clock.now();
    const day = localDate(startsAt.getTime(), schedule.time_zone);
    for (const entry of await waitlist.waiting(tx, providerId, day, CANDIDATES)) {
      const offer = await catalog.bookableService(entry.serviceId, tx);
      if (!offer || offer.provider.id !== providerId) continue;
      const span = visitSpan(startsAt, offer.service);
      // The bookings and offers around the time, and the schedule, in one read.
      const inputs = await repository.slotInputs(tx, providerId, span.blocksFrom, span.blocksUntil);
      const reason =
        slotUnavailableReason(
          { schedule: inputs && toSchedule(inputs), now, ...offer.service, busy: [], minNoticeMs },
          startsAt,
        ) ?? (inputs && inputs.busy.length > 0 ? 'taken' : undefined);
      if (reason) continue;
      // Never past the time's own booking notice: an offer accepted in time can always be booked.
      const expiresAt = new Date(Math.min(now.getTime() + offerMs, startsAt.getTime() - minNoticeMs));
      if (expiresAt <= now) continue;
      const offered = await waitlist.update(tx, entry.id, {
        status: 'offered',
        offerStartsAt: span.startsAt,
        offerEndsAt: span.endsAt,
        offerBlocksUntil: span.blocksUntil,
        offerExpiresAt: expiresAt,
        updatedAt: now,
      });
      await deps.slotsCache.changed(providerId);
      await deps.notify.send(tx, {
        userId: entry.userId,
        purpose: 'booking',
        template: 'waitlist_offer',
        data: {
          service_name: offer.service.name,
          provider_name: offer.provider.displayName,
          starts_at: startsAt.toISOString(),
          expires_at: expiresAt.toISOString(),
          entry_id: entry.id,
        },
        // It is gone in half an hour: no quiet hours, no weekly cap.
        urgent: true,
      });
      return offered;
    }
    return undefined;
  };

  /** An offer that ended unused (expired or left): its time is free again, and goes to the next waiter. */
  const passOn = async (tx: Db, entry: WaitlistEntryRow) => {
    await deps.slotsCache.changed(entry.providerId);
    if (entry.offerStartsAt) await offerTime(tx, entry.providerId, entry.offerStartsAt);
  };

  const mine = async (tx: Db, actor: Actor, id: string, options: { forUpdate?: boolean } = {}) => {
    const entry = await waitlist.find(tx, id, options);
    if (!entry || entry.userId !== actor.id) throw notFound('Waitlist entry');
    return entry;
  };

  /** Why an entry's offer cannot be accepted now, or undefined when it can. */
  const refusal = (entry: WaitlistEntryRow, now: Date): AppError | undefined => {
    switch (entry.status) {
      case 'waiting':
        return new AppError(
          'INVALID_STATE',
          'No time has been offered to you yet; you will be notified when one frees',
        );
      case 'booked':
        return new AppError(
          'INVALID_STATE',
          `This offer has already been accepted (booking ${entry.bookingId ?? 'since cancelled'}); see GET /me/bookings`,
        );
      case 'cancelled':
        return new AppError('INVALID_STATE', 'You left this waitlist; join again with POST /waitlist');
      case 'expired':
        return new AppError('INVALID_STATE', 'This offer has expired and the time went to the next person waiting');
      case 'offered':
        if (entry.offerExpiresAt && entry.offerExpiresAt <= now) {
          return new AppError(
            'INVALID_STATE',
            `This offer expired at ${entry.offerExpiresAt.toISOString()}; the time goes to the next person waiting`,
          );
        }
        return undefined;
    }
  };

  return {
    /** POST /waitlist. */
    async joinWaitlist(actor: Actor, input: JoinWaitlistInput): Promise<WaitlistEntry> {
      const offer = await catalog.bookableService(input.service_id);
      if (!offer || offer.provider.id !== input.provider_id) {
        throw invalidField('body.service_id', 'is not a bookable service of this provider (see GET /providers/:id)');
      }
      const { service, provider } = offer;
      if (provider.userId === actor.id) throw new AppError('OWN_SERVICE', 'You cannot wait for your own service');
      const now = clock.now();
      const timeZone = (await scheduleOf(repository, db, provider.id))?.time_zone ?? provider.timeZone;
      const today = localDate(now.getTime(), timeZone);
      const lastDay = localDate(now.getTime() + HORIZON_MS, timeZone);
      if (input.day < today) throw invalidField('body.day', `is in the past; send ${today} or a later day`);
      if (input.day > lastDay) {
        throw invalidField(
          'body.day',
          `is more than ${HORIZON_MS / 86_400_000} days ahead; send ${lastDay} or earlier`,
        );
      }
      try {
        const row = await waitlist.insert(db, {
          id: deps.ids(),
          userId: actor.id,
          providerId: provider.id,
          serviceId: service.id,
          day: input.day,
          status: 'waiting',
          createdAt: now,
          updatedAt: now,
        });
        return toWaitlistEntry(row, { provider_name: provider.displayName, service_name: service.name });
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new AppError(
            'CONFLICT',
            `You are already on this provider's waitlist for ${input.day}; see GET /me/waitlist`,
          );
        }
        throw error;
      }
    },

    /** GET /me/waitlist: newest first. */
    async myWaitlist(
      actor: Actor,
      query: { cursor?: string; limit: number },
    ): Promise<{ items: WaitlistEntry[]; nextCursor: string | null }> {
      const rows = await waitlist.listMine(db, actor.id, query.cursor, query.limit + 1);
      const items = rows.slice(0, query.limit);
      return {
        items: await named(db, items),
        nextCursor: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null,
      };
    },

    /** DELETE /waitlist/:id: a held time goes to the next waiter at once. */
    async leaveWaitlist(actor: Actor, id: string): Promise<WaitlistEntry> {
      return inTransaction(db, async (tx) => {
        const entry = await mine(tx, actor, id, { forUpdate: true });
        if (entry.status !== 'waiting' && entry.status !== 'offered') {
          throw new AppError(
            'INVALID_STATE',
            `This entry is ${entry.status}; only a waiting or offered one can be left`,
          );
        }
        const left = await waitlist.update(tx, entry.id, { status: 'cancelled', updatedAt: clock.now() });
        if (entry.status === 'offered') await passOn(tx, entry);
        const [named1] = await named(tx, [left]);
        return named1 as WaitlistEntry;
      });
    },

    /**
     * POST /waitlist/:id/accept: books the offered time as POST /bookings would (its checks, its
     * payment), with the entry locked and marked booked in the booking's transaction. A second
     * accept waits for the first and is refused (409 INVALID_STATE); with an Idempotency-Key a
     * retry gets the first answer back.
     */
    async acceptOffer(
      actor: Actor,
      id: string,
      input: AcceptOfferInput,
      idempotencyKey?: string,
    ): Promise<CreatedBooking> {
      const seen = await mine(db, actor, id);
      if (!seen.offerStartsAt) throw refusal(seen, clock.now()) as AppError;
      const startsAt = seen.offerStartsAt;
      return deps.create(
        actor,
        { ...input, service_id: seen.serviceId, starts_at: startsAt.toISOString() },
        idempotencyKey,
        {
          before: async (tx) => {
            const entry = await mine(tx, actor, id, { forUpdate: true });
            const refused = refusal(entry, clock.now());
            if (refused) throw refused;
            // Offered again since it was read (left, then a new time): the caller should look again.
            if (entry.offerStartsAt?.getTime() !== startsAt.getTime()) {
              throw new AppError('INVALID_STATE', 'The offered time changed; see GET /me/waitlist');
            }
          },
          after: async (tx, booking) => {
            await waitlist.update(tx, id, { status: 'booked', bookingId: booking.id, updatedAt: clock.now() });
          },
        },
      );
    },

    /** The outbox handler of WAITLIST_TIME_FREED. */
    async waitlistTimeFreed(payload: Record<string, unknown>): Promise<void> {
      const providerId = payload.provider_id;
      const startsAt = typeof payload.starts_at === 'string' ? new Date(payload.starts_at) : undefined;
      if (typeof providerId !== 'string' || !startsAt || Number.isNaN(startsAt.getTime())) return;
      await inTransaction(db, (tx) => offerTime(tx, providerId, startsAt));
    },

    /**
     * The periodic pass: offers whose time to accept ran out become `expired`, each in its own
     * transaction, and their time is offered to the next waiter. Resolves with how many expired.
     */
    async expireWaitlistOffers(): Promise<number> {
      let expired = 0;
      for (let i = 0; i < EXPIRY_BATCH; i++) {
        const done = await inTransaction(db, async (tx) => {
          const entry = await waitlist.expiredOffer(tx, clock.now());
          if (!entry) return false;
          await waitlist.update(tx, entry.id, { status: 'expired', updatedAt: clock.now() });
          await passOn(tx, entry);
          return true;
        });
        if (!done) break;
        expired += 1;
      }
      return expired;
    },
  };
}

export type Waitlist = ReturnType<typeof createWaitlist>;
