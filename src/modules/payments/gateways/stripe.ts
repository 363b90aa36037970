import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import type { PaymentsConfig } from '../../../config.js';
import type { Clock } from '../../../infra/clock.js';
import {
  type BalanceTransaction,
  GatewayDeclinedError,
  type GatewayEvent,
  type GatewayPayment,
  type GatewayRefund,
  GatewayUnavailableError,
  type PaymentGateway,
  WebhookSignatureError,
} from '../payments.gateway.js';
import { fromStripeAmount, toStripeAmount } from '../payments.money.js';
import type { PaymentMethod, PaymentStatus, SubscriptionStatus } from '../payments.tables.js';

/**
 * The Stripe API version of every request, pinned rather than left to the account's default:
 * the SDK's types describe exactly this version (stripe 23.1's own), so what TypeScript promises
 * is what the API answers. A newer SDK fails to compile here until the pin is moved on purpose.
 * The webhook endpoint must be created with the same version, since Stripe renders an event's
 * object in the endpoint's version, not the request's.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive' as const;

/** Stripe's own default: a signed event older than this is refused, so a captured one cannot be replayed later. */
export const STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300;

export type StripeSettings = NonNullable<PaymentsConfig['stripe']>;

export interface StripeGatewayDeps {
  /** "Now" for the webhook timestamp check, so tests that move time agree with the signature's age. */
  clock: Clock;
  /** The SDK retries connection errors, 409 and 5xx with the same idempotency key. Default 2. */
  maxNetworkRetries?: number;
  /** Per request, in milliseconds. Default 20 s (the SDK's 80 s would outlast the client's request). */
  timeoutMs?: number;
}

const CARD_METHODS: ReadonlySet<PaymentMethod | undefined> = new Set(['card', 'apple_pay', 'google_pay', 'mada']);

type StripeModule = typeof Stripe;

/**
 * The SDK, loaded when a Stripe gateway is made, not when the app starts: it is most of a
 * megabyte of code that every start without STRIPE_SECRET_KEY would load for nothing. Through
 * require, because webhooks are verified synchronously and the gateway is made synchronously.
 */
function loadStripeSdk(): StripeModule {
  return createRequire(import.meta.url)('stripe') as StripeModule;
}

/**
 * Stripe through its official SDK: PaymentIntents (Connect destination charges when the payment
 * has a provider account), refunds, Express accounts, Billing checkout and portal, balance
 * transactions for reconciliation, and signed webhooks checked by the SDK itself.
 */
