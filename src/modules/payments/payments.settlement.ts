import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { EventBus } from '../../shared/events.js';
import type { Notify } from '../notifications/index.js';
import { BOOKING_PAYMENT_CHANGED, canMove } from './payments.core.js';
import type { GatewayPayment } from './payments.gateway.js';
import type { Ledger } from './payments.ledger.js';
import { formatMinor } from './payments.money.js';
import type { PaymentsRepository } from './payments.repository.js';
import type { PaymentRow, RefundRow } from './payments.tables.js';

export type PaymentUpdate = Pick<GatewayPayment, 'status'> &
  Partial<
    Pick<
      GatewayPayment,
      | 'method'
      | 'cardBrand'
      | 'cardLast4'
      | 'cardFingerprint'
      | 'failureReason'
      | 'nextActionUrl'
      | 'amountMinor'
      | 'currency'
    >
  >;

/**
 * What happens, inside one transaction, when a payment or a refund reaches a new state: the row,
 * the ledger, the booking's outbox message and the customer's email move together, so a crash
 * leaves all or none of them. Replays are harmless: a state that cannot follow the current one
 * is ignored, and the ledger refuses a second capture of one payment.
 */
export function createSettlement(deps: {
  repository: PaymentsRepository;
  ledger: Ledger;
  outbox: Pick<Outbox, 'enqueue'>;
  notify: Notify;
  clock: Clock;
  business: Pick<BusinessMetrics, 'paymentCaptured'>;
  /** A gateway answer that cannot be ours is reported to the security monitor. */
  events?: Pick<EventBus, 'publish'>;
}) {
  const { repository, ledger, clock } = deps;

  /** Tells the bookings module, once this commits, that the booking's payment changed. */
  const bookingPaymentChanged = async (tx: Db, payment: PaymentRow) => {
    if (!payment.bookingId) return;
    await deps.outbox.enqueue(tx, {
      type: BOOKING_PAYMENT_CHANGED,
      payload: { booking_id: payment.bookingId, payment_id: payment.id },
    });
  };

  const describe = (payment: PaymentRow) =>
    payment.purpose === 'subscription' ? 'your Premium subscription' : 'your booking';

  return {
    /** Moves the payment to the gateway's state, when that state may follow the current one. */
    async applyPaymentState(tx: Db, payment: PaymentRow, reported: PaymentUpdate): Promise<PaymentRow> {
      // "Paid" for another amount or currency than was asked is not our payment: never captured.
      const mismatch =
        reported.status === 'succeeded' &&
        ((reported.amountMinor !== undefined && reported.amountMinor !== payment.amountMinor) ||
          (reported.currency !== undefined && reported.currency.toUpperCase() !== payment.currency));
      const update: PaymentUpdate = mismatch
        ? { ...reported, status: 'failed', failureReason: 'amount_mismatch' }
        : reported;
      if (mismatch) {
        await deps.events?.publish('security.signal', {
          type: 'payment_mismatch',
          severity: 'critical',
          rule: 'payments.amount_mismatch',
          detail: `payment ${payment.id}: asked ${payment.amountMinor} ${payment.currency}, the gateway reported ${reported.amountMinor} ${reported.currency}`,
        });
      }
      if (!canMove(payment.status, update.status)) return payment;
      const now = clock.now();
      const captured = update.status === 'succeeded' && payment.capturedMinor === 0;
      const row = await repository.updatePayment(tx, payment.id, {
        status: update.status,
        ...(update.method ? { method: update.method } : {}),
        ...(update.cardBrand ? { cardBrand: update.cardBrand } : {}),
        ...(update.cardLast4 ? { cardLast4: update.cardLast4 } : {}),
        ...(update.cardFingerprint ? { cardFingerprint: update.cardFingerprint } : {}),
        failureReason: update.status === 'failed' ? (update.failureReason ?? 'declined') : null,
        nextActionUrl: update.status === 'requires_action' ? (update.nextActionUrl ?? payment.nextActionUrl) : null,
        ...(captured ? { capturedMinor: payment.amountMinor } : {}),
        updatedAt: now,
      });
      if (captured) {
        await ledger.recordCapture(tx, {
          paymentId: row.id,
          gateway: row.gateway,
          providerId: row.providerId ?? undefined,
          currency: row.currency,
          amountMinor: row.amountMinor,
          commissionMinor: row.commissionMinor,
          occurredAt: now,
        });
        deps.business.paymentCaptured({ currency: row.currency, amountMinor: row.amountMinor, purpose: row.purpose });
        if (row.payerId) {
          await deps.notify.send(tx, {
            userId: row.payerId,
            purpose: row.purpose === 'booking' ? 'booking' : 'account',
            template: 'payment_receipt',
            data: {
              description: describe(row),
              amount: `${formatMinor(row.amountMinor, row.currency)} ${row.currency}`,
              paid_at: now.toISOString(),
              payment_id: row.id,
              ...(row.method ? { method: row.method.replace('_', ' ') } : {}),
              ...(row.cardLast4 ? { card_last4: row.cardLast4 } : {}),
              ...(row.bookingId ? { booking_id: row.bookingId } : {}),
            },
            urgent: true,
          });
        }
      }
      await bookingPaymentChanged(tx, row);
      return row;
    },

    /** A refund the gateway confirmed (or refused): the ledger, the payment's state, the email. */
    async finishRefund(
      tx: Db,
      refund: RefundRow,
      outcome: 'succeeded' | 'failed',
      gatewayRefundId?: string,
    ): Promise<RefundRow> {
      if (refund.status !== 'pending') return refund;
      const now = clock.now();
      const payment = (await repository.findPayment(tx, refund.paymentId, { forUpdate: true })) as PaymentRow;
      const updated = await repository.updateRefund(tx, refund.id, {
        status: outcome,
        ...(gatewayRefundId ? { gatewayRefundId } : {}),
        updatedAt: now,
      });
      // The payment's state follows the refunds that went through, not those still reserved.
      const refundedSoFar = (await repository.refundsOf(tx, payment.id))
        .filter((row) => row.status === 'succeeded')
        .reduce((sum, row) => sum + row.amountMinor, 0);
      const status =
        refundedSoFar === 0
          ? payment.status
          : refundedSoFar >= payment.capturedMinor
            ? 'refunded'
            : 'partially_refunded';
      if (outcome === 'failed') {
        // The amount was reserved when the refund was asked for; a refused refund gives it back.
        await repository.updatePayment(tx, payment.id, {
          refundedMinor: payment.refundedMinor - refund.amountMinor,
          status,
          updatedAt: now,
        });
        return updated;
      }
      await ledger.recordRefund(tx, {
        refundId: refund.id,
        paymentId: payment.id,
        gateway: payment.gateway,
        providerId: payment.providerId ?? undefined,
        currency: payment.currency,
        amountMinor: refund.amountMinor,
        commissionReversedMinor: refund.commissionReversedMinor,
        occurredAt: now,
      });
      const refunded = await repository.updatePayment(tx, payment.id, { status, updatedAt: now });
      await bookingPaymentChanged(tx, refunded);
      if (payment.payerId) {
        await deps.notify.send(tx, {
          userId: payment.payerId,
          purpose: payment.purpose === 'booking' ? 'booking' : 'account',
          template: 'refund_notice',
          data: {
            description: describe(payment),
            amount: `${formatMinor(refund.amountMinor, payment.currency)} ${payment.currency}`,
            payment_id: payment.id,
            ...(refund.reason ? { reason: refund.reason } : {}),
            ...(payment.bookingId ? { booking_id: payment.bookingId } : {}),
          },
          urgent: true,
        });
      }
      return updated;
    },
  };
}

export type Settlement = ReturnType<typeof createSettlement>;
