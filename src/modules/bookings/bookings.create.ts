import { AppError, type ErrorCode, invalidField, notFound, type SlotUnavailableReason } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isExclusionViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import {
  type IdempotencyKeyRef,
  type IdempotencyStore,
  replayOf,
  requestHashOf,
  type StoredAnswer,
} from '../../shared/idempotency.js';
import type { Track } from '../analytics/index.js';
import type { CatalogService, ServiceRow } from '../catalog/index.js';
import { scheduleOf } from './bookings.availability.js';
import { type BookingDetail, type BookingInput, type PublicBooking, toPublicBooking } from './bookings.dto.js';
import type { BookingMessages, KnownOffer } from './bookings.messages.js';
import type { BookingPaymentFlow, BookingPayments } from './bookings.payment.js';
import type { BookingsRepository } from './bookings.repository.js';
import {
  DEFAULT_MIN_NOTICE_MS,
  HORIZON_MS,
  SLOT_GRID_MINUTES,
  slotUnavailableReason,
  visitSpan,
} from './bookings.slots.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import type { BookingRow } from './bookings.tables.js';

const CREATE_SCOPE = 'bookings.create';

const PICK = 'pick a start time from GET /providers/:id/slots';

/** "2 hours'", "90 minutes'": the minimum notice as a client reads it. */
const noticeText = (ms: number) =>
  ms % 3_600_000 === 0
    ? `${ms / 3_600_000} ${ms === 3_600_000 ? "hour's" : "hours'"}`
    : `${Math.round(ms / 60_000)} minutes'`;

/** What a client is told for each reason a time cannot be booked, with what to do instead. */
export function slotMessage(reason: SlotUnavailableReason, minNoticeMs: number): string {
  switch (reason) {
    case 'past':
      return `This time has already passed; ${PICK}`;
    case 'notice':
      return `Bookings need at least ${noticeText(minNoticeMs)} notice; ${PICK}`;
    case 'beyond_horizon':
      return `Bookings open at most ${HORIZON_MS / 86_400_000} days ahead; ${PICK}`;
    case 'off_grid':
      return `Visits start on a ${SLOT_GRID_MINUTES}-minute grid of the provider's local time (09:00, 09:15, …); ${PICK}`;
    case 'outside_hours':
      return `The provider is not open for the whole visit at this time; ${PICK}`;
    case 'taken':
      return `Another booking already holds this time; ${PICK}`;
  }
}

/** 409 SLOT_UNAVAILABLE, saying why in its message and in `details[0].reason`. */
export const slotUnavailable = (reason: SlotUnavailableReason, minNoticeMs: number) => {
  const message = slotMessage(reason, minNoticeMs);
  return new AppError('SLOT_UNAVAILABLE', message, { details: [{ field: 'body.starts_at', message, reason }] });
};

/** How long a visit takes from the provider's calendar: the visit, then the buffer after it. */
export interface VisitLength {
  durationMinutes: number;
  bufferMinutes: number;
}

/**
 * Why the provider cannot start a visit of `length` at `startsAt` (notice, horizon, grid, hours,
 * or `taken` by a waitlist offer to anyone but `holder`), or undefined when they can. The same
 * rules for a new booking, a series and a new time; overlap with other bookings is the exclusion
 * constraint's to decide, so it is not looked at here.
 */
export async function slotRuleReason(
  deps: { repository: BookingsRepository; clock: Clock; minNoticeMs: number },
  tx: Db,
  providerId: string,
  length: VisitLength,
  startsAt: Date,
  holder?: string,
): Promise<SlotUnavailableReason | undefined> {
  const schedule = await scheduleOf(deps.repository, tx, providerId);
  const reason = slotUnavailableReason(
    { schedule, now: deps.clock.now(), ...length, busy: [], minNoticeMs: deps.minNoticeMs },
    startsAt,
  );
  if (reason) return reason;
  // A time offered to someone on the waitlist is held for them alone until the offer ends.
  const span = visitSpan(startsAt, length);
  return (await deps.repository.offerHolds(tx, providerId, span.blocksFrom, span.blocksUntil, holder))
    ? 'taken'
    : undefined;
}

/** Work a caller adds to a booking's transaction (accepting a waitlist offer): before its checks, after its insert. */
export interface BookingHooks {
  before?(tx: Db): Promise<void>;
  after?(tx: Db, row: BookingRow): Promise<void>;
}

// What makes two booking requests the same request, whatever their spelling.
const bookingRequestHash = (input: BookingInput) =>
  requestHashOf({
    service_id: input.service_id,
    starts_at: new Date(input.starts_at).toISOString(),
    note: input.note ?? null,
    payment_method: input.payment_method ?? null,
    payment_token: input.payment_token ?? null,
  });

export interface CreatedBooking {
  statusCode: number;
  booking: BookingDetail;
  replayed: boolean;
}

/** A refusal stored as a key's answer, so a replay is refused the same way. */
interface StoredRefusal {
  code: ErrorCode;
  message: string;
}

