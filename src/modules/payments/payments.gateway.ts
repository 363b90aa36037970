import type { GatewayName, PaymentMethod, PaymentStatus, SubscriptionStatus } from './payments.tables.js';

/**
 * What the payments module needs from a payment provider, whichever it is: Stripe (the official
 * SDK), Moyasar (its REST API) or the simulated gateway of development. Amounts are integer minor
 * units of `currency` (ISO 4217 exponent), never floats. Every call that creates something takes
 * an idempotency key, so a retried call never charges or refunds twice.
 */
export interface PaymentGateway {
  readonly name: GatewayName;
  /** False when its keys are not set (production then refuses payments: 503 PAYMENTS_UNAVAILABLE). */
  readonly configured: boolean;

  createIntent(input: CreateIntentInput): Promise<GatewayPayment>;
  retrieveIntent(gatewayPaymentId: string): Promise<GatewayPayment>;
  /** Cancels a payment that was never completed (an unpaid booking's hold ran out). */
  cancelIntent(gatewayPaymentId: string): Promise<GatewayPayment>;
  refund(input: RefundInput): Promise<GatewayRefund>;

  /**
   * Checks a webhook's signature over the raw body exactly as received, and turns the event into
   * our terms. Throws WebhookSignatureError when the signature is missing, wrong or too old.
   */
  parseWebhook(rawBody: string, headers: Record<string, string | string[] | undefined>): GatewayEvent;

  /** Connect: an account that pays the provider out, and the link that onboards it. */
  createPayoutAccount?(input: { providerId: string; email: string; country?: string }): Promise<{ accountId: string }>;
  onboardingLink?(input: { accountId: string; returnUrl: string; refreshUrl: string }): Promise<{ url: string }>;

  /** Billing: a hosted checkout that starts a subscription, and the customer portal. */
  createSubscriptionCheckout?(input: SubscriptionCheckoutInput): Promise<{ url: string; customerId?: string }>;
  createPortalSession?(input: { customerId: string; returnUrl: string }): Promise<{ url: string }>;

  /** The gateway's own record of money moved in [from, to), for reconciliation. */
  balanceTransactions?(range: { from: Date; to: Date }): Promise<BalanceTransaction[]>;

  /** Throws when the gateway cannot be reached (the health check). */
  check(): Promise<void>;
}

export interface CreateIntentInput {
  amountMinor: number;
  currency: string;
  idempotencyKey: string;
  description: string;
  /** Our ids, echoed back in events (`payment_id`, `booking_id`). */
  metadata: Record<string, string>;
  method?: PaymentMethod;
  /** A token the client got from the gateway's own script (Moyasar source token, simulated test token). */
  token?: string;
  customerEmail?: string;
  /** Connect destination charge: the provider's account gets the amount less our fee. */
  destination?: { accountId: string; applicationFeeMinor: number };
  /** Where the customer comes back after a 3-D Secure or wallet step. */
  returnUrl: string;
}

export interface GatewayPayment {
  id: string;
  status: PaymentStatus;
  amountMinor: number;
  currency: string;
  /** Handed to the client to complete the payment (Stripe PaymentIntent); never stored. */
  clientSecret?: string;
  nextActionUrl?: string;
  method?: PaymentMethod;
  cardBrand?: string;
  cardLast4?: string;
  /**
   * The gateway's own fingerprint of the card: one card number gives one value at that gateway
   * (Stripe's `card.fingerprint`), never the number. Moyasar gives none.
   */
  cardFingerprint?: string;
  failureReason?: string;
  capturedMinor: number;
  refundedMinor: number;
  metadata: Record<string, string>;
}

export interface RefundInput {
  gatewayPaymentId: string;
  amountMinor: number;
  /** The payment's currency (ISO 4217): the amount is in its minor units. */
  currency: string;
  idempotencyKey: string;
  /** Connect: take the provider's share back from their account, and our fee in proportion. */
  reverseTransfer: boolean;
  refundApplicationFee: boolean;
  metadata: Record<string, string>;
}

export interface GatewayRefund {
  id: string;
  gatewayPaymentId: string;
  amountMinor: number;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  metadata: Record<string, string>;
}

export interface SubscriptionCheckoutInput {
  userId: string;
  email: string;
  customerId?: string;
  priceId: string;
  successUrl: string;
  cancelUrl: string;
  idempotencyKey: string;
}

export interface BalanceTransaction {
  id: string;
  type: 'charge' | 'refund' | 'payout' | 'fee' | 'other';
  amountMinor: number;
  feeMinor: number;
  currency: string;
  /** The payment, refund or payout it belongs to (gateway ids). */
  sourceId: string;
  createdAt: Date;
}

/** A gateway event in our terms. `occurredAt` is the gateway's time, used to order events. */
export type GatewayEvent = {
  id: string;
  gateway: GatewayName;
  occurredAt: Date;
  /** The gateway's own event type, for logs. */
  gatewayType: string;
} & (
  | { kind: 'payment'; payment: GatewayPayment }
  | { kind: 'refund'; refund: GatewayRefund }
  | { kind: 'account'; account: { id: string; payoutsEnabled: boolean; detailsSubmitted: boolean } }
  | {
      kind: 'payout';
      payout: {
        id: string;
        accountId: string;
        amountMinor: number;
        currency: string;
        status: 'pending' | 'in_transit' | 'paid' | 'failed' | 'canceled';
        arrivalAt?: Date;
      };
    }
  | { kind: 'checkout'; checkout: { userId: string; customerId: string; subscriptionId: string } }
  | {
      kind: 'subscription';
      subscription: {
        id: string;
        customerId: string;
        /** Ours, from the subscription's metadata: lets an event that beats the checkout's find its member. */
        userId?: string;
        status: SubscriptionStatus;
        interval?: 'month' | 'year';
        currentPeriodEnd?: Date;
        cancelAtPeriodEnd: boolean;
      };
    }
  | {
      kind: 'invoice';
      invoice: {
        id: string;
        customerId: string;
        subscriptionId?: string;
        /** Our member, from the subscription's metadata, when the gateway carries it on the invoice. */
        userId?: string;
        paid: boolean;
        amountMinor: number;
        currency: string;
      };
    }
  | { kind: 'ignored' }
);

export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

/** The gateway said no (a declined card, an invalid amount): the message is safe to show. */
export class GatewayDeclinedError extends Error {
  override name = 'GatewayDeclinedError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The gateway did not answer or answered 5xx: the call may be retried. */
export class GatewayUnavailableError extends Error {
  override name = 'GatewayUnavailableError';
}