export function createStripeGateway(config: StripeSettings, deps: StripeGatewayDeps): PaymentGateway {
  const StripeSdk = loadStripeSdk();
  const stripe = new StripeSdk(config.secretKey, {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: deps.maxNetworkRetries ?? 2,
    timeout: deps.timeoutMs ?? 20_000,
    // Request latency reports to Stripe serve Stripe, not us.
    telemetry: false,
    typescript: true,
    ...(config.api ? { host: config.api.host, port: config.api.port, protocol: config.api.protocol } : {}),
  });

  const call = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw gatewayErrorOf(StripeSdk, error);
    }
  };

  const retrieve = (id: string) => stripe.paymentIntents.retrieve(id, { expand: ['latest_charge'] });

  return {
    name: 'stripe',
    configured: true,

    async createIntent(input) {
      if (input.method === 'stcpay')
        throw new GatewayDeclinedError('STC Pay is not available for this payment', 'method_unavailable');
      const params: Stripe.PaymentIntentCreateParams = {
        amount: toStripeAmount(input.amountMinor, input.currency),
        currency: input.currency.toLowerCase(),
        description: input.description,
        metadata: input.metadata,
        receipt_email: input.customerEmail,
        // Apple Pay and Google Pay are card payments with wallet details at Stripe, and mada cards
        // are cards: a card method narrows the intent to cards; no method lets Stripe offer what the
        // account has enabled.
        ...(CARD_METHODS.has(input.method)
          ? { payment_method_types: ['card'] }
          : { automatic_payment_methods: { enabled: true } }),
        ...(input.destination
          ? {
              transfer_data: { destination: input.destination.accountId },
              application_fee_amount: toStripeAmount(input.destination.applicationFeeMinor, input.currency),
            }
          : {}),
        // A payment method the client already made (Stripe.js) is confirmed here, so 3-D Secure comes
        // back as a redirect to follow; without one the client confirms with the client secret.
        ...(input.token ? { confirm: true, payment_method: input.token, return_url: input.returnUrl } : {}),
        expand: ['latest_charge'],
      };
      const intent = await call(() => stripe.paymentIntents.create(params, { idempotencyKey: input.idempotencyKey }));
      return paymentOf(intent);
    },

    async retrieveIntent(gatewayPaymentId) {
      return paymentOf(await call(() => retrieve(gatewayPaymentId)));
    },

    async cancelIntent(gatewayPaymentId) {
      try {
        return paymentOf(
          await stripe.paymentIntents.cancel(gatewayPaymentId, {
            cancellation_reason: 'abandoned',
            expand: ['latest_charge'],
          }),
        );
      } catch (error) {
        // Already canceled, or completed at the last moment: the current state is the answer, and
        // the caller decides (a payment that succeeded after its hold ran out is refunded, not lost).
        if (
          error instanceof StripeSdk.errors.StripeInvalidRequestError &&
          error.code === 'payment_intent_unexpected_state'
        ) {
          return paymentOf(await call(() => retrieve(gatewayPaymentId)));
        }
        throw gatewayErrorOf(StripeSdk, error);
      }
    },

    async refund(input) {
      const refund = await call(() =>
        stripe.refunds.create(
          {
            payment_intent: input.gatewayPaymentId,
            amount: toStripeAmount(input.amountMinor, input.currency),
            metadata: input.metadata,
            // Sent only when wanted: Stripe refuses them on a charge without a transfer.
            ...(input.reverseTransfer ? { reverse_transfer: true } : {}),
            ...(input.refundApplicationFee ? { refund_application_fee: true } : {}),
          },
          { idempotencyKey: input.idempotencyKey },
        ),
      );
      return refundOf(refund);
    },

    parseWebhook(rawBody, headers) {
      if (!config.webhookSecret) {
        throw new WebhookSignatureError('STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks cannot be verified');
      }
      const signature = headerOf(headers, 'stripe-signature');
      if (!signature) throw new WebhookSignatureError('The Stripe-Signature header is missing');
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(
          rawBody,
          signature,
          config.webhookSecret,
          STRIPE_WEBHOOK_TOLERANCE_SECONDS,
          undefined,
          deps.clock.now().getTime(),
        );
      } catch (error) {
        if (error instanceof StripeSdk.errors.StripeSignatureVerificationError || error instanceof SyntaxError) {
          throw new WebhookSignatureError(`Stripe webhook refused: ${firstLine(error.message)}`);
        }
        throw error;
      }
      return eventOf(event);
    },

    async createPayoutAccount(input) {
      const account = await call(() =>
        stripe.accounts.create(
          {
            type: 'express',
            email: input.email,
            country: input.country,
            capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
            metadata: { provider_id: input.providerId },
          },
          // One account per provider even when the call is retried after a lost answer.
          { idempotencyKey: `payout-account:${input.providerId}` },
        ),
      );
      return { accountId: account.id };
    },

    async onboardingLink(input) {
      const link = await call(() =>
        stripe.accountLinks.create({
          account: input.accountId,
          type: 'account_onboarding',
          return_url: input.returnUrl,
          refresh_url: input.refreshUrl,
        }),
      );
      return { url: link.url };
    },

    async createSubscriptionCheckout(input) {
      const session = await call(() =>
        stripe.checkout.sessions.create(
          {
            mode: 'subscription',
            line_items: [{ price: input.priceId, quantity: 1 }],
            client_reference_id: input.userId,
            ...(input.customerId ? { customer: input.customerId } : { customer_email: input.email }),
            success_url: input.successUrl,
            cancel_url: input.cancelUrl,
            // The subscription carries our user id too, so its own events can be traced without the session.
            subscription_data: { metadata: { user_id: input.userId } },
            metadata: { user_id: input.userId },
          },
          { idempotencyKey: input.idempotencyKey },
        ),
      );
      if (!session.url) throw new GatewayUnavailableError('Stripe returned a checkout session without a URL');
      const customerId = idOf(session.customer);
      return customerId ? { url: session.url, customerId } : { url: session.url };
    },

    async createPortalSession(input) {
      const session = await call(() =>
        stripe.billingPortal.sessions.create({ customer: input.customerId, return_url: input.returnUrl }),
      );
      return { url: session.url };
    },

    async balanceTransactions(range) {
      const transactions: BalanceTransaction[] = [];
      await call(async () => {
        const list = stripe.balanceTransactions.list({
          created: { gte: unixSeconds(range.from), lt: unixSeconds(range.to) },
          limit: 100,
          // The charge behind a transaction names its PaymentIntent: the id our payments are stored by.
          expand: ['data.source'],
        });
        for await (const transaction of list) transactions.push(balanceTransactionOf(transaction));
      });
      return transactions;
    },

    async check() {
      await call(() => stripe.balance.retrieve());
    },
  };
}

