/**
 * The three payment gateways through the `PaymentGateway` interface: Stripe (the official SDK)
 * and Moyasar (its REST API) against stand-in servers on 127.0.0.1, webhooks signed the vendors'
 * way (Stripe's with the SDK's own test helper, checked by the SDK's constructEvent), the
 * simulated gateway of development, and the choice of gateway per payment.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentsConfig } from '../../src/config.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createHealthService } from '../../src/modules/health/health.service.js';
import {
  createGateways,
  createMoyasarGateway,
  createSimulatedGateway,
  createStripeGateway,
  GatewayNotConfiguredError,
  STRIPE_API_VERSION,
  uuidOfKey,
} from '../../src/modules/payments/gateways/index.js';
import {
  GatewayDeclinedError,
  type GatewayEvent,
  type GatewayPayment,
  GatewayUnavailableError,
  type PaymentGateway,
  WebhookSignatureError,
} from '../../src/modules/payments/payments.gateway.js';
import { type FakeMoyasar, startFakeMoyasar } from '../fixtures/fake-moyasar.js';
import { type FakeStripe, startFakeStripe } from '../fixtures/fake-stripe.js';

/** Stripe's clock and ours: the signature's age is measured between the two. */
function createClock(start = new Date('2026-11-23T10:00:00.000Z')) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

/** The fields a payment may carry: nothing about the card beyond brand and last four. */
const PAYMENT_FIELDS = new Set([
  'id',
  'status',
  'amountMinor',
  'currency',
  'clientSecret',
  'nextActionUrl',
  'method',
  'cardBrand',
  'cardLast4',
  'cardFingerprint',
  'failureReason',
  'capturedMinor',
  'refundedMinor',
  'metadata',
]);

function expectOnlyPaymentFields(payment: GatewayPayment) {
  for (const key of Object.keys(payment)) expect(PAYMENT_FIELDS.has(key), `unexpected field ${key}`).toBe(true);
}

const intentInput = (overrides: Partial<Parameters<PaymentGateway['createIntent']>[0]> = {}) => ({
  amountMinor: 5000,
  currency: 'GBP',
  idempotencyKey: `pay-${uuidv7()}`,
  description: 'Massage, 60 minutes',
  metadata: { payment_id: uuidv7(), booking_id: uuidv7() },
  returnUrl: 'http://localhost:3000/bookings/return',
  ...overrides,
});