/** What a new booking needs to be written: the same for one booking and for each of a series. */
export type BookingInsertDeps = {
  db: Db;
  repository: BookingsRepository;
  messages: Pick<BookingMessages, 'notifyBoth' | 'queueReminder' | 'announce' | 'waitingForProvider' | 'seriesBooked'>;
  track: Track;
  business: Pick<BusinessMetrics, 'booking'>;
  clock: Clock;
  ids: IdGenerator;
  slotsCache: Pick<SlotsCache, 'changed'>;
  holdMinutes: number;
};

/**
 * The booking, with what it sets off in the same transaction: its event, the live messages, the
 * parties' notifications and reminders, and its slot taken from every cached slot list once it
 * commits. The offer read for the checks is passed on, not read again for each message.
 */
export function createBookingInsert(deps: BookingInsertDeps) {
  const { db, repository, messages, slotsCache, clock } = deps;
  /** `quiet`: the parties are told once for the whole series instead (bookings.series.ts). */
  return async (
    tx: Db,
    actor: Actor,
    input: BookingInput,
    offer: KnownOffer,
    options: { quiet?: boolean } = {},
  ): Promise<BookingRow> => {
    const { service, provider } = offer;
    const paid = service.paymentMode === 'required';
    const now = clock.now();
    const row = await repository.insert(tx, {
      id: deps.ids(),
      customerId: actor.id,
      providerId: provider.id,
      serviceId: service.id,
      status: paid ? 'pending_payment' : provider.autoConfirm ? 'confirmed' : 'pending',
      ...visitSpan(new Date(input.starts_at), service),
      priceMinor: service.priceMinor,
      currency: service.currency,
      note: input.note ?? null,
      paymentStatus: null,
      paymentDueAt: paid ? new Date(now.getTime() + deps.holdMinutes * 60_000) : null,
      createdAt: now,
      updatedAt: now,
    });
    await slotsCache.changed(provider.id);
    // Recorded once the booking has committed, batched with other events (one insert for many).
    await afterCommit(
      () =>
        deps.track.later(db, 'booking_created', actor.id, {
          booking_id: row.id,
          provider_id: provider.id,
          service_id: service.id,
          status: row.status,
          price_minor: row.priceMinor,
          currency: row.currency,
        }),
      () => {},
    );
    await messages.announce(tx, row, 'booking.created', {}, offer);
    deps.business.booking('created');
    if (row.status === 'confirmed') deps.business.booking('confirmed');
    // A paid booking is news to the provider once it is paid (the payment's message).
    if (!options.quiet && row.status === 'confirmed')
      await messages.notifyBoth(tx, row, 'booking_confirmed', {}, offer);
    if (!options.quiet && row.status === 'pending') await messages.waitingForProvider(tx, row, now, offer);
    if (!paid) await messages.queueReminder(tx, row, now);
    return row;
  };
}

/**
 * Booking a free slot. Double booking is refused by the database (the `bookings_no_overlap`
 * exclusion constraint); the slot check in code only gives the usual case a clear answer before
 * the insert. A service paid at booking makes the booking `pending_payment`, holding the slot
 * for PAYMENT_HOLD_MINUTES, and starts its payment once the booking is committed (never a
 * gateway call inside a transaction).
 */
