import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { BookingEvent, BusinessMetrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { Track } from '../analytics/index.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import { type PublicBooking, toPublicBooking } from './bookings.dto.js';
import type { BookingMessages } from './bookings.messages.js';
import { partyOf } from './bookings.parties.js';
import type { BookingPayments } from './bookings.payment.js';
import { ACTIVE_STATUSES, type BookingsRepository } from './bookings.repository.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import type { BookingRow } from './bookings.tables.js';
import { queueFreedTime } from './bookings.waitlist.js';

/** A customer may cancel until this long before the start; the provider at any time. */
export const CUSTOMER_CANCEL_CUTOFF_MS = 24 * 3_600_000;

export type Transition = 'confirm' | 'complete' | 'no_show' | 'cancel';

const EVENT_OF: Record<Transition, BookingEvent> = {
  confirm: 'confirmed',
  complete: 'completed',
  no_show: 'no_show',
  cancel: 'cancelled',
};

const illegal = (message: string) => new AppError('INVALID_STATE', message);

/**
 * A booking's life after it is made: the provider confirms it and, once the visit has started,
 * marks it completed or a no-show; either party cancels it while it is active.
 */
export function createBookingLifecycle(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'providerOfUser'>;
  messages: Pick<BookingMessages, 'notifyBoth' | 'announce' | 'askForReview'>;
  payments: Pick<BookingPayments, 'onBookingCancelled'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  business: Pick<BusinessMetrics, 'booking'>;
  slotsCache: Pick<SlotsCache, 'changed'>;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
}) {
  const { db, repository, catalog, messages, clock } = deps;

  return {
    async transition(actor: Actor, id: string, action: Transition, reason?: string): Promise<PublicBooking> {
      return inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, id, { forUpdate: true });
        if (!booking) throw notFound('Booking');
        const party = await partyOf(catalog, tx, actor, booking);
        const now = clock.now();
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
            if (!ACTIVE_STATUSES.includes(booking.status)) {
              throw illegal(`A ${booking.status} booking cannot be cancelled`);
            }
            if (party === 'provider' && !reason) {
              throw invalidField('body.reason', 'is required when the provider cancels');
            }
            // A paid booking's own policy (free until N hours before, then a fee) decides the refund
            // until the start; one paid at the visit closes online cancellation 24 h before.
            if (party === 'customer' && booking.paymentStatus !== null && now >= booking.startsAt) {
              throw illegal(
                `The visit has started; message the provider (POST /api/v1/bookings/${booking.id}/messages)`,
              );
            }
            if (
              party === 'customer' &&
              booking.paymentStatus === null &&
              now.getTime() > booking.startsAt.getTime() - CUSTOMER_CANCEL_CUTOFF_MS
            ) {
              throw illegal(
                `Bookings can be cancelled online until 24 hours before the start; message the provider (POST /api/v1/bookings/${booking.id}/messages)`,
              );
            }
            patch = { status: 'cancelled', cancelledBy: party, cancelReason: reason ?? null };
            break;
        }
        const updated = await repository.update(tx, booking.id, { ...patch, updatedAt: now });
        // Cancelled, completed or a no-show: its time is free again (a completed visit's buffer may not have passed).
        if (!ACTIVE_STATUSES.includes(updated.status)) await deps.slotsCache.changed(booking.providerId);
        deps.business.booking(EVENT_OF[action]);
        const properties = { booking_id: booking.id, provider_id: booking.providerId, service_id: booking.serviceId };
        if (action === 'confirm') await messages.notifyBoth(tx, updated, 'booking_confirmed');
        if (action === 'complete') {
          await deps.track(tx, 'booking_completed', booking.customerId, properties);
          await messages.announce(tx, updated, 'booking.completed');
          await messages.askForReview(tx, updated);
        }
        if (action === 'cancel') {
          const { settled } = await deps.payments.onBookingCancelled(tx, {
            bookingId: booking.id,
            cancelledBy: party,
            startsAt: booking.startsAt,
            cancelledAt: now,
            reason,
          });
          // Its policy decided the refund: a late "paid" message must not refund the rest as unwanted.
          if (settled && updated.paymentDueAt) await repository.update(tx, booking.id, { paymentDueAt: null });
          await deps.track(tx, 'booking_cancelled', booking.customerId, { ...properties, cancelled_by: party });
          // The queued reminder finds the booking cancelled and sends nothing.
          await messages.notifyBoth(tx, updated, 'booking_cancelled', reason ? { reason } : {});
          await queueFreedTime(deps.outbox, tx, booking, now);
        }
        return toPublicBooking(updated);
      });
    },

    /**
     * POST /admin/bookings/:id/cancel: an admin cancels an active booking at any time, e.g. when
     * the provider did not come; a paid booking is refunded in full. Audited.
     */
    async adminCancel(
      actor: Actor,
      id: string,
      input: { reason: string; provider_no_show?: boolean },
    ): Promise<PublicBooking> {
      return inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, id, { forUpdate: true });
        if (!booking) throw notFound('Booking');
        if (!ACTIVE_STATUSES.includes(booking.status)) throw illegal(`A ${booking.status} booking cannot be cancelled`);
        const now = clock.now();
        const updated = await repository.update(tx, booking.id, {
          status: 'cancelled',
          cancelledBy: 'admin',
          cancelReason: input.reason,
          updatedAt: now,
        });
        await deps.slotsCache.changed(booking.providerId);
        const { settled } = await deps.payments.onBookingCancelled(tx, {
          bookingId: booking.id,
          cancelledBy: 'admin',
          startsAt: booking.startsAt,
          cancelledAt: now,
          reason: input.reason,
          providerNoShow: input.provider_no_show === true,
        });
        if (settled && updated.paymentDueAt) await repository.update(tx, booking.id, { paymentDueAt: null });
        deps.business.booking('cancelled');
        await deps.audit.record(tx, auditContextOf(actor), {
          action: 'booking.cancelled_by_admin',
          targetType: 'booking',
          targetId: booking.id,
          details: { reason: input.reason, provider_no_show: input.provider_no_show === true },
        });
        await deps.track(tx, 'booking_cancelled', booking.customerId, {
          booking_id: booking.id,
          provider_id: booking.providerId,
          service_id: booking.serviceId,
          cancelled_by: 'admin',
        });
        await messages.notifyBoth(tx, updated, 'booking_cancelled', { reason: input.reason });
        await queueFreedTime(deps.outbox, tx, booking, now);
        return toPublicBooking(updated);
      });
    },
  };
}