/** A receiving endpoint, as our webhook route would be: the raw body and headers to parseWebhook. */
async function startReceiver(gateway: () => PaymentGateway) {
  const received: { status: number; event?: GatewayEvent; error?: string }[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        const event = gateway().parseWebhook(Buffer.concat(chunks).toString('utf8'), request.headers);
        received.push({ status: 200, event });
        response.writeHead(200).end('ok');
      } catch (error) {
        received.push({ status: 400, error: (error as Error).name });
        response.writeHead(400).end((error as Error).name);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function thrown(work: () => unknown): Error {
  try {
    work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('Stripe gateway: the official SDK against the stand-in', () => {
  const clock = createClock();
  let fake: FakeStripe;
  let stripe: PaymentGateway;
  const settings = () => ({
    secretKey: fake.secretKey,
    webhookSecret: fake.webhookSecret,
    api: fake.api,
    prices: { monthly: 'price_premium_monthly' },
  });

  beforeAll(async () => {
    fake = await startFakeStripe({
      clock,
      pageSize: 2,
      prices: {
        price_premium_monthly: { unitAmount: 999, currency: 'gbp', interval: 'month' },
        price_premium_yearly: { unitAmount: 9990, currency: 'gbp', interval: 'year' },
      },
    });
    stripe = createStripeGateway(settings(), { clock, maxNetworkRetries: 0 });
  });
  afterAll(() => fake.close());

  describe('payments', () => {
    it('creates a PaymentIntent as Stripe expects it: pinned version, idempotency key, card types, metadata', async () => {
      const input = intentInput({ method: 'card', customerEmail: 'ana@example.com' });
      const payment = await stripe.createIntent(input);

      expect(payment).toMatchObject({
        status: 'requires_payment_method',
        amountMinor: 5000,
        currency: 'GBP',
        capturedMinor: 0,
        refundedMinor: 0,
        metadata: input.metadata,
      });
      expect(payment.id).toMatch(/^pi_/);
      expect(payment.clientSecret).toMatch(new RegExp(`^${payment.id}_secret_`));
      const request = fake.lastRequest('/v1/payment_intents', 'POST');
      expect(request?.headers['stripe-version']).toBe(STRIPE_API_VERSION);
      expect(request?.idempotencyKey).toBe(input.idempotencyKey);
      expect(request?.body).toMatchObject({
        amount: '5000',
        currency: 'gbp',
        payment_method_types: ['card'],
        metadata: input.metadata,
        receipt_email: 'ana@example.com',
      });
      expect(request?.body.automatic_payment_methods).toBeUndefined();
    });

    it("sends ISK and MGA in Stripe's units and reads them back in ISO minor units", async () => {
      const isk = await stripe.createIntent(intentInput({ amountMinor: 7500, currency: 'ISK', token: 'pm_card_visa' }));
      // ISK has no decimals in ISO 4217; Stripe takes it as a two-decimal amount.
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({
        amount: '750000',
        currency: 'isk',
      });
      expect(isk).toMatchObject({ amountMinor: 7500, capturedMinor: 7500, currency: 'ISK' });
      const refund = await stripe.refund({
        gatewayPaymentId: isk.id,
        amountMinor: 2500,
        currency: 'ISK',
        idempotencyKey: `refund-${uuidv7()}`,
        reverseTransfer: false,
        refundApplicationFee: false,
        metadata: {},
      });
      expect(fake.lastRequest('/v1/refunds', 'POST')?.body).toMatchObject({ amount: '250000' });
      expect(refund.amountMinor).toBe(2500);

      // MGA has two ISO decimals; Stripe takes whole ariary.
      const mga = await stripe.createIntent(intentInput({ amountMinor: 1_000_000, currency: 'MGA' }));
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({ amount: '10000' });
      expect(mga.amountMinor).toBe(1_000_000);
    });

    it('lets Stripe choose the methods when none is asked for', async () => {
      await stripe.createIntent(intentInput());
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({
        automatic_payment_methods: { enabled: 'true' },
      });
    });

    it('returns the same PaymentIntent for the same idempotency key', async () => {
      const input = intentInput();
      const first = await stripe.createIntent(input);
      const again = await stripe.createIntent(input);
      expect(again.id).toBe(first.id);
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.replayed).toBe(true);
      const other = await rejection(stripe.createIntent({ ...input, amountMinor: 6000 }));
      expect(other.message).toMatch(/idempotency key reused/);
    });

    it('a card paid at the card step: succeeded, with the brand and last four and nothing else', async () => {
      const payment = await stripe.createIntent(intentInput({ method: 'card' }));
      fake.customerStep(payment.id, 'succeed');
      const paid = await stripe.retrieveIntent(payment.id);

      expect(paid).toMatchObject({
        status: 'succeeded',
        capturedMinor: 5000,
        refundedMinor: 0,
        method: 'card',
        cardBrand: 'visa',
        cardLast4: '4242',
      });
      expect(paid.failureReason).toBeUndefined();
      expectOnlyPaymentFields(paid);
      // The card's fingerprint (an opaque id, no card data) comes through so a provider's second
      // account cannot review their own service with their card; expiry and funding do not.
      expect(paid.cardFingerprint).toMatch(/^\w+$/);
      expect(JSON.stringify(paid)).not.toMatch(/exp_|funding|2034/);
    });

    it('Apple Pay and Google Pay are card payments with wallet details', async () => {
      for (const wallet of ['apple_pay', 'google_pay'] as const) {
        const payment = await stripe.createIntent(intentInput({ method: wallet }));
        expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body.payment_method_types).toEqual(['card']);
        fake.customerStep(payment.id, 'succeed', { wallet });
        expect(await stripe.retrieveIntent(payment.id)).toMatchObject({ status: 'succeeded', method: wallet });
      }
    });

    it('confirms at once with a payment method the client made (pm_card_visa)', async () => {
      const input = intentInput({ token: 'pm_card_mastercard' });
      const payment = await stripe.createIntent(input);
      expect(payment).toMatchObject({ status: 'succeeded', cardBrand: 'mastercard', cardLast4: '4444' });
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({
        confirm: 'true',
        payment_method: 'pm_card_mastercard',
        return_url: input.returnUrl,
      });
    });

    it('3-D Secure: requires_action with the redirect, then succeeded once the customer completes it', async () => {
      const input = intentInput({ token: 'pm_card_authenticationRequired' });
      const payment = await stripe.createIntent(input);
      expect(payment.status).toBe('requires_action');
      expect(payment.nextActionUrl).toBe(`${fake.url}/3ds/${payment.id}`);
      expect((await stripe.retrieveIntent(payment.id)).status).toBe('requires_action');

      // The customer's browser follows the link and comes back to our return URL.
      const response = await fetch(payment.nextActionUrl as string, { redirect: 'manual' });
      expect(response.status).toBe(302);
      const back = new URL(response.headers.get('location') as string);
      expect(`${back.origin}${back.pathname}`).toBe(input.returnUrl);
      expect(back.searchParams.get('redirect_status')).toBe('succeeded');

      const paid = await stripe.retrieveIntent(payment.id);
      expect(paid).toMatchObject({ status: 'succeeded', cardLast4: '3155', capturedMinor: 5000 });
      expect(paid.nextActionUrl).toBeUndefined();
    });

    it('3-D Secure at the card step, then failed authentication: failed with Stripe’s reason', async () => {
      const payment = await stripe.createIntent(intentInput());
      fake.customerStep(payment.id, 'require_3ds', { returnUrl: 'http://localhost:3000/back' });
      expect((await stripe.retrieveIntent(payment.id)).status).toBe('requires_action');
      fake.complete3ds(payment.id, 'fail');
      const failed = await stripe.retrieveIntent(payment.id);
      expect(failed.status).toBe('failed');
      expect(failed.failureReason).toMatch(/failed authentication/);
    });

    it('a declined card: confirmation refused with a message safe to show; at the card step, failed', async () => {
      const error = await rejection(stripe.createIntent(intentInput({ token: 'pm_card_chargeDeclined' })));
      expect(error).toBeInstanceOf(GatewayDeclinedError);
      expect(error.message).toBe('Your card was declined.');
      expect((error as GatewayDeclinedError).code).toBe('card_declined');

      const payment = await stripe.createIntent(intentInput());
      fake.customerStep(payment.id, 'decline');
      const failed = await stripe.retrieveIntent(payment.id);
      expect(failed).toMatchObject({ status: 'failed', failureReason: 'Your card was declined.', capturedMinor: 0 });
    });

    it('cancels an unpaid payment; a second cancel or a paid payment returns the state as it is', async () => {
      const payment = await stripe.createIntent(intentInput());
      expect((await stripe.cancelIntent(payment.id)).status).toBe('canceled');
      expect(fake.lastRequest(`/v1/payment_intents/${payment.id}/cancel`)?.body.cancellation_reason).toBe('abandoned');
      expect((await stripe.cancelIntent(payment.id)).status).toBe('canceled');

      const paid = await stripe.createIntent(intentInput({ token: 'pm_card_visa' }));
      expect((await stripe.cancelIntent(paid.id)).status).toBe('succeeded');
    });

    it('an unknown payment is refused, not a crash', async () => {
      const error = await rejection(stripe.retrieveIntent('pi_does_not_exist'));
      expect(error).toBeInstanceOf(GatewayDeclinedError);
      expect((error as GatewayDeclinedError).code).toBe('resource_missing');
    });
  });

  describe('refunds', () => {
    it('refunds in part, then in full, with our metadata and idempotency key', async () => {
      const payment = await stripe.createIntent(intentInput({ token: 'pm_card_visa', amountMinor: 10000 }));
      const partialInput = {
        gatewayPaymentId: payment.id,
        amountMinor: 3000,
        currency: 'GBP',
        idempotencyKey: `refund-${uuidv7()}`,
        reverseTransfer: false,
        refundApplicationFee: false,
        metadata: { refund_id: uuidv7() },
      };
      const partial = await stripe.refund(partialInput);
      expect(partial).toMatchObject({
        gatewayPaymentId: payment.id,
        amountMinor: 3000,
        currency: 'GBP',
        status: 'succeeded',
        metadata: partialInput.metadata,
      });
      expect(partial.id).toMatch(/^re_/);
      expect(fake.lastRequest('/v1/refunds')?.idempotencyKey).toBe(partialInput.idempotencyKey);
      expect(fake.lastRequest('/v1/refunds')?.body.reverse_transfer).toBeUndefined();
      // A retried refund is the same refund.
      expect((await stripe.refund(partialInput)).id).toBe(partial.id);
      expect(await stripe.retrieveIntent(payment.id)).toMatchObject({
        status: 'partially_refunded',
        capturedMinor: 10000,
        refundedMinor: 3000,
      });

      const rest = await stripe.refund({ ...partialInput, amountMinor: 7000, idempotencyKey: `refund-${uuidv7()}` });
      expect(rest.amountMinor).toBe(7000);
      expect(await stripe.retrieveIntent(payment.id)).toMatchObject({ status: 'refunded', refundedMinor: 10000 });
    });

    it('refuses a refund beyond what was captured, as Stripe does', async () => {
      const payment = await stripe.createIntent(intentInput({ token: 'pm_card_visa', amountMinor: 2000 }));
      const error = await rejection(
        stripe.refund({
          gatewayPaymentId: payment.id,
          amountMinor: 2001,
          currency: 'GBP',
          idempotencyKey: `refund-${uuidv7()}`,
          reverseTransfer: false,
          refundApplicationFee: false,
          metadata: {},
        }),
      );
      expect(error).toBeInstanceOf(GatewayDeclinedError);
      expect((error as GatewayDeclinedError).code).toBe('amount_too_large');
      expect((await stripe.retrieveIntent(payment.id)).refundedMinor).toBe(0);
    });

    it('Connect: a destination charge with our fee, and a refund that takes the provider’s share back', async () => {
      const { accountId } = await (stripe.createPayoutAccount as NonNullable<PaymentGateway['createPayoutAccount']>)({
        providerId: uuidv7(),
        email: 'provider@example.com',
        country: 'GB',
      });
      const payment = await stripe.createIntent(
        intentInput({
          token: 'pm_card_visa',
          amountMinor: 10000,
          destination: { accountId, applicationFeeMinor: 1000 },
        }),
      );
      expect(payment.status).toBe('succeeded');
      expect(fake.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({
        transfer_data: { destination: accountId },
        application_fee_amount: '1000',
      });
      await stripe.refund({
        gatewayPaymentId: payment.id,
        amountMinor: 5000,
        currency: 'GBP',
        idempotencyKey: `refund-${uuidv7()}`,
        reverseTransfer: true,
        refundApplicationFee: true,
        metadata: {},
      });
      expect(fake.lastRequest('/v1/refunds')?.body).toMatchObject({
        reverse_transfer: 'true',
        refund_application_fee: 'true',
      });
    });
  });

  describe('Connect, Billing and reconciliation', () => {
    it('creates an Express account for a provider and its onboarding link', async () => {
      const providerId = uuidv7();
      const { accountId } = await (stripe.createPayoutAccount as NonNullable<PaymentGateway['createPayoutAccount']>)({
        providerId,
        email: 'p@example.com',
      });
      expect(accountId).toMatch(/^acct_/);
      expect(fake.lastRequest('/v1/accounts')?.body).toMatchObject({
        type: 'express',
        email: 'p@example.com',
        metadata: { provider_id: providerId },
        capabilities: { transfers: { requested: 'true' } },
      });
      // Retried: the same account, not a second one.
      const again = await (stripe.createPayoutAccount as NonNullable<PaymentGateway['createPayoutAccount']>)({
        providerId,
        email: 'p@example.com',
      });
      expect(again.accountId).toBe(accountId);

      const { url } = await (stripe.onboardingLink as NonNullable<PaymentGateway['onboardingLink']>)({
        accountId,
        returnUrl: 'http://localhost:3000/provider/payouts?done=1',
        refreshUrl: 'http://localhost:3000/provider/payouts?again=1',
      });
      expect(fake.lastRequest('/v1/account_links')?.body.type).toBe('account_onboarding');
      // The provider fills the form at Stripe and comes back; Stripe tells us with account.updated.
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.headers.get('location')).toBe('http://localhost:3000/provider/payouts?done=1');
      const updated = fake.eventsOfType('account.updated').at(-1) as Stripe.Event;
      const payload = JSON.stringify(updated);
      const event = stripe.parseWebhook(payload, { 'stripe-signature': fake.sign(payload) });
      expect(event).toMatchObject({
        kind: 'account',
        account: { id: accountId, payoutsEnabled: true, detailsSubmitted: true },
      });
    });

    it('starts a Premium subscription at Checkout and opens the portal; the completed checkout in our terms', async () => {
      const userId = uuidv7();
      const checkout = await (
        stripe.createSubscriptionCheckout as NonNullable<PaymentGateway['createSubscriptionCheckout']>
      )({
        userId,
        email: 'member@example.com',
        priceId: 'price_premium_monthly',
        successUrl: 'http://localhost:3000/premium/thanks?session={CHECKOUT_SESSION_ID}',
        cancelUrl: 'http://localhost:3000/premium',
        idempotencyKey: `checkout-${uuidv7()}`,
      });
      expect(checkout.url).toMatch(new RegExp(`^${fake.url}/checkout/cs_test_`));
      expect(checkout.customerId).toBeUndefined();
      expect(fake.lastRequest('/v1/checkout/sessions')?.body).toMatchObject({
        mode: 'subscription',
        line_items: [{ price: 'price_premium_monthly', quantity: '1' }],
        client_reference_id: userId,
        customer_email: 'member@example.com',
      });

      const sessionId = new URL(checkout.url).pathname.split('/').at(-1) as string;
      const completed = fake.completeCheckout(sessionId);
      const events = completed.events.map((one) => {
        const payload = JSON.stringify(one, null, 2);
        return stripe.parseWebhook(payload, { 'stripe-signature': fake.sign(payload) });
      });
      expect(events.map((one) => one.kind)).toEqual(['subscription', 'invoice', 'checkout']);
      expect(events[0]).toMatchObject({
        kind: 'subscription',
        subscription: {
          id: completed.subscriptionId,
          customerId: completed.customerId,
          status: 'active',
          interval: 'month',
          currentPeriodEnd: new Date('2026-12-23T10:00:00.000Z'),
          cancelAtPeriodEnd: false,
        },
      });
      expect(events[1]).toMatchObject({
        kind: 'invoice',
        invoice: {
          customerId: completed.customerId,
          subscriptionId: completed.subscriptionId,
          paid: true,
          amountMinor: 999,
          currency: 'GBP',
        },
      });
      expect(events[2]).toMatchObject({
        kind: 'checkout',
        checkout: { userId, customerId: completed.customerId, subscriptionId: completed.subscriptionId },
      });

      // A returning member checks out with their customer, and manages the plan in the portal.
      await (stripe.createSubscriptionCheckout as NonNullable<PaymentGateway['createSubscriptionCheckout']>)({
        userId,
        email: 'member@example.com',
        customerId: completed.customerId,
        priceId: 'price_premium_yearly',
        successUrl: 'http://localhost:3000/premium/thanks',
        cancelUrl: 'http://localhost:3000/premium',
        idempotencyKey: `checkout-${uuidv7()}`,
      });
      expect(fake.lastRequest('/v1/checkout/sessions')?.body.customer).toBe(completed.customerId);
      const portal = await (stripe.createPortalSession as NonNullable<PaymentGateway['createPortalSession']>)({
        customerId: completed.customerId,
        returnUrl: 'http://localhost:3000/account',
      });
      expect(portal.url).toMatch(new RegExp(`^${fake.url}/portal/bps_`));

      const failedRenewal = fake.renewSubscription(completed.subscriptionId, 'failed');
      const [invoiceFailed, pastDue] = failedRenewal.events.map((one) => {
        const payload = JSON.stringify(one);
        return stripe.parseWebhook(payload, { 'stripe-signature': fake.sign(payload) });
      });
      expect(invoiceFailed).toMatchObject({ kind: 'invoice', invoice: { paid: false, amountMinor: 999 } });
      expect(pastDue).toMatchObject({ kind: 'subscription', subscription: { status: 'past_due' } });
    });

    it('lists the balance transactions of a period, page after page, by the ids our payments carry', async () => {
      // Whatever earlier tests made lies before the period.
      clock.advance(60_000);
      const from = clock.now();
      clock.advance(60_000);
      const paid = await stripe.createIntent(intentInput({ token: 'pm_card_visa', amountMinor: 4000 }));
      const refund = await stripe.refund({
        gatewayPaymentId: paid.id,
        amountMinor: 1500,
        currency: 'GBP',
        idempotencyKey: `refund-${uuidv7()}`,
        reverseTransfer: false,
        refundApplicationFee: false,
        metadata: {},
      });
      clock.advance(60_000);
      const second = await stripe.createIntent(
        intentInput({ token: 'pm_card_visa', amountMinor: 2500, currency: 'EUR' }),
      );
      const to = new Date(clock.now().getTime() + 1000);
      clock.advance(60_000);
      await stripe.createIntent(intentInput({ token: 'pm_card_visa', amountMinor: 999 }));

      const transactions = await (stripe.balanceTransactions as NonNullable<PaymentGateway['balanceTransactions']>)({
        from,
        to,
      });
      // Three in range at two a page: the SDK followed `has_more` with starting_after.
      expect(
        fake.requests.filter((request) => request.path === '/v1/balance_transactions').length,
      ).toBeGreaterThanOrEqual(2);
      expect(fake.lastRequest('/v1/balance_transactions')?.query).toMatchObject({
        limit: '100',
        expand: ['data.source'],
        created: { gte: String(from.getTime() / 1000), lt: String(Math.floor(to.getTime() / 1000)) },
      });
      expect(transactions.map((one) => [one.type, one.sourceId, one.amountMinor, one.currency])).toEqual([
        ['charge', second.id, 2500, 'EUR'],
        ['refund', refund.id, -1500, 'GBP'],
        ['charge', paid.id, 4000, 'GBP'],
      ]);
      expect(transactions[2]?.feeMinor).toBe(Math.round(4000 * 0.029) + 30);
      expect(transactions.every((one) => one.createdAt >= from && one.createdAt < to)).toBe(true);
    });
  });

  describe('when Stripe fails', () => {
    it('check() passes with a good key and fails with a refused one', async () => {
      await expect(stripe.check()).resolves.toBeUndefined();
      const wrongKey = createStripeGateway(
        { ...settings(), secretKey: 'sk_test_wrong' },
        { clock, maxNetworkRetries: 0 },
      );
      const error = await rejection(wrongKey.check());
      expect(error).toBeInstanceOf(GatewayUnavailableError);
      expect(error.message).toMatch(/refused the API key \(401\)/);
    });

    it('a 5xx is "unavailable"; the SDK retries it with the same idempotency key', async () => {
      fake.failNext(1, 500);
      const error = await rejection(stripe.createIntent(intentInput()));
      expect(error).toBeInstanceOf(GatewayUnavailableError);

      const retrying = createStripeGateway(settings(), { clock, maxNetworkRetries: 1 });
      const input = intentInput();
      fake.failNext(1, 503);
      const payment = await retrying.createIntent(input);
      expect(payment.status).toBe('requires_payment_method');
      const attempts = fake.requests.filter((request) => request.idempotencyKey === input.idempotencyKey);
      expect(attempts.map((request) => request.status)).toEqual([503, 200]);
    });

    it('an unreachable Stripe is "unavailable"', async () => {
      const closed = await startFakeStripe();
      const api = closed.api;
      await closed.close();
      const unreachable = createStripeGateway({ ...settings(), api }, { clock, maxNetworkRetries: 0 });
      const error = await rejection(unreachable.retrieveIntent('pi_1'));
      expect(error).toBeInstanceOf(GatewayUnavailableError);
    });
  });

  describe('webhooks, checked by the SDK', () => {
    const signed = (stripeEvent: Stripe.Event, options: { secret?: string; timestamp?: number } = {}) => {
      const payload = JSON.stringify(stripeEvent, null, 2);
      return { payload, headers: { 'stripe-signature': fake.sign(payload, options) } };
    };

    it('accepts a correctly signed event; a replay is the same event (the service deduplicates by id)', async () => {
      const payment = await stripe.createIntent(intentInput({ token: 'pm_card_visa' }));
      const succeeded = fake.eventsOfType('payment_intent.succeeded').at(-1) as Stripe.Event;
      const { payload, headers } = signed(succeeded);
      const event = stripe.parseWebhook(payload, headers);
      expect(event).toMatchObject({
        id: succeeded.id,
        gateway: 'stripe',
        gatewayType: 'payment_intent.succeeded',
        occurredAt: new Date(succeeded.created * 1000),
        kind: 'payment',
        payment: { id: payment.id, status: 'succeeded', capturedMinor: 5000 },
      });
      clock.advance(30_000);
      const replay = signed(succeeded);
      expect(stripe.parseWebhook(replay.payload, replay.headers).id).toBe(event.id);
    });

    it('refuses a wrong secret, a stale timestamp, a tampered body and a missing signature', async () => {
      const stripeEvent = fake.event(
        'payment_intent.succeeded',
        fake.paymentIntent((await stripe.createIntent(intentInput({ token: 'pm_card_visa' }))).id),
      );
      const nowSeconds = Math.floor(clock.now().getTime() / 1000);

      const wrongSecret = signed(stripeEvent, { secret: 'whsec_someone_else' });
      const stale = signed(stripeEvent, { timestamp: nowSeconds - 301 });
      const recent = signed(stripeEvent, { timestamp: nowSeconds - 299 });
      const good = signed(stripeEvent);
      const tampered = good.payload.replace('"amount": 5000', '"amount": 1');
      expect(tampered).not.toBe(good.payload);

      const refused: [string, Record<string, string | string[] | undefined>][] = [
        [wrongSecret.payload, wrongSecret.headers],
        [stale.payload, stale.headers],
        [tampered, good.headers],
        [good.payload, {}],
        [good.payload, { 'stripe-signature': ['t=1,v1=abc', 't=2,v1=def'] }],
      ];
      for (const [payload, headers] of refused) {
        expect(thrown(() => stripe.parseWebhook(payload, headers))).toBeInstanceOf(WebhookSignatureError);
      }
      expect(thrown(() => stripe.parseWebhook(stale.payload, stale.headers)).message).toMatch(/tolerance/);
      expect(stripe.parseWebhook(recent.payload, recent.headers).id).toBe(stripeEvent.id);
      // Header names as a proxy may case them.
      expect(stripe.parseWebhook(good.payload, { 'Stripe-Signature': good.headers['stripe-signature'] }).id).toBe(
        stripeEvent.id,
      );
    });

    it('without a webhook secret nothing is accepted', () => {
      const noSecret = createStripeGateway({ ...settings(), webhookSecret: undefined }, { clock });
      const stripeEvent = fake.event('balance.available', { object: 'balance' });
      const { payload, headers } = signed(stripeEvent);
      expect(thrown(() => noSecret.parseWebhook(payload, headers))).toBeInstanceOf(WebhookSignatureError);
    });

    it('maps each event type we act on, and ignores the rest', async () => {
      const parse = (stripeEvent: Stripe.Event) => {
        const { payload, headers } = signed(stripeEvent);
        return stripe.parseWebhook(payload, headers);
      };
      const declined = await stripe.createIntent(intentInput());
      fake.customerStep(declined.id, 'decline');
      expect(parse(fake.eventsOfType('payment_intent.payment_failed').at(-1) as Stripe.Event)).toMatchObject({
        kind: 'payment',
        payment: { id: declined.id, status: 'failed', failureReason: 'Your card was declined.' },
      });
      expect(
        parse(
          fake.event('payment_intent.processing', {
            ...fake.paymentIntent(declined.id),
            status: 'processing',
            last_payment_error: null,
          }),
        ),
      ).toMatchObject({ kind: 'payment', payment: { status: 'processing' } });
      const waiting = await stripe.createIntent(intentInput({ token: 'pm_card_threeDSecure2Required' }));
      expect(parse(fake.eventsOfType('payment_intent.requires_action').at(-1) as Stripe.Event)).toMatchObject({
        kind: 'payment',
        payment: { id: waiting.id, status: 'requires_action', nextActionUrl: `${fake.url}/3ds/${waiting.id}` },
      });
      await stripe.cancelIntent(waiting.id);
      expect(parse(fake.eventsOfType('payment_intent.canceled').at(-1) as Stripe.Event)).toMatchObject({
        kind: 'payment',
        payment: { id: waiting.id, status: 'canceled' },
      });

      const paid = await stripe.createIntent(intentInput({ token: 'pm_card_visa', amountMinor: 8000 }));
      const metadata = { refund_id: uuidv7() };
      const refund = await stripe.refund({
        gatewayPaymentId: paid.id,
        amountMinor: 2000,
        currency: 'GBP',
        idempotencyKey: `refund-${uuidv7()}`,
        reverseTransfer: false,
        refundApplicationFee: false,
        metadata,
      });
      expect(parse(fake.eventsOfType('refund.created').at(-1) as Stripe.Event)).toMatchObject({
        kind: 'refund',
        refund: { id: refund.id, gatewayPaymentId: paid.id, amountMinor: 2000, status: 'succeeded', metadata },
      });
      const refundObject = (fake.eventsOfType('refund.created').at(-1) as Stripe.Event).data.object;
      expect(parse(fake.event('refund.updated', { ...refundObject, status: 'failed' }))).toMatchObject({
        kind: 'refund',
        refund: { id: refund.id, status: 'failed' },
      });
      expect(parse(fake.eventsOfType('charge.refunded').at(-1) as Stripe.Event)).toMatchObject({
        kind: 'payment',
        payment: { id: paid.id, status: 'partially_refunded', capturedMinor: 8000, refundedMinor: 2000 },
      });

      const { accountId } = await (stripe.createPayoutAccount as NonNullable<PaymentGateway['createPayoutAccount']>)({
        providerId: uuidv7(),
        email: 'payee@example.com',
      });
      const { payoutId, event: created } = fake.payout(accountId, { amount: 7000, currency: 'gbp' });
      expect(parse(created)).toMatchObject({
        kind: 'payout',
        payout: { id: payoutId, accountId, amountMinor: 7000, currency: 'GBP', status: 'pending' },
      });
      expect(parse(fake.settlePayout(payoutId, 'paid'))).toMatchObject({ kind: 'payout', payout: { status: 'paid' } });
      expect(parse(fake.settlePayout(payoutId, 'failed'))).toMatchObject({
        kind: 'payout',
        payout: { status: 'failed' },
      });
      // The platform's own payout (no `account`) is not a provider's.
      expect(
        parse(
          fake.event('payout.paid', {
            id: 'po_platform',
            object: 'payout',
            amount: 1,
            currency: 'gbp',
            arrival_date: 0,
            status: 'paid',
          }),
        ).kind,
      ).toBe('ignored');

      // An endpoint on an API version before 2025-03-31: the period on the subscription, the
      // subscription on the invoice.
      const legacySubscription = parse(
        fake.event('customer.subscription.updated', {
          id: 'sub_legacy',
          object: 'subscription',
          customer: 'cus_legacy',
          status: 'active',
          cancel_at_period_end: true,
          current_period_end: 1_800_000_000,
          items: { object: 'list', data: [{ id: 'si_1', price: { id: 'price_y', recurring: { interval: 'year' } } }] },
        }),
      );
      expect(legacySubscription).toMatchObject({
        kind: 'subscription',
        subscription: {
          id: 'sub_legacy',
          interval: 'year',
          currentPeriodEnd: new Date(1_800_000_000_000),
          cancelAtPeriodEnd: true,
        },
      });
      expect(
        parse(
          fake.event('customer.subscription.deleted', {
            id: 'sub_paused',
            object: 'subscription',
            customer: 'cus_legacy',
            status: 'paused',
            cancel_at_period_end: false,
            items: { object: 'list', data: [] },
          }),
        ),
      ).toMatchObject({ kind: 'subscription', subscription: { status: 'unpaid' } });
      expect(
        parse(
          fake.event('invoice.paid', {
            id: 'in_legacy',
            object: 'invoice',
            customer: 'cus_legacy',
            subscription: 'sub_legacy',
            amount_paid: 9990,
            amount_due: 9990,
            currency: 'gbp',
            parent: null,
          }),
        ),
      ).toMatchObject({ kind: 'invoice', invoice: { subscriptionId: 'sub_legacy', paid: true, amountMinor: 9990 } });

      // A one-off checkout is not a subscription.
      expect(
        parse(
          fake.event('checkout.session.completed', {
            id: 'cs_1',
            object: 'checkout.session',
            mode: 'payment',
            client_reference_id: 'u',
            customer: 'cus_1',
            subscription: null,
          }),
        ).kind,
      ).toBe('ignored');
      for (const type of ['payment_intent.created', 'charge.succeeded', 'customer.created', 'balance.available']) {
        const ignored = parse(fake.event(type, { id: 'x_1', object: 'unknown' }));
        expect(ignored).toMatchObject({ kind: 'ignored', gatewayType: type });
      }
    });

    it('delivered over HTTP as Stripe delivers: replays and reordering reach the receiver as sent', async () => {
      const receiver = await startReceiver(() => stripe);
      try {
        const payment = await stripe.createIntent(intentInput());
        fake.customerStep(payment.id, 'require_3ds', { returnUrl: 'http://localhost:3000/back' });
        fake.complete3ds(payment.id);
        const sequence = [
          fake.eventsOfType('payment_intent.requires_action').at(-1) as Stripe.Event,
          fake.eventsOfType('payment_intent.succeeded').at(-1) as Stripe.Event,
        ];
        const reversed = await fake.deliverAll(receiver.url, sequence, { order: 'reversed' });
        expect(reversed.map((delivery) => delivery.status)).toEqual([200, 200]);
        const statuses = receiver.received.map((entry) =>
          entry.event?.kind === 'payment' ? entry.event.payment.status : '',
        );
        expect(statuses).toEqual(['succeeded', 'requires_action']);
        // The gateway's time of each, by which the service keeps the newer state.
        const [newer, older] = receiver.received.map((entry) => entry.event?.occurredAt.getTime() ?? 0);
        expect(newer).toBeGreaterThanOrEqual(older ?? 0);

        await fake.deliverAll(receiver.url, [sequence[1] as Stripe.Event], { order: 'twice' });
        expect(receiver.received.slice(-2).map((entry) => entry.event?.id)).toEqual([sequence[1]?.id, sequence[1]?.id]);

        const wrong = await fake.deliver(receiver.url, sequence[1] as Stripe.Event, { secret: 'whsec_wrong' });
        const old = await fake.deliver(receiver.url, sequence[1] as Stripe.Event, {
          timestamp: Math.floor(clock.now().getTime() / 1000) - 3600,
        });
        const tampered = await fake.deliver(receiver.url, sequence[1] as Stripe.Event, {
          body: JSON.stringify({ ...sequence[1], id: 'evt_forged' }),
        });
        const unsigned = await fake.deliver(receiver.url, sequence[1] as Stripe.Event, { signature: null });
        expect([wrong, old, tampered, unsigned].map((delivery) => delivery.status)).toEqual([400, 400, 400, 400]);
        expect(receiver.received.slice(-4).every((entry) => entry.error === 'WebhookSignatureError')).toBe(true);
      } finally {
        await receiver.close();
      }
    });
  });
});

describe('Moyasar gateway: the REST API against the stand-in', () => {
  const clock = createClock();
  let fake: FakeMoyasar;
  let moyasar: PaymentGateway;
  const sar = (overrides: Parameters<typeof intentInput>[0] = {}) =>
    intentInput({ currency: 'SAR', amountMinor: 15000, method: 'mada', token: 'token_paid_mada_1', ...overrides });

  beforeAll(async () => {
    fake = await startFakeMoyasar({ clock, webhookSecret: 'moyasar-hook-secret-1' });
    moyasar = createMoyasarGateway(
      { secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiUrl: `${fake.url}/` },
      { clock, timeoutMs: 300 },
    );
  });
  afterAll(() => fake.close());

  it('pays with a mada token at once: Basic auth, halalas, SAR, callback, metadata, given_id', async () => {
    const input = sar();
    const payment = await moyasar.createIntent(input);
    expect(payment).toMatchObject({
      status: 'succeeded',
      amountMinor: 15000,
      currency: 'SAR',
      capturedMinor: 15000,
      refundedMinor: 0,
      method: 'mada',
      cardBrand: 'mada',
      cardLast4: '1010',
      metadata: input.metadata,
    });
    expectOnlyPaymentFields(payment);
    const request = fake.lastRequest('/v1/payments', 'POST');
    expect(request?.headers.authorization).toBe(`Basic ${Buffer.from(`${fake.secretKey}:`).toString('base64')}`);
    expect(request?.body).toEqual({
      given_id: uuidOfKey(`moyasar:payment:${input.idempotencyKey}`),
      amount: 15000,
      currency: 'SAR',
      description: input.description,
      callback_url: input.returnUrl,
      source: { type: 'token', token: 'token_paid_mada_1', '3ds': true, manual: false },
      metadata: input.metadata,
    });
    expect(payment.id).toBe(request?.body.given_id);
    expect(await moyasar.retrieveIntent(payment.id)).toEqual(payment);
  });

  it('returns the same payment for the same idempotency key', async () => {
    const input = sar();
    const first = await moyasar.createIntent(input);
    const again = await moyasar.createIntent(input);
    expect(again.id).toBe(first.id);
    expect(
      fake.requests.filter((request) => request.path === '/v1/payments' && request.method === 'POST').length,
    ).toBeGreaterThan(1);
  });

  it('3-D Secure: initiated with the transaction page, then paid when the customer completes it', async () => {
    const input = sar({ token: 'token_3ds_visa_1', method: 'card' });
    const payment = await moyasar.createIntent(input);
    expect(payment.status).toBe('requires_action');
    expect(payment.nextActionUrl).toBe(`${fake.url}/transaction/${payment.id}`);

    const response = await fetch(payment.nextActionUrl as string, { redirect: 'manual' });
    const back = new URL(response.headers.get('location') as string);
    expect(`${back.origin}${back.pathname}`).toBe(input.returnUrl);
    expect(back.searchParams.get('id')).toBe(payment.id);

    // The redirect proves nothing: the payment as Moyasar has it does.
    expect(await moyasar.retrieveIntent(payment.id)).toMatchObject({
      status: 'succeeded',
      method: 'card',
      cardBrand: 'visa',
      cardLast4: '1111',
    });
  });

  it('a failed payment carries Moyasar’s message; a failed 3-D Secure too', async () => {
    const failed = await moyasar.createIntent(sar({ token: 'token_failed_master_1', method: 'card' }));
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'Insufficient Funds', cardBrand: 'mastercard' });

    const waiting = await moyasar.createIntent(sar({ token: 'token_3ds_1', method: 'card' }));
    fake.completePayment(waiting.id, 'failed');
    expect(await moyasar.retrieveIntent(waiting.id)).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(/Authentication Failed/),
    });
  });

  it('Apple Pay and STC Pay sources', async () => {
    const applePay = await moyasar.createIntent(sar({ method: 'apple_pay', token: '{"paymentData":"opaque"}' }));
    expect(fake.lastRequest('/v1/payments', 'POST')?.body.source).toEqual({
      type: 'applepay',
      token: '{"paymentData":"opaque"}',
    });
    expect(applePay).toMatchObject({ status: 'succeeded', method: 'apple_pay', cardBrand: 'visa' });

    const stcPay = await moyasar.createIntent(sar({ method: 'stcpay', token: '0555555555' }));
    expect(fake.lastRequest('/v1/payments', 'POST')?.body.source).toEqual({ type: 'stcpay', mobile: '0555555555' });
    expect(stcPay).toMatchObject({ status: 'requires_action', method: 'stcpay' });
    expect(stcPay.cardBrand).toBeUndefined();
    fake.completePayment(stcPay.id, 'paid');
    expect((await moyasar.retrieveIntent(stcPay.id)).status).toBe('succeeded');
  });

  it('refuses to start without a Moyasar token, and never sends anything else as a card', async () => {
    const before = fake.requests.length;
    for (const token of [undefined, '4111111111111111']) {
      const error = await rejection(moyasar.createIntent(sar({ token })));
      expect(error).toBeInstanceOf(GatewayDeclinedError);
    }
    expect(fake.requests.length).toBe(before);
  });

  it('refunds in part, then the rest; more than is left is refused', async () => {
    const payment = await moyasar.createIntent(sar({ amountMinor: 20000 }));
    const refundInput = {
      gatewayPaymentId: payment.id,
      amountMinor: 5000,
      currency: 'SAR',
      idempotencyKey: `refund-${uuidv7()}`,
      reverseTransfer: false,
      refundApplicationFee: false,
      metadata: { refund_id: uuidv7() },
    };
    const first = await moyasar.refund(refundInput);
    expect(first).toMatchObject({
      gatewayPaymentId: payment.id,
      amountMinor: 5000,
      currency: 'SAR',
      status: 'succeeded',
      metadata: refundInput.metadata,
    });
    expect(fake.lastRequest(`/v1/payments/${payment.id}/refund`)?.body).toEqual({ amount: 5000 });
    expect(await moyasar.retrieveIntent(payment.id)).toMatchObject({
      status: 'partially_refunded',
      refundedMinor: 5000,
    });

    const tooMuch = await rejection(moyasar.refund({ ...refundInput, amountMinor: 15001 }));
    expect(tooMuch).toBeInstanceOf(GatewayDeclinedError);
    expect(tooMuch.message).toMatch(/exceeds/);

    const second = await moyasar.refund({ ...refundInput, amountMinor: 15000 });
    expect(second.id).not.toBe(first.id);
    expect(await moyasar.retrieveIntent(payment.id)).toMatchObject({ status: 'refunded', refundedMinor: 20000 });
  });

  it('cancels by voiding; a payment still waiting for 3-D Secure cannot be voided and comes back as it is', async () => {
    const paid = await moyasar.createIntent(sar());
    expect((await moyasar.cancelIntent(paid.id)).status).toBe('canceled');
    expect(fake.lastRequest(`/v1/payments/${paid.id}/void`)?.status).toBe(200);

    const waiting = await moyasar.createIntent(sar({ token: 'token_3ds_2', method: 'card' }));
    expect((await moyasar.cancelIntent(waiting.id)).status).toBe('requires_action');
    expect(fake.lastRequest(`/v1/payments/${waiting.id}/void`)?.status).toBe(400);
  });

  it('check(), a refused key, 5xx, a timeout and an unknown payment', async () => {
    await expect(moyasar.check()).resolves.toBeUndefined();
    expect(fake.lastRequest('/v1/payments', 'GET')?.query).toEqual({ page: '1' });

    const wrongKey = createMoyasarGateway({ secretKey: 'sk_test_wrong', apiUrl: fake.url }, { clock });
    const refused = await rejection(wrongKey.check());
    expect(refused).toBeInstanceOf(GatewayUnavailableError);
    expect(refused.message).toMatch(/401/);

    fake.failNext(1, 502);
    expect(await rejection(moyasar.retrieveIntent('x'))).toBeInstanceOf(GatewayUnavailableError);

    fake.delayNext(1, 1500);
    const slow = await rejection(moyasar.check());
    expect(slow).toBeInstanceOf(GatewayUnavailableError);
    expect(slow.message).toMatch(/did not answer within 300 ms/);

    const unknown = await rejection(moyasar.retrieveIntent('00000000-0000-4000-8000-000000000000'));
    expect(unknown).toBeInstanceOf(GatewayDeclinedError);
    expect((unknown as GatewayDeclinedError).code).toBe('resource_missing');
  });

  it('webhooks: the right secret_token gives the event, a wrong or missing one is refused', async () => {
    const payment = await moyasar.createIntent(sar());
    const paid = fake.events.findLast((event) => event.type === 'payment_paid' && event.data.id === payment.id);
    expect(paid).toBeDefined();
    const event = moyasar.parseWebhook(JSON.stringify(paid), {});
    expect(event).toMatchObject({
      id: paid?.id,
      gateway: 'moyasar',
      gatewayType: 'payment_paid',
      occurredAt: new Date(paid?.created_at as string),
      kind: 'payment',
      payment: { id: payment.id, status: 'succeeded', cardLast4: '1010' },
    });

    for (const body of [
      JSON.stringify({ ...paid, secret_token: 'guessed-secret' }),
      JSON.stringify({ ...paid, secret_token: undefined }),
      JSON.stringify({ ...paid, secret_token: '' }),
      'not json',
    ]) {
      expect(thrown(() => moyasar.parseWebhook(body, {}))).toBeInstanceOf(WebhookSignatureError);
    }
    const noSecret = createMoyasarGateway({ secretKey: fake.secretKey, apiUrl: fake.url }, { clock });
    expect(thrown(() => noSecret.parseWebhook(JSON.stringify(paid), {}))).toBeInstanceOf(WebhookSignatureError);

    await moyasar.refund({
      gatewayPaymentId: payment.id,
      amountMinor: 15000,
      currency: 'SAR',
      idempotencyKey: `refund-${uuidv7()}`,
      reverseTransfer: false,
      refundApplicationFee: false,
      metadata: {},
    });
    const refunded = fake.events.at(-1);
    expect(moyasar.parseWebhook(JSON.stringify(refunded), {})).toMatchObject({
      kind: 'payment',
      gatewayType: 'payment_refunded',
      payment: { status: 'refunded', refundedMinor: 15000 },
    });
    expect(moyasar.parseWebhook(JSON.stringify({ ...refunded, type: 'invoice_paid' }), {})).toMatchObject({
      kind: 'ignored',
    });
  });

  it('webhooks delivered over HTTP with the secret_token in the body', async () => {
    const receiver = await startReceiver(() => moyasar);
    try {
      const payment = await moyasar.createIntent(sar({ token: 'token_3ds_3', method: 'card' }));
      fake.completePayment(payment.id, 'paid');
      const paid = fake.events.at(-1);
      if (!paid) throw new Error('no event');
      expect((await fake.deliver(receiver.url, paid)).status).toBe(200);
      expect((await fake.deliver(receiver.url, paid, { secretToken: 'wrong-token' })).status).toBe(400);
      expect((await fake.deliver(receiver.url, paid, { secretToken: null })).status).toBe(400);
      expect(receiver.received[0]?.event).toMatchObject({
        kind: 'payment',
        payment: { id: payment.id, status: 'succeeded' },
      });
    } finally {
      await receiver.close();
    }
  });
});