/** SDK errors in our terms: a refusal the customer may read, or "unavailable, try again". */
function gatewayErrorOf(StripeSdk: StripeModule, error: unknown): Error {
  const { errors } = StripeSdk;
  if (error instanceof errors.StripeCardError) {
    return new GatewayDeclinedError(error.message, error.code ?? 'card_declined');
  }
  if (
    error instanceof errors.StripeConnectionError ||
    error instanceof errors.StripeAPIError ||
    error instanceof errors.StripeRateLimitError
  ) {
    return new GatewayUnavailableError(`Stripe is unavailable: ${firstLine(error.message)}`, { cause: error });
  }
  if (error instanceof errors.StripeAuthenticationError || error instanceof errors.StripePermissionError) {
    // Our key, not the customer: payments are down until the configuration is fixed.
    return new GatewayUnavailableError(`Stripe refused the API key (${error.statusCode ?? 'no status'})`, {
      cause: error,
    });
  }
  if (error instanceof errors.StripeIdempotencyError) {
    return new Error(`Stripe idempotency key reused with other parameters: ${error.message}`, { cause: error });
  }
  if (error instanceof errors.StripeInvalidRequestError) {
    return new GatewayDeclinedError(error.message, error.code ?? 'invalid_request');
  }
  return error instanceof Error ? error : new Error(String(error));
}

function paymentOf(intent: Stripe.PaymentIntent): GatewayPayment {
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  const refundedMinor = charge?.amount_refunded ?? 0;
  const failure = intent.last_payment_error;
  let status: PaymentStatus;
  switch (intent.status) {
    case 'succeeded':
      status =
        refundedMinor <= 0 ? 'succeeded' : refundedMinor >= intent.amount_received ? 'refunded' : 'partially_refunded';
      break;
    case 'processing':
    // We capture automatically; an intent waiting for capture has the money on hold, not yet taken.
    case 'requires_capture':
      status = 'processing';
      break;
    case 'requires_action':
      status = 'requires_action';
      break;
    case 'canceled':
      status = 'canceled';
      break;
    default:
      // requires_payment_method / requires_confirmation: after a failed attempt Stripe goes back
      // here with last_payment_error set, which is a failure for us (the customer may try again).
      status = failure ? 'failed' : 'requires_payment_method';
  }
  const payment: GatewayPayment = {
    id: intent.id,
    status,
    amountMinor: fromStripeAmount(intent.amount, intent.currency),
    currency: intent.currency.toUpperCase(),
    capturedMinor: fromStripeAmount(intent.amount_received, intent.currency),
    refundedMinor: fromStripeAmount(refundedMinor, intent.currency),
    metadata: { ...intent.metadata },
    ...cardOf(charge),
  };
  if (intent.client_secret) payment.clientSecret = intent.client_secret;
  const redirect = intent.next_action?.redirect_to_url?.url;
  if (status === 'requires_action' && redirect) payment.nextActionUrl = redirect;
  if (status === 'failed' && failure?.message) payment.failureReason = failure.message;
  return payment;
}

/** The payment as a refunded charge describes it (charge.refunded carries the charge, not the intent). */
function paymentOfCharge(charge: Stripe.Charge, intentId: string): GatewayPayment {
  const status: PaymentStatus =
    charge.amount_refunded <= 0
      ? 'succeeded'
      : charge.amount_refunded >= charge.amount_captured
        ? 'refunded'
        : 'partially_refunded';
  return {
    id: intentId,
    status,
    amountMinor: fromStripeAmount(charge.amount, charge.currency),
    currency: charge.currency.toUpperCase(),
    capturedMinor: fromStripeAmount(charge.amount_captured, charge.currency),
    refundedMinor: fromStripeAmount(charge.amount_refunded, charge.currency),
    metadata: { ...charge.metadata },
    ...cardOf(charge),
  };
}

