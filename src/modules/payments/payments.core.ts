import { AppError } from '../../errors.js';
import { GatewayDeclinedError, type GatewayEvent, GatewayUnavailableError } from './payments.gateway.js';
import type { PublicPayment } from './payments.schemas.js';
import type { PaymentRow, PaymentStatus } from './payments.tables.js';

/** Outbox messages the payments module delivers to itself (work after a webhook, a refund, a cancel). */
export const PAYMENT_EVENT = 'payments.event';
export const REFUND_EXECUTE = 'payments.refund';
export const INTENT_CANCEL = 'payments.cancel_intent';
/**
 * What the bookings module hears when a booking's payment changes (paid, failed, cancelled,
 * refunded): its handler reads the payment as it is then, so messages may come in any order.
 */
export const BOOKING_PAYMENT_CHANGED = 'booking.payment_changed';

export const toPublicPayment = (row: PaymentRow): PublicPayment => ({
  id: row.id,
  status: row.status,
  amount_minor: row.amountMinor,
  currency: row.currency,
  commission_minor: row.commissionMinor,
  captured_minor: row.capturedMinor,
  refunded_minor: row.refundedMinor,
  method: row.method ?? null,
  card_brand: row.cardBrand ?? null,
  card_last4: row.cardLast4 ?? null,
  gateway: row.gateway,
  created_at: row.createdAt.toISOString(),
});

/**
 * Whether a payment event may move a payment from `current` to `next`. Events arrive twice and
 * out of order: a payment never goes back from succeeded to an earlier state, and nothing revives
 * a refunded or cancelled one. Refund states are ours (set when a refund succeeds).
 */
export function canMove(current: PaymentStatus, next: PaymentStatus): boolean {
  if (current === next) return false;
  // Refunded states follow our refunds (with their ledger entries), never a payment event.
  if (next === 'partially_refunded' || next === 'refunded') return false;
  if (current === 'canceled' || current === 'refunded' || current === 'partially_refunded') return false;
  if (current === 'succeeded') return false;
  // A failed attempt may be retried with another card until the payment is cancelled.
  return true;
}

/** The outbox payload of an event: plain JSON, dates as ISO strings. */
export function eventToPayload(event: GatewayEvent): Record<string, unknown> {
  return JSON.parse(JSON.stringify(event));
}

const DATE_FIELDS = ['occurredAt', 'currentPeriodEnd', 'arrivalAt'];

/** The event back from its outbox payload (the ISO strings become dates again). */
export function eventFromPayload(payload: Record<string, unknown>): GatewayEvent {
  return JSON.parse(JSON.stringify(payload), (key, value) =>
    DATE_FIELDS.includes(key) && typeof value === 'string' ? new Date(value) : value,
  ) as GatewayEvent;
}

/** A gateway failure as the client should see it. */
export function gatewayError(error: unknown): AppError {
  if (error instanceof GatewayDeclinedError) return new AppError('PAYMENT_DECLINED', error.message);
  if (error instanceof GatewayUnavailableError) {
    return new AppError('PAYMENTS_UNAVAILABLE', 'The payment provider did not answer; try again in a moment', {
      headers: { 'retry-after': '5' },
    });
  }
  return new AppError('PAYMENTS_UNAVAILABLE', 'Payments are not available right now', { cause: error });
}

export const paymentsUnavailable = () =>
  new AppError('PAYMENTS_UNAVAILABLE', 'Online payments are not configured on this server', {
    headers: { 'retry-after': '3600' },
  });
