import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { CatalogService } from '../catalog/index.js';
import type { PaymentsService } from '../payments/index.js';
import { type BookingDetail, toPublicBooking } from './bookings.dto.js';
import type { BookingMessages } from './bookings.messages.js';
import type { BookingsRepository } from './bookings.repository.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import type { BookingRow } from './bookings.tables.js';
import { queueFreedTime } from './bookings.waitlist.js';

/** What the bookings module asks of the payments module. */
export type BookingPayments = Pick<
  PaymentsService,
  | 'assertCanCharge'
  | 'startBookingPayment'
  | 'paymentOfBooking'
  | 'actionForBooking'
  | 'onBookingCancelled'
  | 'refundUnwanted'
  | 'bookingPaidWithCardOf'
>;

const EXPIRY_BATCH = 100;
const RELEASED_REASON = 'the payment was not completed in time';
const FAILED_REASON = 'the payment did not go through';

/**
 * Bookings of services paid at booking: a booking waits in `pending_payment`, holding its slot,
 * until its payment succeeds (then it is pending or confirmed like any other), fails for good or
 * its hold runs out (then it is cancelled and the slot is free again). The payments module says
 * when a payment changed; what that means for the booking is decided here, from the payment as
 * it is then, so its messages may come twice or in any order.
 */
export function createBookingPaymentFlow(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'findProvider'>;
  payments: BookingPayments;
  messages: Pick<
    BookingMessages,
    'notifyBoth' | 'notifyCustomer' | 'queueReminder' | 'announce' | 'waitingForProvider'
  >;
  business: Pick<BusinessMetrics, 'booking'>;
  slotsCache: Pick<SlotsCache, 'changed'>;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
}) {
  const { db, repository, payments, messages, clock } = deps;

  /** Cancels an unpaid booking in `tx` (the caller holds its row lock) and tells the customer. */
  const release = async (
    tx: Db,
    booking: BookingRow,
    reason: string,
    options: { paymentStatus?: string; notify?: boolean } = {},
  ) => {
    const now = clock.now();
    const released = await repository.update(tx, booking.id, {
      status: 'cancelled',
      cancelledBy: 'system',
      cancelReason: reason,
      ...(options.paymentStatus ? { paymentStatus: options.paymentStatus } : {}),
      updatedAt: now,
    });
    await deps.slotsCache.changed(booking.providerId);
    await queueFreedTime(deps.outbox, tx, booking, now);
    deps.business.booking('cancelled');
    await payments.onBookingCancelled(tx, {
      bookingId: booking.id,
      cancelledBy: 'system',
      startsAt: booking.startsAt,
      cancelledAt: now,
      reason,
    });
    // A customer told at once (a declined card) needs no email as well.
    if (options.notify !== false) await messages.notifyCustomer(tx, released, 'booking_cancelled', { reason });
    return released;
  };

  return {
    /** A booking with its payment and, while it is unpaid, what the client needs to pay. */
    async detail(booking: BookingRow): Promise<BookingDetail> {
      const payment = booking.paymentStatus === null ? null : await payments.paymentOfBooking(booking.id);
      const action =
        payment && booking.status === 'pending_payment' ? await payments.actionForBooking(booking.id) : null;
      return { ...toPublicBooking(booking), payment, payment_action: action };
    },

    release,

    /** The outbox handler of BOOKING_PAYMENT_CHANGED. */
    async onPaymentChanged(payload: Record<string, unknown>): Promise<void> {
      const bookingId = String(payload.booking_id);
      await inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, bookingId, { forUpdate: true });
        const payment = booking ? await payments.paymentOfBooking(bookingId, tx) : null;
        if (!booking || !payment) return;
        const now = clock.now();
        const paid = payment.captured_minor > 0;
        if (booking.status === 'pending_payment' && paid) {
          const provider = await deps.catalog.findProvider(booking.providerId, tx);
          const updated = await repository.update(tx, booking.id, {
            status: provider?.autoConfirm ? 'confirmed' : 'pending',
            paymentStatus: payment.status,
            paymentDueAt: null,
            updatedAt: now,
          });
          await messages.announce(tx, updated, 'payment.updated');
          if (updated.status === 'confirmed') deps.business.booking('confirmed');
          if (updated.status === 'confirmed') await messages.notifyBoth(tx, updated, 'booking_confirmed');
          else await messages.waitingForProvider(tx, updated, now);
          await messages.queueReminder(tx, updated, now);
          return;
        }
        // A Moyasar payment that failed cannot be tried again (a Stripe one can, until the hold ends).
        const over = payment.status === 'canceled' || (payment.status === 'failed' && payment.gateway === 'moyasar');
        if (booking.status === 'pending_payment' && over) {
          await release(tx, booking, FAILED_REASON, { paymentStatus: payment.status });
          return;
        }
        // Paid after it was released (the hold ran out, or the customer cancelled first): all of it goes back.
        if (booking.status === 'cancelled' && booking.paymentDueAt !== null && paid) {
          await payments.refundUnwanted(tx, payment.id);
        }
        if (booking.paymentStatus !== payment.status) {
          const updated = await repository.update(tx, booking.id, { paymentStatus: payment.status, updatedAt: now });
          await messages.announce(tx, updated, 'payment.updated');
        }
      });
    },

    /**
     * The periodic pass: unpaid bookings whose hold ran out are cancelled, their payments
     * cancelled at the gateway. One whose payment succeeded meanwhile is left to its message.
     */
    async expireHolds(): Promise<number> {
      let released = 0;
      for (const id of await repository.expiredHolds(db, clock.now(), EXPIRY_BATCH)) {
        await inTransaction(db, async (tx) => {
          const booking = await repository.find(tx, id, { forUpdate: true });
          if (booking?.status !== 'pending_payment' || !booking.paymentDueAt || booking.paymentDueAt > clock.now())
            return;
          const payment = await payments.paymentOfBooking(id, tx);
          if (payment && payment.captured_minor > 0) return;
          await release(tx, booking, RELEASED_REASON);
          released += 1;
        });
      }
      return released;
    },
  };
}

export type BookingPaymentFlow = ReturnType<typeof createBookingPaymentFlow>;