type CardDetails = Pick<GatewayPayment, 'method' | 'cardBrand' | 'cardLast4' | 'cardFingerprint'>;

/**
 * Brand, last four, the wallet and the card's fingerprint (which tells two payments with one card
 * apart from two cards, and nothing of the number): everything else Stripe knows stays at Stripe.
 */
function cardOf(charge: Stripe.Charge | null): CardDetails {
  const card = charge?.payment_method_details?.card;
  if (!card) return {};
  const wallet = card.wallet?.type;
  const method: PaymentMethod = wallet === 'apple_pay' ? 'apple_pay' : wallet === 'google_pay' ? 'google_pay' : 'card';
  const result: CardDetails = { method };
  if (card.brand) result.cardBrand = card.brand;
  if (card.last4 && /^[0-9]{4}$/.test(card.last4)) result.cardLast4 = card.last4;
  if (card.fingerprint) result.cardFingerprint = card.fingerprint;
  return result;
}

function refundOf(refund: Stripe.Refund): GatewayRefund {
  const status: GatewayRefund['status'] =
    refund.status === 'succeeded'
      ? 'succeeded'
      : refund.status === 'failed' || refund.status === 'canceled'
        ? 'failed'
        : 'pending';
  return {
    id: refund.id,
    gatewayPaymentId: idOf(refund.payment_intent) ?? '',
    amountMinor: fromStripeAmount(refund.amount, refund.currency),
    currency: refund.currency.toUpperCase(),
    status,
    metadata: { ...(refund.metadata ?? {}) },
  };
}

function balanceTransactionOf(transaction: Stripe.BalanceTransaction): BalanceTransaction {
  const source = transaction.source;
  // A charge is known to us by its PaymentIntent; everything else (refund, payout) by its own id.
  const sourceId =
    source === null
      ? ''
      : typeof source === 'string'
        ? source
        : source.object === 'charge'
          ? (idOf(source.payment_intent) ?? source.id)
          : source.id;
  return {
    id: transaction.id,
    type: balanceTypeOf(transaction.type),
    amountMinor: fromStripeAmount(transaction.amount, transaction.currency),
    feeMinor: fromStripeAmount(transaction.fee, transaction.currency),
    currency: transaction.currency.toUpperCase(),
    sourceId,
    createdAt: new Date(transaction.created * 1000),
  };
}

function balanceTypeOf(type: Stripe.BalanceTransaction.Type): BalanceTransaction['type'] {
  switch (type) {
    case 'charge':
    case 'payment':
      return 'charge';
    case 'refund':
    case 'payment_refund':
    case 'payment_failure_refund':
      return 'refund';
    case 'payout':
    case 'payout_cancel':
    case 'payout_failure':
      return 'payout';
    case 'stripe_fee':
    case 'stripe_fx_fee':
    case 'tax_fee':
    case 'application_fee':
      return 'fee';
    default:
      return 'other';
  }
}

const SUBSCRIPTION_STATUSES: Record<string, SubscriptionStatus> = {
  incomplete: 'incomplete',
  incomplete_expired: 'incomplete_expired',
  trialing: 'trialing',
  active: 'active',
  past_due: 'past_due',
  canceled: 'canceled',
  unpaid: 'unpaid',
  // A paused subscription collects nothing (a trial ended without a payment method): no Premium.
  paused: 'unpaid',
};