export function createBookingCreation(
  deps: BookingInsertDeps & {
    catalog: Pick<CatalogService, 'bookableService'>;
    payments: BookingPayments;
    flow: Pick<BookingPaymentFlow, 'detail' | 'release' | 'onPaymentChanged'>;
    idempotency: IdempotencyStore;
    minNoticeMs?: number;
  },
) {
  const { db, repository, catalog, payments, flow, clock } = deps;
  const insertBooking = createBookingInsert(deps);
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  /**
   * Starts the payment of a `pending_payment` booking. When it cannot start (a declined card,
   * the gateway down) the booking is released at once; a decline is the key's answer from then
   * on, while a gateway that did not answer gives the key up so that a retry is decided afresh.
   */
  const startPayment = async (
    booking: BookingRow,
    offer: { service: ServiceRow },
    input: BookingInput,
    keyRef?: IdempotencyKeyRef,
  ) => {
    const { service } = offer;
    try {
      const started = await payments.startBookingPayment({
        bookingId: booking.id,
        customerId: booking.customerId as string,
        providerId: booking.providerId,
        categoryId: service.categoryId,
        amountMinor: booking.priceMinor,
        currency: booking.currency,
        description: service.name,
        freeCancelHours: service.freeCancelHours,
        lateCancelFeeBps: service.lateCancelFeeBps,
        method: input.payment_method,
        token: input.payment_token,
      });
      // Paid at once (a saved card, a wallet, a test token): the booking moves on now, so the answer
      // shows it confirmed. The payment's own message does the same later and then finds it done.
      if (started.payment.captured_minor > 0) await flow.onPaymentChanged({ booking_id: booking.id });
      const row = await inTransaction(db, async (tx) => {
        const current = (await repository.find(tx, booking.id, { forUpdate: true })) as BookingRow;
        // Its change message may have come first and set a later state.
        if (current.paymentStatus !== null) return current;
        return repository.update(tx, booking.id, { paymentStatus: started.payment.status, updatedAt: clock.now() });
      });
      return {
        ...toPublicBooking(row),
        payment: started.payment,
        payment_action: row.status === 'pending_payment' ? started.action : null,
      };
    } catch (error) {
      await inTransaction(db, async (tx) => {
        const current = await repository.find(tx, booking.id, { forUpdate: true });
        if (current?.status === 'pending_payment')
          await flow.release(tx, current, 'the payment could not be started', { notify: false });
        if (!keyRef) return;
        if (error instanceof AppError && error.code === 'PAYMENT_DECLINED') {
          const refusal: StoredRefusal = { code: error.code, message: error.message };
          await deps.idempotency.complete(tx, keyRef, { statusCode: error.statusCode, response: refusal });
        } else {
          await deps.idempotency.release(tx, keyRef);
        }
      });
      throw error;
    }
  };

  /** The service booked, if it may be booked at `input.starts_at` by this actor with this payment; else the refusal. */
  const bookableOffer = async (tx: Db, actor: Actor, input: BookingInput): Promise<KnownOffer> => {
    const offer = await catalog.bookableService(input.service_id, tx);
    if (!offer) throw notFound('Service');
    const { service, provider } = offer;
    // Booking one's own service is the first step to reviewing it (finding 11): refused outright.
    if (provider.userId === actor.id) throw new AppError('OWN_SERVICE', 'You cannot book your own service');
    const paid = service.paymentMode === 'required';
    if (!paid && (input.payment_method || input.payment_token)) {
      throw invalidField(
        input.payment_token ? 'body.payment_token' : 'body.payment_method',
        'this service is paid at the visit',
      );
    }
    if (paid) {
      payments.assertCanCharge({
        amountMinor: service.priceMinor,
        currency: service.currency,
        method: input.payment_method,
      });
    }
    const reason = await slotRuleReason(
      { repository, clock, minNoticeMs },
      tx,
      provider.id,
      service,
      new Date(input.starts_at),
      actor.id,
    );
    if (reason) throw slotUnavailable(reason, minNoticeMs);
    return offer;
  };

  return {
    /**
     * With an idempotency key, the key is claimed in the booking's transaction: a replay (same
     * body) gets the first answer back, another body 409 IDEMPOTENCY_KEY_REUSED. A refused booking
     * stores nothing, so retrying it is decided afresh; a declined payment is the key's answer.
     */
    async create(
      actor: Actor,
      input: BookingInput,
      idempotencyKey?: string,
      hooks: BookingHooks = {},
    ): Promise<CreatedBooking> {
      const requestHash = bookingRequestHash(input);
      const keyRef = idempotencyKey ? { userId: actor.id, scope: CREATE_SCOPE, key: idempotencyKey } : undefined;
      const replay = async (stored: StoredAnswer): Promise<CreatedBooking> => {
        const { statusCode, response } = replayOf(stored, requestHash);
        if (statusCode >= 400) {
          const refusal = response as StoredRefusal;
          throw new AppError(refusal.code, refusal.message);
        }
        const row = await repository.find(db, (response as PublicBooking).id);
        if (!row) throw notFound('Booking');
        // The first request stopped between the booking and its payment: the payment starts now.
        if (row.status === 'pending_payment' && row.paymentStatus === null) {
          const offer = await catalog.bookableService(row.serviceId);
          if (offer) return { statusCode, booking: await startPayment(row, offer, input), replayed: true };
        }
        return { statusCode, booking: await flow.detail(row), replayed: true };
      };
      // Checks come after the claim, in its transaction: a replay gets the first answer even once
      // the slot has gone or passed, and a refusal rolls the claim back (a retry is decided afresh).
      let created: { row: BookingRow; offer: KnownOffer } | { stored: StoredAnswer };
      try {
        created = await inTransaction(db, async (tx) => {
          // Taken: the claim waited for that key's transaction, so its answer is stored.
          if (keyRef && !(await deps.idempotency.claim(tx, keyRef, requestHash))) {
            const stored = await deps.idempotency.find(tx, keyRef);
            if (stored) return { stored };
          }
          await hooks.before?.(tx);
          const offer = await bookableOffer(tx, actor, input);
          const row = await insertBooking(tx, actor, input, offer);
          await hooks.after?.(tx, row);
          if (keyRef) await deps.idempotency.complete(tx, keyRef, { statusCode: 201, response: toPublicBooking(row) });
          return { row, offer };
        });
      } catch (error) {
        // exclusion_violation: another active booking holds overlapping time.
        if (isExclusionViolation(error)) throw slotUnavailable('taken', minNoticeMs);
        throw error;
      }
      if ('stored' in created) return replay(created.stored);
      const { row, offer } = created;
      if (row.status !== 'pending_payment')
        return {
          statusCode: 201,
          booking: { ...toPublicBooking(row), payment: null, payment_action: null },
          replayed: false,
        };
      return { statusCode: 201, booking: await startPayment(row, offer, input, keyRef), replayed: false };
    },
  };
}
