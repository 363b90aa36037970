import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isExclusionViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import { type IdempotencyStore, replayOf, requestHashOf, type StoredAnswer } from '../../shared/idempotency.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService, ProviderRow } from '../catalog/index.js';
import type { Notify, TemplateName } from '../notifications/index.js';
import { ACTIVE_STATUSES, type BookingCursor, type BookingsRepository } from './bookings.repository.js';
import {
  DEFAULT_MIN_NOTICE_MS,
  freeSlots,
  HORIZON_MS,
  isFreeSlot,
  type Schedule,
  scheduleProblems,
} from './bookings.slots.js';
import type { AvailabilityRow, BookingRow, BookingStatus, ReviewRow } from './bookings.tables.js';

/** The outbox message that sends a booking's reminder, if the booking is still on by then. */
export const BOOKING_REMIND = 'booking.remind';
export const REMINDER_BEFORE_MS = 24 * 3_600_000;
/** A customer may cancel until this long before the start; the provider at any time. */
export const CUSTOMER_CANCEL_CUTOFF_MS = 24 * 3_600_000;
export const DASHBOARD_TTL_MS = 5 * 60_000;
const MAX_SLOT_RANGE_MS = HORIZON_MS + 86_400_000;
const DEFAULT_SLOT_RANGE_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;
const CREATE_SCOPE = 'bookings.create';

export interface BookingInput {
  service_id: string;
  starts_at: string;
  note?: string;
}

export interface PublicBooking {
  id: string;
  customer_id: string | null;
  provider_id: string;
  service_id: string;
  status: BookingStatus;
  starts_at: string;
  ends_at: string;
  blocks_until: string;
  price_minor: number;
  currency: string;
  note: string | null;
  payment_status: string | null;
  cancelled_by: string | null;
  cancel_reason: string | null;
  created_at: string;
  updated_at: string;
}