describe('simulated gateway', () => {
  const clock = createClock();
  const simulated = createSimulatedGateway({ clock, ids: uuidv7, publicAppUrl: 'http://localhost:3000/' });
  afterEach(() => {
    simulated.drainEvents();
  });

  it('waits for the customer by default, with a simulated client secret', async () => {
    const payment = await simulated.createIntent(intentInput());
    expect(payment).toMatchObject({ status: 'requires_payment_method', capturedMinor: 0 });
    expect(payment.clientSecret).toMatch(/^sim_secret_/);
    expect(simulated.drainEvents()).toEqual([]);
    expect((await simulated.createIntent({ ...intentInput(), idempotencyKey: 'same' })).id).toBe(
      (await simulated.createIntent({ ...intentInput(), idempotencyKey: 'same' })).id,
    );
  });

  it('understands its test tokens: sim_success, sim_decline, sim_3ds', async () => {
    const paid = await simulated.createIntent(intentInput({ token: 'sim_success' }));
    expect(paid).toMatchObject({
      status: 'succeeded',
      capturedMinor: 5000,
      cardBrand: 'visa',
      cardLast4: '4242',
      method: 'card',
    });
    const declined = await simulated.createIntent(intentInput({ token: 'sim_decline' }));
    expect(declined).toMatchObject({ status: 'failed', failureReason: 'Your card was declined', capturedMinor: 0 });
    const challenged = await simulated.createIntent(intentInput({ token: 'sim_3ds' }));
    expect(challenged.status).toBe('requires_action');
    expect(challenged.nextActionUrl).toBe(`http://localhost:3000/api/v1/payments/${challenged.id}/simulate`);

    const events = simulated.drainEvents();
    expect(events.map((event) => (event.kind === 'payment' ? [event.payment.id, event.payment.status] : []))).toEqual([
      [paid.id, 'succeeded'],
      [declined.id, 'failed'],
      [challenged.id, 'requires_action'],
    ]);
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
    expect(simulated.drainEvents()).toEqual([]);
  });

  it('simulate(): the new state and its event, handed back rather than queued', async () => {
    const payment = await simulated.createIntent(intentInput({ method: 'apple_pay' }));
    const challenged = simulated.simulate(payment.id, 'requires_action');
    expect(challenged.payment.status).toBe('requires_action');
    const { payment: paid, event } = simulated.simulate(payment.id, 'succeeded');
    expect(paid).toMatchObject({ status: 'succeeded', method: 'apple_pay', cardLast4: '4242' });
    expect(event).toMatchObject({
      gateway: 'simulated',
      kind: 'payment',
      payment: { id: payment.id, status: 'succeeded' },
      occurredAt: clock.now(),
    });
    expect(event.id).not.toBe(challenged.event.id);
    expect(simulated.drainEvents()).toEqual([]);
    expect(await simulated.retrieveIntent(payment.id)).toEqual(paid);

    const error = thrown(() => simulated.simulate(payment.id, 'failed'));
    expect(error).toBeInstanceOf(GatewayDeclinedError);
    expect(thrown(() => simulated.simulate('sim_pi_unknown', 'succeeded'))).toBeInstanceOf(GatewayDeclinedError);
  });

  it('refunds at once, with a refund event; never more than was paid', async () => {
    const payment = await simulated.createIntent(intentInput({ token: 'sim_success', amountMinor: 3000 }));
    simulated.drainEvents();
    const input = {
      gatewayPaymentId: payment.id,
      amountMinor: 1000,
      currency: 'GBP',
      idempotencyKey: 'refund-1',
      reverseTransfer: false,
      refundApplicationFee: false,
      metadata: { refund_id: 'r1' },
    };
    const refund = await simulated.refund(input);
    expect(refund).toMatchObject({ status: 'succeeded', amountMinor: 1000, metadata: { refund_id: 'r1' } });
    expect((await simulated.refund(input)).id).toBe(refund.id);
    expect(await simulated.retrieveIntent(payment.id)).toMatchObject({
      status: 'partially_refunded',
      refundedMinor: 1000,
    });
    expect(simulated.drainEvents()).toMatchObject([{ kind: 'refund', refund: { id: refund.id } }]);

    expect(
      await rejection(simulated.refund({ ...input, idempotencyKey: 'refund-2', amountMinor: 2001 })),
    ).toBeInstanceOf(GatewayDeclinedError);
    await simulated.refund({ ...input, idempotencyKey: 'refund-3', amountMinor: 2000 });
    expect((await simulated.retrieveIntent(payment.id)).status).toBe('refunded');

    const transactions = await (simulated.balanceTransactions as NonNullable<PaymentGateway['balanceTransactions']>)({
      from: new Date(clock.now().getTime() - 1000),
      to: new Date(clock.now().getTime() + 1000),
    });
    expect(transactions.filter((one) => one.sourceId === payment.id)).toMatchObject([
      { type: 'charge', amountMinor: 3000 },
    ]);
  });

  it('cancels what was never paid, and leaves a paid payment as it is', async () => {
    const waiting = await simulated.createIntent(intentInput());
    expect((await simulated.cancelIntent(waiting.id)).status).toBe('canceled');
    const paid = await simulated.createIntent(intentInput({ token: 'sim_success' }));
    expect((await simulated.cancelIntent(paid.id)).status).toBe('succeeded');
  });

  it('onboards a provider at once and runs a Premium checkout to paid', async () => {
    const { accountId } = await (simulated.createPayoutAccount as NonNullable<PaymentGateway['createPayoutAccount']>)({
      providerId: 'p1',
      email: 'p@example.com',
    });
    const link = await (simulated.onboardingLink as NonNullable<PaymentGateway['onboardingLink']>)({
      accountId,
      returnUrl: 'http://localhost:3000/provider/payouts',
      refreshUrl: 'http://localhost:3000/provider/payouts?again',
    });
    expect(link.url).toBe('http://localhost:3000/provider/payouts');
    expect(simulated.drainEvents()).toMatchObject([
      { kind: 'account', account: { id: accountId, payoutsEnabled: true, detailsSubmitted: true } },
    ]);

    const checkout = await (
      simulated.createSubscriptionCheckout as NonNullable<PaymentGateway['createSubscriptionCheckout']>
    )({
      userId: 'u1',
      email: 'member@example.com',
      priceId: 'price_premium_monthly',
      successUrl: 'http://localhost:3000/premium/thanks?session={CHECKOUT_SESSION_ID}',
      cancelUrl: 'http://localhost:3000/premium',
      idempotencyKey: 'checkout-1',
    });
    expect(checkout.url).toMatch(/^http:\/\/localhost:3000\/premium\/thanks\?session=sim_cs_/);
    const events = simulated.drainEvents();
    expect(events.map((event) => event.kind)).toEqual(['checkout', 'subscription', 'invoice']);
    expect(events[0]).toMatchObject({ checkout: { userId: 'u1', customerId: checkout.customerId } });
    expect(events[1]).toMatchObject({
      subscription: { status: 'active', interval: 'month', currentPeriodEnd: new Date('2026-12-23T10:00:00.000Z') },
    });
    expect(events[2]).toMatchObject({ invoice: { paid: true, amountMinor: 999, currency: 'GBP' } });
    const portal = await (simulated.createPortalSession as NonNullable<PaymentGateway['createPortalSession']>)({
      customerId: checkout.customerId as string,
      returnUrl: 'http://localhost:3000/account',
    });
    expect(portal.url).toBe('http://localhost:3000/account');
  });

  it('has no webhooks', () => {
    expect(thrown(() => simulated.parseWebhook('{}', {}))).toBeInstanceOf(WebhookSignatureError);
    expect(simulated.configured).toBe(true);
  });
});

