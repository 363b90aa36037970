import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Gateways } from './gateways/index.js';
import { gatewayError, INTENT_CANCEL, paymentsUnavailable, toPublicPayment } from './payments.core.js';
import { GatewayDeclinedError, type PaymentGateway } from './payments.gateway.js';
import {
  type CancelledBy,
  cancellationRefund,
  commissionFor,
  formatMinor,
  minimumChargeMinor,
  stripeUnrepresentable,
} from './payments.money.js';
import type { Refunds } from './payments.refunds.js';
import type { PaymentsRepository } from './payments.repository.js';
import type { PaymentAction, PublicPayment } from './payments.schemas.js';
import type { Settlement } from './payments.settlement.js';
import type { PaymentMethod, PaymentRow, RefundSource } from './payments.tables.js';

const refundSourceOf = (by: CancelledBy, providerNoShow: boolean): RefundSource => {
  if (by === 'customer') return 'customer_cancel';
  if (by === 'provider') return 'provider_cancel';
  if (by === 'system') return 'unpaid_booking';
  return providerNoShow ? 'provider_no_show' : 'admin';
};

/** What the bookings module hands over to charge for a booking it has just made. */
export interface BookingCharge {
  bookingId: string;
  customerId: string;
  providerId: string;
  categoryId: string;
  amountMinor: number;
  currency: string;
  description: string;
  freeCancelHours: number;
  lateCancelFeeBps: number;
  method?: PaymentMethod;
  token?: string;
}

/**
 * Paying for a booking: the bookings module makes the booking (`pending_payment`, holding its
 * slot), then asks here for the payment; the gateway's answer comes back through its events. The
 * commission is fixed on the payment when it is made: a later rule never re-prices it.
 */