/** A verified Stripe event in our terms; a type we do not act on is `ignored` (and answered 200). */
function eventOf(event: Stripe.Event): GatewayEvent {
  const base = {
    id: event.id,
    gateway: 'stripe' as const,
    occurredAt: new Date(event.created * 1000),
    gatewayType: event.type,
  };
  const ignored: GatewayEvent = { ...base, kind: 'ignored' };
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
    case 'payment_intent.canceled':
    case 'payment_intent.requires_action':
    case 'payment_intent.processing':
      return { ...base, kind: 'payment', payment: paymentOf(event.data.object) };
    case 'charge.refunded': {
      const intentId = idOf(event.data.object.payment_intent);
      return intentId ? { ...base, kind: 'payment', payment: paymentOfCharge(event.data.object, intentId) } : ignored;
    }
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
    case 'charge.refund.updated':
      return { ...base, kind: 'refund', refund: refundOf(event.data.object) };
    case 'account.updated': {
      const account = event.data.object;
      return {
        ...base,
        kind: 'account',
        account: {
          id: account.id,
          payoutsEnabled: account.payouts_enabled === true,
          detailsSubmitted: account.details_submitted === true,
        },
      };
    }
    case 'payout.created':
    case 'payout.updated':
    case 'payout.paid':
    case 'payout.failed':
    case 'payout.canceled': {
      // Only a connected account's payout is a provider's; the platform's own are not ours to track.
      if (!event.account) return ignored;
      const payout = event.data.object;
      return {
        ...base,
        kind: 'payout',
        payout: {
          id: payout.id,
          accountId: event.account,
          amountMinor: fromStripeAmount(payout.amount, payout.currency),
          currency: payout.currency.toUpperCase(),
          status: payoutStatusOf(payout.status),
          arrivalAt: new Date(payout.arrival_date * 1000),
        },
      };
    }
    case 'checkout.session.completed': {
      const session = event.data.object;
      const customerId = idOf(session.customer);
      const subscriptionId = idOf(session.subscription);
      if (session.mode !== 'subscription' || !session.client_reference_id || !customerId || !subscriptionId) {
        return ignored;
      }
      return {
        ...base,
        kind: 'checkout',
        checkout: { userId: session.client_reference_id, customerId, subscriptionId },
      };
    }
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return { ...base, kind: 'subscription', subscription: subscriptionOf(event.data.object) };
    case 'invoice.paid':
    case 'invoice.payment_failed': {
      const invoice = event.data.object;
      const paid = event.type === 'invoice.paid';
      const subscriptionId = invoiceSubscriptionOf(invoice);
      const userId = invoice.parent?.subscription_details?.metadata?.user_id;
      return {
        ...base,
        kind: 'invoice',
        invoice: {
          id: invoice.id,
          customerId: idOf(invoice.customer) ?? '',
          ...(subscriptionId ? { subscriptionId } : {}),
          ...(userId ? { userId } : {}),
          paid,
          amountMinor: fromStripeAmount(paid ? invoice.amount_paid : invoice.amount_due, invoice.currency),
          currency: invoice.currency.toUpperCase(),
        },
      };
    }
    default:
      return ignored;
  }
}

function payoutStatusOf(status: string): 'pending' | 'in_transit' | 'paid' | 'failed' | 'canceled' {
  return status === 'in_transit' || status === 'paid' || status === 'failed' || status === 'canceled'
    ? status
    : 'pending';
}

function subscriptionOf(
  subscription: Stripe.Subscription,
): Extract<GatewayEvent, { kind: 'subscription' }>['subscription'] {
  const item = subscription.items.data[0];
  const recurring = item?.price.recurring?.interval;
  const interval: 'month' | 'year' | undefined =
    recurring === 'month' ? 'month' : recurring === 'year' ? 'year' : undefined;
  // Since API version 2025-03-31 the period lives on each item; before, on the subscription. An
  // endpoint still on an older version sends the old shape, which the SDK's types no longer show.
  const periodEnd = numberField(item, 'current_period_end') ?? numberField(subscription, 'current_period_end');
  return {
    id: subscription.id,
    customerId: idOf(subscription.customer) ?? '',
    ...(subscription.metadata?.user_id ? { userId: subscription.metadata.user_id } : {}),
    status: SUBSCRIPTION_STATUSES[subscription.status] ?? 'incomplete',
    ...(interval ? { interval } : {}),
    ...(periodEnd !== undefined ? { currentPeriodEnd: new Date(periodEnd * 1000) } : {}),
    cancelAtPeriodEnd: subscription.cancel_at_period_end === true,
  };
}

/** The invoice's subscription: `parent.subscription_details` now, a top-level `subscription` before 2025-03-31. */
function invoiceSubscriptionOf(invoice: Stripe.Invoice): string | undefined {
  const current = idOf(invoice.parent?.subscription_details?.subscription);
  if (current) return current;
  const legacy: unknown = (invoice as unknown as Record<string, unknown>).subscription;
  return typeof legacy === 'string' ? legacy : idOf(isIdentified(legacy) ? legacy : undefined);
}

function numberField(value: unknown, key: string): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === 'number' ? field : undefined;
}

function isIdentified(value: unknown): value is { id: string } {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}

function idOf(value: string | { id?: string } | null | undefined): string | undefined {
  if (!value) return undefined;
  return typeof value === 'string' ? value : value.id;
}

function headerOf(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    // Stripe sends one Stripe-Signature header; two are not Stripe's.
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}
