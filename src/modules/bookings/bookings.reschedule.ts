import { Type } from '@sinclair/typebox';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isExclusionViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import { type IdempotencyStore, replayOf, requestHashOf, type StoredAnswer } from '../../shared/idempotency.js';
import type { CatalogService } from '../catalog/index.js';
import { slotRuleReason, slotUnavailable } from './bookings.create.js';
import { type BookingDetail, type PublicBooking, toPublicBooking } from './bookings.dto.js';
import { type BookingMessages, LATE_REMINDER_BEFORE_MS, REMINDER_BEFORE_MS } from './bookings.messages.js';
import { type Party, partyOf } from './bookings.parties.js';
import type { BookingPaymentFlow } from './bookings.payment.js';
import type { BookingsRepository } from './bookings.repository.js';
import { DEFAULT_MIN_NOTICE_MS, visitSpan } from './bookings.slots.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import type { BookingRow, BookingStatus } from './bookings.tables.js';
import { queueFreedTime } from './bookings.waitlist.js';

export const RescheduleBody = Type.Object(
  {
    starts_at: Type.String({
      format: 'date-time',
      description: 'the new start, a time from GET /providers/:id/slots of the booking’s service',
    }),
  },
  { additionalProperties: false },
);

const RESCHEDULE_SCOPE = 'bookings.reschedule';
const HOUR_MS = 3_600_000;
const RESCHEDULABLE: BookingStatus[] = ['pending', 'confirmed'];

export interface RescheduledBooking {
  booking: BookingDetail;
  replayed: boolean;
}

const tooLate = (message: string) => new AppError('INVALID_STATE', message);

/**
 * Moving a booking to another time. The booking keeps its row (its id, price and payment), and
 * one UPDATE moves its times: the exclusion constraint then takes the new time and frees the old
 * one at once, or refuses and nothing changes.
 */