describe('choosing the gateway', () => {
  const clock = createClock();
  const base: PaymentsConfig = {
    commissionRateBps: 1000,
    holdMinutes: 15,
    subscriptionGraceDays: 7,
    financialRetentionYears: 10,
    reconcileIntervalMs: 86_400_000,
  };
  const stripeSettings = { secretKey: 'sk_test_x', webhookSecret: 'whsec_x', prices: {} };
  const moyasarSettings = { secretKey: 'sk_test_y', webhookSecret: 'secret-y', apiUrl: 'http://127.0.0.1:9' };
  const deps = (isProduction: boolean) => ({ isProduction, clock, ids: uuidv7, publicAppUrl: 'http://localhost:3000' });

  it('Moyasar takes SAR, mada and STC Pay; Stripe the rest', () => {
    const gateways = createGateways({ ...base, stripe: stripeSettings, moyasar: moyasarSettings }, deps(true));
    expect(gateways.pick({ currency: 'SAR' }).name).toBe('moyasar');
    expect(gateways.pick({ currency: 'sar', method: 'apple_pay' }).name).toBe('moyasar');
    expect(gateways.pick({ currency: 'SAR', method: 'mada' }).name).toBe('moyasar');
    expect(gateways.pick({ currency: 'SAR', method: 'stcpay' }).name).toBe('moyasar');
    expect(gateways.pick({ currency: 'GBP', method: 'card' }).name).toBe('stripe');
    expect(gateways.pick({ currency: 'EUR', method: 'google_pay' }).name).toBe('stripe');
    expect(gateways.simulated).toBeUndefined();
    expect(gateways.of('moyasar')).toBe(gateways.moyasar);
    expect(gateways.of('simulated')).toMatchObject({ name: 'simulated', configured: false });
  });

  it('without Moyasar, Stripe takes SAR cards; mada and STC Pay are refused, never simulated beside real keys', () => {
    const development = createGateways({ ...base, stripe: stripeSettings }, deps(false));
    expect(development.pick({ currency: 'SAR' }).name).toBe('stripe');
    expect(development.pick({ currency: 'SAR', method: 'stcpay' })).toMatchObject({
      name: 'moyasar',
      configured: false,
    });

    const production = createGateways({ ...base, stripe: stripeSettings }, deps(true));
    const stcPay = production.pick({ currency: 'SAR', method: 'mada' });
    expect(stcPay).toMatchObject({ name: 'moyasar', configured: false });
  });

  it('with no keys: the simulated gateway in development; in production "not configured", with clear errors', async () => {
    const development = createGateways(base, deps(false));
    for (const input of [{ currency: 'GBP' }, { currency: 'SAR', method: 'mada' as const }]) {
      expect(development.pick(input).name).toBe('simulated');
    }
    expect(development.of('simulated')).toBe(development.simulated);

    const production = createGateways(base, deps(true));
    const gateway = production.pick({ currency: 'GBP' });
    expect(gateway).toMatchObject({ name: 'stripe', configured: false });
    const error = await rejection(gateway.createIntent(intentInput()));
    expect(error).toBeInstanceOf(GatewayNotConfiguredError);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
    expect(error.message).toMatch(/STRIPE_SECRET_KEY/);
    expect(thrown(() => production.moyasar.parseWebhook('{}', {}))).toBeInstanceOf(WebhookSignatureError);

    const health = production.health();
    expect(health.map((check) => [check.name, check.required, check.configured])).toEqual([
      ['stripe', false, false],
      ['moyasar', false, false],
    ]);
    const report = await createHealthService({
      checks: health,
      clock,
      version: 'test',
      isDraining: () => false,
      isOverloaded: () => false,
    }).report();
    expect(report.status).toBe('healthy');
    expect(report.services).toMatchObject({
      stripe: { status: 'not_configured' },
      moyasar: { status: 'not_configured' },
    });
  });

  it('a configured gateway’s health check calls the gateway', async () => {
    const fake = await startFakeStripe();
    try {
      const gateways = createGateways(
        { ...base, stripe: { ...stripeSettings, secretKey: fake.secretKey, api: fake.api } },
        { ...deps(true), stripe: { maxNetworkRetries: 0 } },
      );
      const stripeCheck = gateways.health()[0];
      if (!stripeCheck || !('check' in stripeCheck)) throw new Error('no probe');
      await expect(stripeCheck.check()).resolves.toBeUndefined();
      expect(fake.lastRequest('/v1/balance')?.status).toBe(200);
    } finally {
      await fake.close();
    }
  });
});