export function createBookingPayments(deps: {
  db: Db;
  repository: PaymentsRepository;
  gateways: Pick<Gateways, 'pick' | 'of'>;
  settlement: Pick<Settlement, 'applyPaymentState'>;
  refunds: Pick<Refunds, 'requestRefund'>;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  ids: IdGenerator;
  commissionRateBps: number;
  publicAppUrl: string;
  publishableKey?: string;
}) {
  const { db, repository, clock } = deps;

  const actionOf = (payment: PaymentRow, clientSecret?: string): PaymentAction | null => {
    // A declined Stripe (or simulated) payment may be tried again with another card until its hold ends.
    const retryable = payment.status === 'failed' && payment.gateway !== 'moyasar';
    if (payment.status !== 'requires_payment_method' && payment.status !== 'requires_action' && !retryable) return null;
    return {
      gateway: payment.gateway,
      client_secret: clientSecret ?? null,
      publishable_key: payment.gateway === 'stripe' ? (deps.publishableKey ?? null) : null,
      next_action_url:
        payment.gateway === 'simulated'
          ? `${deps.publicAppUrl}/api/v1/payments/${payment.id}/simulate`
          : (payment.nextActionUrl ?? null),
    };
  };

  return {
    /**
     * Refuses, before any booking is made, what could not be charged: no gateway for this currency
     * and method (503 PAYMENTS_UNAVAILABLE), or a price below the gateway's smallest charge.
     */
    assertCanCharge(input: { amountMinor: number; currency: string; method?: PaymentMethod }): void {
      const gateway = deps.gateways.pick(input);
      if (!gateway.configured) throw paymentsUnavailable();
      const minimum = minimumChargeMinor(input.currency, gateway.name);
      if (input.amountMinor < minimum) {
        throw invalidField(
          'body.service_id',
          `costs less than the smallest amount the payment provider can charge (${formatMinor(minimum, input.currency)} ${input.currency})`,
        );
      }
      const unrepresentable =
        gateway.name === 'stripe' ? stripeUnrepresentable(input.amountMinor, input.currency) : null;
      if (unrepresentable) {
        throw invalidField('body.service_id', `has a price the payment provider cannot charge: ${unrepresentable}`);
      }
    },

    /** Creates the gateway payment for a booking; a declined or failed start throws (the caller releases the hold). */
    async startBookingPayment(
      charge: BookingCharge,
    ): Promise<{ payment: PublicPayment; action: PaymentAction | null }> {
      const gateway = deps.gateways.pick({ currency: charge.currency, method: charge.method });
      if (!gateway.configured) throw paymentsUnavailable();
      const rule = await repository.commissionRule(db, charge.categoryId);
      const rateBps = rule?.rateBps ?? deps.commissionRateBps;
      const commissionMinor = commissionFor({
        amountMinor: charge.amountMinor,
        currency: charge.currency,
        rateBps,
        limits: rule?.limits ?? {},
      });
      const payout = await repository.payoutAccountOf(db, charge.providerId);
      const destination =
        payout?.payoutsEnabled && payout.gateway === gateway.name
          ? { accountId: payout.accountId, applicationFeeMinor: commissionMinor }
          : undefined;
      const paymentId = deps.ids();
      let intent: Awaited<ReturnType<PaymentGateway['createIntent']>>;
      try {
        intent = await gateway.createIntent({
          amountMinor: charge.amountMinor,
          currency: charge.currency,
          idempotencyKey: `booking-payment:${charge.bookingId}`,
          description: charge.description,
          metadata: { payment_id: paymentId, booking_id: charge.bookingId },
          method: charge.method,
          token: charge.token,
          destination,
          returnUrl: `${deps.publicAppUrl}/bookings/${charge.bookingId}`,
        });
      } catch (error) {
        throw gatewayError(error);
      }
      // Declined in the same call (a token that fails at once): refused like a card error, nothing kept.
      if (intent.status === 'failed') {
        throw new AppError('PAYMENT_DECLINED', intent.failureReason ?? 'The payment was declined');
      }
      const existing = await repository.findPaymentByGatewayId(db, gateway.name, intent.id);
      // A retried request got the same intent back (the gateway's idempotency): the payment is made.
      if (existing) return { payment: toPublicPayment(existing), action: actionOf(existing, intent.clientSecret) };
      const payment = await inTransaction(db, async (tx) => {
        const now = clock.now();
        const created = await repository.insertPayment(tx, {
          id: paymentId,
          purpose: 'booking',
          bookingId: charge.bookingId,
          payerId: charge.customerId,
          providerId: charge.providerId,
          categoryId: charge.categoryId,
          gateway: gateway.name,
          gatewayPaymentId: intent.id,
          status: 'requires_payment_method',
          amountMinor: charge.amountMinor,
          currency: charge.currency,
          commissionRateBps: rateBps,
          commissionMinor,
          destinationAccountId: destination?.accountId ?? null,
          freeCancelHours: charge.freeCancelHours,
          lateCancelFeeBps: charge.lateCancelFeeBps,
          createdAt: now,
          updatedAt: now,
        });
        // A test token on the simulated gateway (or a saved card) may settle at once.
        return intent.status === 'requires_payment_method'
          ? created
          : deps.settlement.applyPaymentState(tx, created, intent);
      }).catch(async (error: unknown) => {
        const raced =
          isUniqueViolation(error) && (await repository.findPaymentByGatewayId(db, gateway.name, intent.id));
        if (raced) return raced;
        throw error;
      });
      return { payment: toPublicPayment(payment), action: actionOf(payment, intent.clientSecret) };
    },

    /** The booking's payment as its page shows it, or null for a booking paid at the visit (in `tx` when given). */
    async paymentOfBooking(bookingId: string, tx: Db = db): Promise<PublicPayment | null> {
      const payment = await repository.paymentOfBooking(tx, bookingId);
      return payment ? toPublicPayment(payment) : null;
    },

    /**
     * Whether money for the booking was taken from a card that `userId` has also used on a payment
     * here (the same gateway's card fingerprint): a provider's second account paying with the
     * provider's own card. Payments whose gateway gives no fingerprint (Moyasar, Premium invoices)
     * never match.
     */
    bookingPaidWithCardOf(bookingId: string, userId: string, tx: Db = db): Promise<boolean> {
      return repository.bookingPaidWithCardOf(tx, bookingId, userId);
    },

    /** What the client needs to finish paying (a replay of the booking request asks again). */
    async actionForBooking(bookingId: string): Promise<PaymentAction | null> {
      const payment = await repository.paymentOfBooking(db, bookingId);
      if (!payment || !actionOf(payment)) return null;
      try {
        const intent = await deps.gateways.of(payment.gateway).retrieveIntent(payment.gatewayPaymentId);
        return actionOf(payment, intent.clientSecret);
      } catch {
        return actionOf(payment);
      }
    },

    /**
     * A booking was cancelled (in the caller's transaction): a captured payment is refunded by its
     * policy (in full when the provider or an admin cancels); one not yet paid is cancelled at the
     * gateway.
     */
    async onBookingCancelled(
      tx: Db,
      input: {
        bookingId: string;
        cancelledBy: CancelledBy;
        startsAt: Date;
        cancelledAt: Date;
        reason?: string;
        /** An admin cancelling because the provider did not come. */
        providerNoShow?: boolean;
      },
    ): Promise<{ settled: boolean }> {
      const payment = await repository.paymentOfBooking(tx, input.bookingId, { forUpdate: true });
      if (!payment) return { settled: false };
      if (payment.status === 'succeeded' || payment.status === 'partially_refunded') {
        const amountMinor = cancellationRefund({
          capturedMinor: payment.capturedMinor,
          alreadyRefundedMinor: payment.refundedMinor,
          startsAt: input.startsAt,
          cancelledAt: input.cancelledAt,
          freeCancelHours: payment.freeCancelHours ?? 0,
          lateCancelFeeBps: payment.lateCancelFeeBps ?? 0,
          cancelledBy: input.cancelledBy,
        });
        if (amountMinor > 0) {
          await deps.refunds.requestRefund(tx, payment, {
            amountMinor,
            source: refundSourceOf(input.cancelledBy, input.providerNoShow === true),
            reason: input.reason,
          });
        }
        return { settled: true };
      }
      // A failed Stripe (or simulated) payment can still be paid with another card: cancel it too.
      if (payment.status !== 'canceled' && !(payment.status === 'failed' && payment.gateway === 'moyasar')) {
        await deps.outbox.enqueue(tx, { type: INTENT_CANCEL, payload: { payment_id: payment.id } });
      }
      return { settled: false };
    },

    /** A payment that succeeded for a booking that is no longer there (its hold ran out): all of it back. */
    async refundUnwanted(tx: Db, paymentId: string): Promise<void> {
      const payment = await repository.findPayment(tx, paymentId, { forUpdate: true });
      if (!payment) return;
      const left = payment.capturedMinor - payment.refundedMinor;
      if (left <= 0 || (payment.status !== 'succeeded' && payment.status !== 'partially_refunded')) return;
      await deps.refunds.requestRefund(tx, payment, {
        amountMinor: left,
        source: 'unpaid_booking',
        reason: 'the booking was released before the payment completed',
      });
    },

    /** The outbox handler: cancels a payment the customer never completed. */
    async cancelIntent(payload: Record<string, unknown>): Promise<void> {
      const payment = await repository.findPayment(db, String(payload.payment_id));
      if (!payment || payment.status === 'canceled' || payment.status === 'succeeded') return;
      let state: Awaited<ReturnType<PaymentGateway['cancelIntent']>>;
      try {
        state = await deps.gateways.of(payment.gateway).cancelIntent(payment.gatewayPaymentId);
      } catch (error) {
        // Too late to cancel (it succeeded meanwhile): its success event will refund it.
        if (error instanceof GatewayDeclinedError) return;
        throw error;
      }
      await inTransaction(db, async (tx) => {
        const current = (await repository.findPayment(tx, payment.id, { forUpdate: true })) as PaymentRow;
        await deps.settlement.applyPaymentState(tx, current, state);
      });
    },
  };
}

export type BookingPayments = ReturnType<typeof createBookingPayments>;