export function createRescheduling(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider'>;
  messages: Pick<BookingMessages, 'announce' | 'notifyOther' | 'queueReminder' | 'waitingForProvider' | 'remind'>;
  flow: Pick<BookingPaymentFlow, 'detail'>;
  idempotency: IdempotencyStore;
  slotsCache: Pick<SlotsCache, 'changed'>;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  minNoticeMs?: number;
}) {
  const { db, repository, catalog, messages, clock } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  /**
   * The customer may move a booking until the service's free-cancellation window opens (the time
   * after which cancelling costs a fee: moving it then would dodge the fee); the provider until
   * the start, as they may cancel at any time.
   */
  const assertMayMove = async (tx: Db, booking: BookingRow, party: Party) => {
    if (!RESCHEDULABLE.includes(booking.status)) {
      throw tooLate(`A ${booking.status} booking cannot be rescheduled; only pending and confirmed ones can`);
    }
    const now = clock.now().getTime();
    if (now >= booking.startsAt.getTime()) throw tooLate('The visit has started; it can no longer be rescheduled');
    if (party === 'provider') return;
    const offer = await catalog.bookableService(booking.serviceId, tx);
    if (!offer) throw tooLate('This service is no longer offered; cancel the booking instead');
    const { freeCancelHours } = offer.service;
    if (now > booking.startsAt.getTime() - freeCancelHours * HOUR_MS) {
      throw tooLate(
        `Bookings of this service can be rescheduled until ${freeCancelHours} hours before the start; message the provider (POST /api/v1/bookings/${booking.id}/messages)`,
      );
    }
  };

  /**
   * The booking at its new time. A customer's move of a confirmed visit waits for the provider's
   * confirmation again, unless the provider confirms automatically: they agreed to the old time only.
   */
  const move = async (tx: Db, booking: BookingRow, party: Party, startsAt: Date) => {
    // The visit bought stays the same length, whatever the service says now.
    const length = {
      durationMinutes: (booking.endsAt.getTime() - booking.startsAt.getTime()) / 60_000,
      bufferMinutes: (booking.blocksUntil.getTime() - booking.endsAt.getTime()) / 60_000,
    };
    const reason = await slotRuleReason({ repository, clock, minNoticeMs }, tx, booking.providerId, length, startsAt);
    if (reason) throw slotUnavailable(reason, minNoticeMs);
    const backToProvider =
      booking.status === 'confirmed' &&
      party === 'customer' &&
      !(await catalog.findProvider(booking.providerId, tx))?.autoConfirm;
    const status = backToProvider ? 'pending' : booking.status;
    return repository.update(tx, booking.id, {
      status,
      ...visitSpan(startsAt, length),
      updatedAt: clock.now(),
    });
  };

  /**
   * What the parties hear of the new time, and the customer's reminder for it. Both open apps get
   * the move live; the party who did not make it gets `booking_rescheduled`, except that a move by
   * the customer that waits for the provider's confirmation asks the provider to confirm instead.
   */
  const announceMove = async (tx: Db, moved: BookingRow, party: Party, previous: Date) => {
    const now = clock.now();
    const previousStartsAt = previous.toISOString();
    await messages.announce(tx, moved, 'booking.rescheduled', { previous_starts_at: previousStartsAt });
    if (moved.status === 'pending' && party === 'customer') await messages.waitingForProvider(tx, moved, now);
    else {
      await messages.notifyOther(tx, moved, party, 'booking_rescheduled', {
        previous_starts_at: previousStartsAt,
        moved_by: party,
        status: moved.status,
      });
    }
    await messages.queueReminder(tx, moved, now);
    await deps.slotsCache.changed(moved.providerId);
  };

  return {
    /**
     * POST /bookings/:id/reschedule. With an Idempotency-Key, a replay answers the booking as it
     * is now, another body with the same key 409 IDEMPOTENCY_KEY_REUSED.
     */
    async reschedule(
      actor: Actor,
      id: string,
      input: { starts_at: string },
      idempotencyKey?: string,
    ): Promise<RescheduledBooking> {
      const startsAt = new Date(input.starts_at);
      const requestHash = requestHashOf({ booking_id: id, starts_at: startsAt.toISOString() });
      const keyRef = idempotencyKey ? { userId: actor.id, scope: RESCHEDULE_SCOPE, key: idempotencyKey } : undefined;
      let result: { row: BookingRow } | { stored: StoredAnswer };
      try {
        result = await inTransaction(db, async (tx) => {
          if (keyRef && !(await deps.idempotency.claim(tx, keyRef, requestHash))) {
            const stored = await deps.idempotency.find(tx, keyRef);
            if (stored) return { stored };
          }
          const booking = await repository.find(tx, id, { forUpdate: true });
          if (!booking) throw notFound('Booking');
          const party = await partyOf(catalog, tx, actor, booking);
          await assertMayMove(tx, booking, party);
          if (startsAt.getTime() === booking.startsAt.getTime()) {
            throw invalidField('body.starts_at', 'is the time the booking already has; send another start time');
          }
          const row = await move(tx, booking, party, startsAt);
          await announceMove(tx, row, party, booking.startsAt);
          // The time it left is free: the waitlist may offer it.
          await queueFreedTime(deps.outbox, tx, booking, clock.now());
          if (keyRef) await deps.idempotency.complete(tx, keyRef, { statusCode: 200, response: toPublicBooking(row) });
          return { row };
        });
      } catch (error) {
        // exclusion_violation: another active booking holds time the new one needs.
        if (isExclusionViolation(error)) throw slotUnavailable('taken', minNoticeMs);
        throw error;
      }
      if ('row' in result) return { booking: await deps.flow.detail(result.row), replayed: false };
      replayOf(result.stored, requestHash);
      const row = await repository.find(db, (result.stored.response as PublicBooking).id);
      if (!row) throw notFound('Booking');
      return { booking: await deps.flow.detail(row), replayed: true };
    },

    /**
     * The outbox handler of BOOKING_REMIND: a reminder queued for a time the booking has since
     * moved from is dropped (the move queued one for the new time).
     */
    async remind(payload: Record<string, unknown>): Promise<void> {
      const id = payload.booking_id;
      const dueAt = typeof payload.due_at === 'string' ? Date.parse(payload.due_at) : undefined;
      if (typeof id === 'string' && dueAt !== undefined) {
        const booking = await repository.find(db, id);
        const start = booking?.startsAt.getTime();
        if (start !== undefined && dueAt !== start - REMINDER_BEFORE_MS && dueAt !== start - LATE_REMINDER_BEFORE_MS)
          return;
      }
      await messages.remind(payload);
    },
  };
}