export const toPublicBooking = (row: BookingRow): PublicBooking => ({
  id: row.id,
  customer_id: row.customerId,
  provider_id: row.providerId,
  service_id: row.serviceId,
  status: row.status,
  starts_at: row.startsAt.toISOString(),
  ends_at: row.endsAt.toISOString(),
  blocks_until: row.blocksUntil.toISOString(),
  price_minor: row.priceMinor,
  currency: row.currency,
  note: row.note,
  payment_status: row.paymentStatus,
  cancelled_by: row.cancelledBy,
  cancel_reason: row.cancelReason,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

const toPublicReview = (row: ReviewRow) => ({
  id: row.id,
  booking_id: row.bookingId,
  provider_id: row.providerId,
  rating: row.rating,
  text: row.text,
  reply: row.reply,
  replied_at: row.repliedAt?.toISOString() ?? null,
  created_at: row.createdAt.toISOString(),
});

const toModeratedReview = (row: ReviewRow) => ({
  ...toPublicReview(row),
  visible: row.visible,
  hidden_reason: row.hiddenReason,
});

const toSchedule = (row: Pick<AvailabilityRow, 'timeZone' | 'weekly' | 'breaks' | 'exceptions'>): Schedule => ({
  time_zone: row.timeZone,
  weekly: row.weekly,
  breaks: row.breaks,
  exceptions: row.exceptions,
});

const notFound = () => new AppError('NOT_FOUND', 'Booking not found');
const slotUnavailable = () =>
  new AppError('SLOT_UNAVAILABLE', 'This time is not available; pick another slot (GET /providers/:id/slots)');

// Booking lists run in (starts_at, id) order; the cursor is the last row's pair.
const bookingCursor = cursorCodec<BookingCursor>({ startsAt: cursorField.time, id: cursorField.uuid });
const encodeCursor = (row: BookingRow) => bookingCursor.encode({ startsAt: row.startsAt, id: row.id });
const decodeCursor = (cursor: string | undefined) => (cursor ? bookingCursor.decode(cursor) : undefined);

// What makes two booking requests the same request, whatever their spelling.
const bookingRequestHash = (input: BookingInput) =>
  requestHashOf({
    service_id: input.service_id,
    starts_at: new Date(input.starts_at).toISOString(),
    note: input.note ?? null,
  });

type Party = 'customer' | 'provider';
export type Transition = 'confirm' | 'complete' | 'no_show' | 'cancel';

/**
 * Availability, free slots, bookings and their life cycle, reviews and the provider dashboard.
 * Double booking is refused by the database (the `bookings_no_overlap` exclusion constraint);
 * the slot check in code only gives the usual case a clear answer before the insert.
 */
export function createBookingsService(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
  notify: Notify;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  idempotency: IdempotencyStore;
  kv: KeyValueStore;
  clock: Clock;
  ids: IdGenerator;
  minNoticeMs?: number;
}) {
  const { db, repository, catalog, clock } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  const ownProvider = async (actor: Actor, tx: Db = db): Promise<ProviderRow> => {
    const provider = await catalog.providerOfUser(actor.id, tx);
    if (!provider) throw new AppError('NOT_FOUND', 'You have no provider profile yet (POST /provider/profile)');
    return provider;
  };

  /** Who the actor is to this booking; anyone else is told it does not exist. */
  const partyOf = async (tx: Db, actor: Actor, booking: BookingRow): Promise<Party> => {
    if (booking.customerId !== null && booking.customerId === actor.id) return 'customer';
    const provider = await catalog.providerOfUser(actor.id, tx);
    if (provider && provider.id === booking.providerId) return 'provider';
    throw notFound();
  };

  /** Template data for a booking's messages. */
  const messageData = async (tx: Db, booking: BookingRow) => {
    const [offer, provider] = await Promise.all([
      catalog.bookableService(booking.serviceId, tx),
      catalog.findProvider(booking.providerId, tx),
    ]);
    return {
      provider,
      data: {
        service_name: offer?.service.name ?? 'Your booking',
        starts_at: booking.startsAt.toISOString(),
        booking_id: booking.id,
        ...(provider ? { provider_name: provider.displayName } : {}),
      },
    };
  };

  /** Booking changes go to both parties at once (no quiet hours, no weekly cap). */
  const notifyBoth = async (
    tx: Db,
    booking: BookingRow,
    template: TemplateName,
    extra: Record<string, unknown> = {},
  ) => {
    const { provider, data } = await messageData(tx, booking);
    const recipients = [booking.customerId, provider?.userId].filter((id): id is string => Boolean(id));
    for (const userId of new Set(recipients)) {
      await deps.notify.send(tx, {
        userId,
        channel: 'email',
        purpose: 'booking',
        template,
        data: { ...data, ...extra },
        urgent: true,
      });
    }
  };

  const loadSchedule = async (tx: Db, providerId: string) => {
    const row = await repository.availability(tx, providerId);
    return row ? toSchedule(row) : undefined;
  };

  const cacheGet = async (key: string): Promise<string | undefined> => {
    try {
      return await deps.kv.get(key);
    } catch {
      return undefined; // the cache is an optimisation: answer from the database
    }
  };
  const cacheSet = async (key: string, value: string, ttlMs: number): Promise<void> => {
    try {
      await deps.kv.set(key, value, ttlMs);
    } catch {
      // as above
    }
  };

  const page = (rows: BookingRow[], limit: number) => {
    const items = rows.slice(0, limit);
    return {
      items: items.map(toPublicBooking),
      nextCursor: rows.length > limit ? encodeCursor(items.at(-1) as BookingRow) : null,
    };
  };

  return {
    async getAvailability(actor: Actor) {
      const provider = await ownProvider(actor);
      const row = await repository.availability(db, provider.id);
      return {
        ...(row ? toSchedule(row) : { time_zone: provider.timeZone, weekly: [], breaks: [], exceptions: [] }),
        updated_at: row?.updatedAt.toISOString() ?? null,
      };
    },

    async putAvailability(actor: Actor, input: Schedule) {
      const problems = scheduleProblems(input);
      if (problems.length > 0)
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', { details: problems });
      const provider = await ownProvider(actor);
      const row = await repository.saveAvailability(db, {
        providerId: provider.id,
        timeZone: input.time_zone,
        weekly: input.weekly,
        breaks: input.breaks,
        exceptions: input.exceptions,
        updatedAt: clock.now(),
      });
      return { ...toSchedule(row), updated_at: row.updatedAt.toISOString() };
    },

    /** Free start times: one query for the schedule, one for the range's bookings, the rest in memory. */
    async slots(actorId: string | null, providerId: string, query: { service_id: string; from?: string; to?: string }) {
      const offer = await catalog.bookableService(query.service_id);
      if (!offer || offer.provider.id !== providerId) throw new AppError('NOT_FOUND', 'Service not found');
      const now = clock.now();
      const from = query.from ? new Date(query.from) : now;
      const to = query.to ? new Date(query.to) : new Date(from.getTime() + DEFAULT_SLOT_RANGE_MS);
      if (to <= from) throw invalidField('query.to', 'must be after from');
      if (to.getTime() - from.getTime() > MAX_SLOT_RANGE_MS)
        throw invalidField('query.to', 'at most 60 days after from');
      const { service } = offer;
      const blockMs = (service.durationMinutes + service.bufferMinutes) * 60_000;
      const schedule = await loadSchedule(db, providerId);
      const busy = schedule
        ? await repository.activeBlocks(
            db,
            providerId,
            new Date(from.getTime() - blockMs),
            new Date(to.getTime() + blockMs),
          )
        : [];
      const slots = schedule
        ? freeSlots({
            schedule,
            from,
            to,
            now,
            durationMinutes: service.durationMinutes,
            bufferMinutes: service.bufferMinutes,
            busy: busy.map((b) => ({ from: b.from.getTime(), until: b.until.getTime() })),
            minNoticeMs,
          })
        : [];
      await deps.track(db, 'slot_viewed', actorId, {
        provider_id: providerId,
        service_id: service.id,
        slots: slots.length,
      });
      return {
        provider_id: providerId,
        service_id: service.id,
        time_zone: schedule?.time_zone ?? offer.provider.timeZone,
        duration_minutes: service.durationMinutes,
        slots: slots.map((slot) => slot.toISOString()),
      };
    },

    /**
     * Books a free slot. With an idempotency key, the key is claimed in the booking's transaction:
     * a replay (same body) gets the first answer back, another body 409 IDEMPOTENCY_KEY_REUSED.
     * A refused booking stores nothing, so retrying it is decided afresh.
     */
    async create(
      actor: Actor,
      input: BookingInput,
      idempotencyKey?: string,
    ): Promise<{ statusCode: number; booking: PublicBooking; replayed: boolean }> {
      const requestHash = bookingRequestHash(input);
      const keyRef = idempotencyKey ? { userId: actor.id, scope: CREATE_SCOPE, key: idempotencyKey } : undefined;
      const replay = (stored: StoredAnswer) => {
        const { statusCode, response } = replayOf(stored, requestHash);
        return { statusCode, booking: response as PublicBooking, replayed: true };
      };
      if (keyRef) {
        const stored = await deps.idempotency.find(db, keyRef);
        if (stored) return replay(stored);
      }

      const offer = await catalog.bookableService(input.service_id);
      if (!offer) throw new AppError('NOT_FOUND', 'Service not found');
      const { service, provider } = offer;
      const startsAt = new Date(input.starts_at);
      const schedule = await loadSchedule(db, provider.id);
      const now = clock.now();
      // Schedule, notice, horizon and grid here; overlap with other bookings is the constraint's job.
      const slotQuery = {
        now,
        durationMinutes: service.durationMinutes,
        bufferMinutes: service.bufferMinutes,
        busy: [],
        minNoticeMs,
      };
      if (!schedule || !isFreeSlot({ schedule, ...slotQuery }, startsAt)) throw slotUnavailable();

      try {
        return await inTransaction(db, async (tx) => {
          if (keyRef) {
            if (!(await deps.idempotency.claim(tx, keyRef, requestHash))) {
              const stored = await deps.idempotency.find(tx, keyRef);
              if (stored) return replay(stored);
            }
          }
          const endsAt = new Date(startsAt.getTime() + service.durationMinutes * 60_000);
          const row = await repository.insert(tx, {
            id: deps.ids(),
            customerId: actor.id,
            providerId: provider.id,
            serviceId: service.id,
            status: provider.autoConfirm ? 'confirmed' : 'pending',
            startsAt,
            endsAt,
            blocksFrom: startsAt,
            blocksUntil: new Date(endsAt.getTime() + service.bufferMinutes * 60_000),
            priceMinor: service.priceMinor,
            currency: service.currency,
            note: input.note ?? null,
            // A payment step sets this (and may hold the booking as pending until paid).
            paymentStatus: null,
            createdAt: now,
            updatedAt: now,
          });
          await deps.track(tx, 'booking_created', actor.id, {
            booking_id: row.id,
            provider_id: provider.id,
            service_id: service.id,
            status: row.status,
            price_minor: row.priceMinor,
            currency: row.currency,
          });
          if (row.status === 'confirmed') await notifyBoth(tx, row, 'booking_confirmed');
          const remindAt = new Date(startsAt.getTime() - REMINDER_BEFORE_MS);
          if (remindAt > now) {
            await deps.outbox.enqueue(tx, {
              type: BOOKING_REMIND,
              payload: { booking_id: row.id },
              deliverAfter: remindAt,
            });
          }
          const booking = toPublicBooking(row);
          if (keyRef) await deps.idempotency.complete(tx, keyRef, { statusCode: 201, response: booking });
          return { statusCode: 201, booking, replayed: false };
        });
      } catch (error) {
        // exclusion_violation: another active booking holds overlapping time.
        if (isExclusionViolation(error)) throw slotUnavailable();
        throw error;
      }
    },

    async transition(actor: Actor, id: string, action: Transition, reason?: string): Promise<PublicBooking> {
      return inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, id, { forUpdate: true });
        if (!booking) throw notFound();
        const party = await partyOf(tx, actor, booking);
        const now = clock.now();
        const illegal = (message: string) => new AppError('INVALID_STATE', message);
        if (action !== 'cancel' && party !== 'provider') {
          throw new AppError('FORBIDDEN', 'Only the provider of this booking may do this');
        }
        let patch: Partial<BookingRow>;
        switch (action) {
          case 'confirm':
            if (booking.status !== 'pending') throw illegal(`A ${booking.status} booking cannot be confirmed`);
            patch = { status: 'confirmed' };
            break;
          case 'complete':
          case 'no_show':
            if (booking.status !== 'confirmed') {
              throw illegal(
                `A ${booking.status} booking cannot be marked ${action === 'complete' ? 'completed' : 'no-show'}`,
              );
            }
            if (now < booking.startsAt) throw illegal('The visit has not started yet');
            patch = { status: action === 'complete' ? 'completed' : 'no_show' };
            break;
          case 'cancel':
            if (!ACTIVE_STATUSES.includes(booking.status))
              throw illegal(`A ${booking.status} booking cannot be cancelled`);
            if (party === 'provider' && !reason)
              throw invalidField('body.reason', 'is required when the provider cancels');
            if (party === 'customer' && now.getTime() > booking.startsAt.getTime() - CUSTOMER_CANCEL_CUTOFF_MS) {
              throw illegal('Bookings can be cancelled online until 24 hours before the start; contact the provider');
            }
            patch = { status: 'cancelled', cancelledBy: party, cancelReason: reason ?? null };
            break;
        }
        const updated = await repository.update(tx, booking.id, { ...patch, updatedAt: now });
        const properties = { booking_id: booking.id, provider_id: booking.providerId, service_id: booking.serviceId };
        if (action === 'confirm') await notifyBoth(tx, updated, 'booking_confirmed');
        if (action === 'complete') await deps.track(tx, 'booking_completed', booking.customerId, properties);
        if (action === 'cancel') {
          await deps.track(tx, 'booking_cancelled', booking.customerId, { ...properties, cancelled_by: party });
          // The queued reminder finds the booking cancelled and sends nothing.
          await notifyBoth(tx, updated, 'booking_cancelled', reason ? { reason } : {});
        }
        return toPublicBooking(updated);
      });
    },

    /** Outbox handler: the customer's reminder, only if the booking is still on. */
    remind: async (payload: Record<string, unknown>): Promise<void> => {
      const id = payload.booking_id;
      if (typeof id !== 'string') return;
      await inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, id, { forUpdate: true });
        if (!booking?.customerId || !ACTIVE_STATUSES.includes(booking.status)) return;
        const { data } = await messageData(tx, booking);
        await deps.notify.send(tx, {
          userId: booking.customerId,
          channel: 'email',
          purpose: 'booking',
          template: 'booking_reminder',
          data,
          // She asked for it: outside the weekly cap; quiet hours and consent still apply.
          priority: true,
        });
      });
    },

    async get(actor: Actor, id: string): Promise<PublicBooking> {
      const booking = await repository.find(db, id);
      if (!booking) throw notFound();
      await partyOf(db, actor, booking);
      return toPublicBooking(booking);
    },

    async listMine(actor: Actor, query: { cursor?: string; limit: number }) {
      const rows = await repository.list(db, {
        customerId: actor.id,
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(rows, query.limit);
    },

    /** The provider's calendar: bookings starting in [from, to), earliest first. */
    async providerCalendar(actor: Actor, query: { from?: string; to?: string; cursor?: string; limit: number }) {
      const provider = await ownProvider(actor);
      const from = query.from ? new Date(query.from) : clock.now();
      const to = query.to ? new Date(query.to) : new Date(from.getTime() + 30 * DAY_MS);
      const rows = await repository.list(db, {
        providerId: provider.id,
        from,
        to,
        order: 'asc',
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(rows, query.limit);
    },

    async adminList(
      _actor: Actor,
      query: { status?: BookingStatus; provider_id?: string; customer_id?: string; cursor?: string; limit: number },
    ) {
      const rows = await repository.list(db, {
        status: query.status,
        providerId: query.provider_id,
        customerId: query.customer_id,
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(rows, query.limit);
    },

    async postReview(actor: Actor, bookingId: string, input: { rating: number; text: string }) {
      const posted = await inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, bookingId, { forUpdate: true });
        if (!booking || booking.customerId !== actor.id) throw notFound();
        if (booking.status !== 'completed')
          throw new AppError('INVALID_STATE', 'Only a completed visit can be reviewed');
        const now = clock.now();
        const review = await repository.insertReview(tx, {
          id: deps.ids(),
          bookingId,
          providerId: booking.providerId,
          customerId: actor.id,
          rating: input.rating,
          text: input.text,
          visible: true,
          createdAt: now,
          updatedAt: now,
        });
        if (!review) throw new AppError('CONFLICT', 'This booking already has your review');
        await catalog.applyReview(tx, booking.providerId, { add: input.rating });
        await deps.track(tx, 'review_posted', actor.id, {
          provider_id: booking.providerId,
          booking_id: bookingId,
          rating: input.rating,
        });
        return toModeratedReview(review);
      });
      // Once committed: a search between the rating change and the commit may have cached the old one.
      await catalog.invalidate();
      return posted;
    },

    /** Hiding takes the rating out of the provider's average; showing again puts it back. */
    async moderateReview(actor: Actor, id: string, input: { visible: boolean; reason?: string }) {
      if (!input.visible && !input.reason) throw invalidField('body.reason', 'is required to hide a review');
      const moderated = await inTransaction(db, async (tx) => {
        const review = await repository.findReview(tx, id, { forUpdate: true });
        if (!review) throw new AppError('NOT_FOUND', 'Review not found');
        if (review.visible !== input.visible) {
          await catalog.applyReview(
            tx,
            review.providerId,
            input.visible ? { add: review.rating } : { remove: review.rating },
          );
        }
        const updated = await repository.updateReview(tx, id, {
          visible: input.visible,
          hiddenReason: input.visible ? null : (input.reason ?? null),
          updatedAt: clock.now(),
        });
        await deps.audit.record(
          tx,
          { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
          {
            action: input.visible ? 'admin.review_shown' : 'admin.review_hidden',
            targetType: 'review',
            targetId: id,
            details: { provider_id: review.providerId, reason: input.reason ?? null, was_visible: review.visible },
          },
        );
        return toModeratedReview(updated);
      });
      await catalog.invalidate();
      return moderated;
    },

    async replyToReview(actor: Actor, id: string, text: string) {
      return inTransaction(db, async (tx) => {
        const provider = await ownProvider(actor, tx);
        const review = await repository.findReview(tx, id, { forUpdate: true });
        if (!review || review.providerId !== provider.id) throw new AppError('NOT_FOUND', 'Review not found');
        if (review.reply !== null) throw new AppError('CONFLICT', 'You have already replied to this review');
        const now = clock.now();
        return toModeratedReview(
          await repository.updateReview(tx, id, { reply: text, repliedAt: now, updatedAt: now }),
        );
      });
    },

    async providerReviews(providerId: string, query: { cursor?: string; limit: number }) {
      const rows = await repository.visibleReviews(db, providerId, query.cursor, query.limit + 1);
      const items = rows.slice(0, query.limit);
      return {
        items: items.map(toPublicReview),
        nextCursor: rows.length > query.limit ? ((items.at(-1) as ReviewRow).id ?? null) : null,
      };
    },

    /** Counts, rates, upcoming visits and rating; cached 5 minutes in the shared store. */
    async dashboard(actor: Actor, query: { from?: string; to?: string }) {
      const provider = await ownProvider(actor);
      const now = clock.now();
      // Default range on whole days, so the cache key is stable within a day.
      const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
      const from = query.from ? new Date(query.from) : new Date(today - 30 * DAY_MS);
      const to = query.to ? new Date(query.to) : new Date(today + 30 * DAY_MS);
      if (to <= from) throw invalidField('query.to', 'must be after from');
      const key = `bookings:dashboard:${provider.id}:${from.toISOString()}:${to.toISOString()}`;
      const cached = await cacheGet(key);
      if (cached) return JSON.parse(cached) as ReturnType<typeof JSON.parse>;
      const [counts, upcoming] = await Promise.all([
        repository.countByStatus(db, provider.id, from, to),
        repository.list(db, { providerId: provider.id, statuses: ACTIVE_STATUSES, from: now, order: 'asc', limit: 10 }),
      ]);
      const byStatus = { pending: 0, confirmed: 0, completed: 0, no_show: 0, cancelled: 0 } as Record<
        BookingStatus,
        number
      >;
      for (const row of counts) byStatus[row.status] = Number(row.n);
      const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
      const finished = byStatus.completed + byStatus.no_show;
      const rate = (n: number, d: number) => (d === 0 ? null : Math.round((n / d) * 1000) / 1000);
      const result = {
        from: from.toISOString(),
        to: to.toISOString(),
        total,
        by_status: byStatus,
        // Of the visits that were due (completed or no-show), how many happened.
        completion_rate: rate(byStatus.completed, finished),
        cancellation_rate: rate(byStatus.cancelled, total),
        upcoming: upcoming.map(toPublicBooking),
        rating: {
          average: provider.ratingAverage === null ? null : Number(provider.ratingAverage),
          count: provider.ratingCount,
        },
        generated_at: now.toISOString(),
      };
      await cacheSet(key, JSON.stringify(result), DASHBOARD_TTL_MS);
      return result;
    },

    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'bookings',
        description: 'Your bookings (service, provider, time, note, status) and the reviews you wrote',
        purposes: ['arranging the visits you book', 'showing your reviews to other customers'],
        legalBasis: 'contract',
        retention:
          'bookings stay with the provider pseudonymised after erasure; review ratings stay, without text or link to you',
        tables: ['bookings', 'reviews', 'availability'],
        async export(tx, userId) {
          const [own, written] = await Promise.all([
            repository.listForCustomer(tx, userId),
            repository.reviewsByCustomer(tx, userId),
          ]);
          return { bookings: own.map(toPublicBooking), reviews: written.map(toModeratedReview) };
        },
        async erase(tx, userId) {
          const booked = await repository.pseudonymiseCustomer(tx, userId);
          const reviewed = await repository.pseudonymiseReviews(tx, userId);
          return {
            action: 'pseudonymised',
            rows: booked + reviewed,
            note: 'bookings kept for the provider without customer or note; review text removed, rating kept',
          };
        },
      };
    },
  };
}

export type BookingsService = ReturnType<typeof createBookingsService>;
