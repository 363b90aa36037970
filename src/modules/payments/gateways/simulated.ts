import { createHash } from 'node:crypto';
import type { Clock } from '../../../infra/clock.js';
import type { IdGenerator } from '../../../infra/ids.js';
import {
  type BalanceTransaction,
  GatewayDeclinedError,
  type GatewayEvent,
  type GatewayPayment,
  type GatewayRefund,
  type PaymentGateway,
  WebhookSignatureError,
} from '../payments.gateway.js';

/**
 * Test tokens the simulated gateway understands in `CreateIntentInput.token` (any other token, or
 * none, leaves the payment waiting for `simulate()`).
 */
export const SIMULATED_TOKENS = {
  /** Paid at once with the Visa test card 4242 4242 4242 4242. */
  success: 'sim_success',
  /** Declined at once: "Your card was declined". */
  decline: 'sim_decline',
  /** Needs the customer's 3-D Secure step: `nextActionUrl` is our own simulate page. */
  threeDSecure: 'sim_3ds',
} as const;

export type SimulatedOutcome = 'succeeded' | 'failed' | 'requires_action';

/** The card a payment is paid with unless its token names another (`sim_success`, the simulate page). */
const DEFAULT_TEST_CARD = '4242424242424242';
/** `sim_card_<test card number>`: paid at once with that card (12 to 19 digits, as card numbers are). */
const CARD_TOKEN = /^sim_card_([0-9]{12,19})$/;

/** The token that pays at once with this test card number (`sim_card_4000056655665556`). */
export const simulatedCardToken = (cardNumber: string): string => `sim_card_${cardNumber}`;

interface SimulatedCard {
  brand: string;
  last4: string;
  fingerprint: string;
}

/**
 * What the simulated gateway reports of a test card, as Stripe does: the brand, the last four and a
 * fingerprint that is the same for the same number every time, and tells nothing of the number.
 */
export function simulatedCard(cardNumber: string): SimulatedCard {
  const brand = cardNumber.startsWith('4')
    ? 'visa'
    : /^(5[1-5]|2[2-7])/.test(cardNumber)
      ? 'mastercard'
      : /^3[47]/.test(cardNumber)
        ? 'amex'
        : 'unknown';
  const digest = createHash('sha256').update(`simulated-card:${cardNumber}`).digest('hex');
  return { brand, last4: cardNumber.slice(-4), fingerprint: `sim_fp_${digest.slice(0, 16)}` };
}

/**
 * The payment gateway of development without keys: Stripe's state machine in memory, so the whole
 * flow (pay, 3-D Secure, decline, refund, payouts, Premium) can be walked through locally.
 *
 * Events: what a real gateway would send as webhooks is queued, and `drainEvents()` hands over
 * (and forgets) everything queued since the last drain, oldest first, for the payments service to
 * feed to its event pipeline exactly as it does verified webhooks. The one exception is
 * `simulate()`, which returns its event directly instead of queuing it, because the caller (the
 * simulate route) applies it at once.
 */
export interface SimulatedGateway extends PaymentGateway {
  readonly name: 'simulated';
  /** The customer's step, decided by hand: pays, is declined, or is asked for 3-D Secure. */
  simulate(gatewayPaymentId: string, outcome: SimulatedOutcome): { payment: GatewayPayment; event: GatewayEvent };
  /** Events produced since the last drain, oldest first; each is returned once. */
  drainEvents(): GatewayEvent[];
}

export interface SimulatedGatewayDeps {
  clock: Clock;
  ids: IdGenerator;
  /** Our public base URL: the 3-D Secure step points at `/api/v1/payments/<id>/simulate` there. */
  publicAppUrl: string;
  /** What a simulated Premium invoice charges (Stripe's price lives at Stripe). Default 999 GBP. */
  subscriptionPrice?: { amountMinor: number; currency: string };
}

const DECLINED = 'Your card was declined';

/** One kind of event without the envelope (distributes over the union, so each kind keeps its body). */
type EventBody = GatewayEvent extends infer E
  ? E extends GatewayEvent
    ? Omit<E, 'id' | 'gateway' | 'occurredAt' | 'gatewayType'>
    : never
  : never;

interface StoredPayment {
  payment: GatewayPayment;
  refunds: GatewayRefund[];
  createdAt: Date;
  succeededAt?: Date;
  /** The test card the customer pays with when the payment succeeds. */
  cardNumber: string;
}

export function createSimulatedGateway(deps: SimulatedGatewayDeps): SimulatedGateway {
  const base = deps.publicAppUrl.replace(/\/+$/, '');
  const price = deps.subscriptionPrice ?? { amountMinor: 999, currency: 'GBP' };
  const payments = new Map<string, StoredPayment>();
  /** Idempotency keys of calls that create something → what they created (as Stripe replays them). */
  const byKey = new Map<string, string>();
  const refundsById = new Map<string, GatewayRefund>();
  const checkoutsByKey = new Map<string, { url: string; customerId: string }>();
  const accountsByProvider = new Map<string, string>();
  const ledger: BalanceTransaction[] = [];
  let queue: GatewayEvent[] = [];

  const eventOf = (gatewayType: string, body: EventBody): GatewayEvent => ({
    id: `sim_evt_${deps.ids()}`,
    gateway: 'simulated',
    occurredAt: deps.clock.now(),
    gatewayType,
    ...body,
  });

  const paymentEvent = (stored: StoredPayment) =>
    eventOf(`payment.${stored.payment.status}`, { kind: 'payment', payment: { ...stored.payment } });

  const find = (id: string): StoredPayment => {
    const stored = payments.get(id);
    if (!stored) throw new GatewayDeclinedError(`No such payment: ${id}`, 'resource_missing');
    return stored;
  };

  const moveTo = (stored: StoredPayment, outcome: SimulatedOutcome) => {
    const { payment } = stored;
    delete payment.failureReason;
    delete payment.nextActionUrl;
    if (outcome === 'succeeded') {
      payment.status = 'succeeded';
      payment.capturedMinor = payment.amountMinor;
      payment.method = payment.method ?? 'card';
      if (payment.method !== 'stcpay') {
        const card = simulatedCard(stored.cardNumber);
        payment.cardBrand = card.brand;
        payment.cardLast4 = card.last4;
        payment.cardFingerprint = card.fingerprint;
      }
      stored.succeededAt = deps.clock.now();
      ledger.push({
        id: `sim_txn_${deps.ids()}`,
        type: 'charge',
        amountMinor: payment.amountMinor,
        feeMinor: 0,
        currency: payment.currency,
        sourceId: payment.id,
        createdAt: stored.succeededAt,
      });
    } else if (outcome === 'failed') {
      payment.status = 'failed';
      payment.failureReason = DECLINED;
    } else {
      payment.status = 'requires_action';
      payment.nextActionUrl = `${base}/api/v1/payments/${encodeURIComponent(payment.id)}/simulate`;
    }
  };

  /** Only a payment still waiting for the customer can move; a retry after a decline may too. */
  const assertOpen = (stored: StoredPayment) => {
    const open = ['requires_payment_method', 'requires_action', 'failed'];
    if (!open.includes(stored.payment.status)) {
      throw new GatewayDeclinedError(
        `This payment is ${stored.payment.status} and can no longer change`,
        'payment_intent_unexpected_state',
      );
    }
  };

  return {
    name: 'simulated',
    configured: true,

    async createIntent(input) {
      const replayed = byKey.get(`intent:${input.idempotencyKey}`);
      if (replayed) return { ...find(replayed).payment };
      const id = `sim_pi_${deps.ids()}`;
      const cardToken = input.token ? CARD_TOKEN.exec(input.token) : null;
      const stored: StoredPayment = {
        payment: {
          id,
          status: 'requires_payment_method',
          amountMinor: input.amountMinor,
          currency: input.currency.toUpperCase(),
          clientSecret: `sim_secret_${deps.ids()}`,
          capturedMinor: 0,
          refundedMinor: 0,
          metadata: { ...input.metadata },
          ...(input.method ? { method: input.method } : {}),
        },
        refunds: [],
        createdAt: deps.clock.now(),
        cardNumber: cardToken?.[1] ?? DEFAULT_TEST_CARD,
      };
      payments.set(id, stored);
      byKey.set(`intent:${input.idempotencyKey}`, id);
      const outcome: SimulatedOutcome | undefined =
        input.token === SIMULATED_TOKENS.success || cardToken
          ? 'succeeded'
          : input.token === SIMULATED_TOKENS.decline
            ? 'failed'
            : input.token === SIMULATED_TOKENS.threeDSecure
              ? 'requires_action'
              : undefined;
      if (outcome) {
        moveTo(stored, outcome);
        // As Stripe would follow up with a webhook.
        queue.push(paymentEvent(stored));
      }
      return { ...stored.payment };
    },

    async retrieveIntent(gatewayPaymentId) {
      return { ...find(gatewayPaymentId).payment };
    },

    async cancelIntent(gatewayPaymentId) {
      const stored = find(gatewayPaymentId);
      const cancelable = ['requires_payment_method', 'requires_action', 'processing', 'failed'];
      // A payment that already completed is returned as it is: the caller decides (as with Stripe).
      if (cancelable.includes(stored.payment.status)) {
        stored.payment.status = 'canceled';
        delete stored.payment.nextActionUrl;
        queue.push(paymentEvent(stored));
      }
      return { ...stored.payment };
    },

    async refund(input) {
      const replayed = byKey.get(`refund:${input.idempotencyKey}`);
      if (replayed) return { ...(refundsById.get(replayed) as GatewayRefund) };
      const stored = find(input.gatewayPaymentId);
      const { payment } = stored;
      if (payment.status !== 'succeeded' && payment.status !== 'partially_refunded') {
        throw new GatewayDeclinedError(`A ${payment.status} payment cannot be refunded`, 'charge_not_refundable');
      }
      if (input.amountMinor <= 0 || input.amountMinor > payment.capturedMinor - payment.refundedMinor) {
        throw new GatewayDeclinedError('The refund is larger than what is left of the payment', 'amount_too_large');
      }
      const refund: GatewayRefund = {
        id: `sim_re_${deps.ids()}`,
        gatewayPaymentId: payment.id,
        amountMinor: input.amountMinor,
        currency: payment.currency,
        status: 'succeeded',
        metadata: { ...input.metadata },
      };
      payment.refundedMinor += input.amountMinor;
      payment.status = payment.refundedMinor >= payment.capturedMinor ? 'refunded' : 'partially_refunded';
      stored.refunds.push(refund);
      refundsById.set(refund.id, refund);
      byKey.set(`refund:${input.idempotencyKey}`, refund.id);
      ledger.push({
        id: `sim_txn_${deps.ids()}`,
        type: 'refund',
        amountMinor: -input.amountMinor,
        feeMinor: 0,
        currency: payment.currency,
        sourceId: refund.id,
        createdAt: deps.clock.now(),
      });
      queue.push(eventOf('refund.succeeded', { kind: 'refund', refund: { ...refund } }));
      return { ...refund };
    },

    parseWebhook() {
      throw new WebhookSignatureError('The simulated gateway sends no webhooks');
    },

    async createPayoutAccount(input) {
      const existing = accountsByProvider.get(input.providerId);
      if (existing) return { accountId: existing };
      const accountId = `sim_acct_${deps.ids()}`;
      accountsByProvider.set(input.providerId, accountId);
      // Onboarding is instant here: the account can be paid out at once.
      queue.push(
        eventOf('account.updated', {
          kind: 'account',
          account: { id: accountId, payoutsEnabled: true, detailsSubmitted: true },
        }),
      );
      return { accountId };
    },

    async onboardingLink(input) {
      // Nothing to fill in: the link leads straight back to where a finished onboarding returns.
      return { url: input.returnUrl };
    },

    async createSubscriptionCheckout(input) {
      const replayed = checkoutsByKey.get(input.idempotencyKey);
      if (replayed) return { ...replayed };
      const customerId = input.customerId ?? `sim_cus_${deps.ids()}`;
      const subscriptionId = `sim_sub_${deps.ids()}`;
      const sessionId = `sim_cs_${deps.ids()}`;
      const invoiceId = `sim_in_${deps.ids()}`;
      // The price id is Stripe's; a yearly one is told by its name, anything else is monthly.
      const interval = /year/i.test(input.priceId) ? 'year' : 'month';
      const now = deps.clock.now();
      const periodEnd = new Date(now);
      if (interval === 'year') periodEnd.setUTCFullYear(periodEnd.getUTCFullYear() + 1);
      else periodEnd.setUTCMonth(periodEnd.getUTCMonth() + 1);
      queue.push(
        eventOf('checkout.session.completed', {
          kind: 'checkout',
          checkout: { userId: input.userId, customerId, subscriptionId },
        }),
        eventOf('customer.subscription.created', {
          kind: 'subscription',
          subscription: {
            id: subscriptionId,
            customerId,
            userId: input.userId,
            status: 'active',
            interval,
            currentPeriodEnd: periodEnd,
            cancelAtPeriodEnd: false,
          },
        }),
        eventOf('invoice.paid', {
          kind: 'invoice',
          invoice: {
            id: invoiceId,
            customerId,
            subscriptionId,
            userId: input.userId,
            paid: true,
            amountMinor: price.amountMinor,
            currency: price.currency,
          },
        }),
      );
      ledger.push({
        id: `sim_txn_${deps.ids()}`,
        type: 'charge',
        amountMinor: price.amountMinor,
        feeMinor: 0,
        currency: price.currency,
        sourceId: invoiceId,
        createdAt: now,
      });
      // Paid at once: the customer lands where a finished Stripe checkout would send them.
      const result = { url: input.successUrl.replaceAll('{CHECKOUT_SESSION_ID}', sessionId), customerId };
      checkoutsByKey.set(input.idempotencyKey, result);
      return { ...result };
    },

    async createPortalSession(input) {
      return { url: input.returnUrl };
    },

    async balanceTransactions(range) {
      return ledger
        .filter((entry) => entry.createdAt >= range.from && entry.createdAt < range.to)
        .map((entry) => ({ ...entry }));
    },

    async check() {},

    simulate(gatewayPaymentId, outcome) {
      const stored = find(gatewayPaymentId);
      assertOpen(stored);
      moveTo(stored, outcome);
      return { payment: { ...stored.payment }, event: paymentEvent(stored) };
    },

    drainEvents() {
      const drained = queue;
      queue = [];
      return drained;
    },
  };
}
