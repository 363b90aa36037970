/**
 * Paying for a booking with Stripe, end to end: the real app on a fresh database, the official
 * SDK against the Stripe stand-in on 127.0.0.1 (test/fixtures/fake-stripe.ts), webhooks signed
 * the way Stripe signs them, and the outbox worker run by hand. The demo provider auto-confirms
 * and sells "Deep tissue massage, paid online": 70.00 GBP, free cancellation until 48 hours
 * before, then half kept. Its payout account is the simulated gateway's, so a Stripe payment is a
 * plain charge (no destination): the platform keeps its 10% commission in the ledger. Races and
 * holds running out are in booking-stripe-concurrency.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api, type Caller } from '../helpers/client.js';
import { seedDemoData } from '../helpers/demo.js';
import {
  deliverStripeEvent,
  outboxDrainer,
  type PaymentFakes,
  signUpCustomer,
  startPaymentFakes,
} from '../helpers/payments.js';

type Demo = Awaited<ReturnType<typeof seedDemoData>>;
interface Customer extends Caller {
  id: string;
}

const HOUR_MS = 3_600_000;
const PRICE = 7000;
const COMMISSION = 700;

let fakes: PaymentFakes;
let t: TestApp;
let demo: Demo;
let providerUserId: string;
const clock = createTestClock();
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  fakes = await startPaymentFakes({ clock, only: 'stripe' });
  t = await buildTestApp({ clock, logLines, env: fakes.env });
  // These tests follow a paid booking to `confirmed`: the demo provider confirms bookings itself here.
  demo = await seedDemoData(t.app, { autoConfirm: true });
  const [owner] = await queryRows<{ user_id: string }>(
    t.app.platform.db,
    sql`select user_id from providers where id = ${demo.providerId}`,
  );
  providerUserId = owner?.user_id as string;
  await drain();
});

afterAll(async () => {
  await t?.close();
  await fakes?.close();
});

// --- helpers -----------------------------------------------------------------------------------

const client = () => api(t.app);
const db = () => t.app.platform.db;

const newCustomer = (): Promise<Customer> => signUpCustomer(t.app, 'stripe');
const drain = outboxDrainer(() => t.app);

/**
 * The first free start of `serviceId` between `from` and `to`. By default three days on or later,
 * so the few slots within the 48-hour cancellation window stay for the tests that need them (and
 * that free them again by cancelling).
 */
async function freeSlot(options: { serviceId?: string; from?: Date; to?: Date } = {}): Promise<string> {
  const from = options.from ?? new Date(clock.now().getTime() + 72 * HOUR_MS);
  const to = options.to ?? new Date(from.getTime() + 30 * 24 * HOUR_MS);
  const slots = await client().anonymous.get('/api/v1/providers/{id}/slots', {
    params: { id: demo.providerId },
    query: {
      service_id: options.serviceId ?? demo.paidServiceId,
      from: from.toISOString(),
      to: to.toISOString(),
    },
  });
  const first = slots.data.slots[0];
  if (!first) throw new Error(`no free slot between ${from.toISOString()} and ${to.toISOString()}`);
  return first;
}

/** A slot within the 48-hour window of the demo service's cancellation policy. */
const lateSlot = () => freeSlot({ from: clock.now(), to: new Date(clock.now().getTime() + 47 * HOUR_MS) });

function book(who: Caller, input: { startsAt: string; token?: string; key?: string; serviceId?: string }) {
  return client()
    .as(who)
    .post('/api/v1/bookings', {
      body: {
        service_id: input.serviceId ?? demo.paidServiceId,
        starts_at: input.startsAt,
        ...(input.token ? { payment_token: input.token } : {}),
      },
      ...(input.key ? { headers: { 'idempotency-key': input.key } } : {}),
    });
}

/** Books the paid service at the next free slot (or `startsAt`) and returns the booking. */
async function bookPaid(who: Caller, input: { startsAt?: string; token?: string } = {}) {
  const response = await book(who, { startsAt: input.startsAt ?? (await freeSlot()), token: input.token });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.data;
}

/** A booking paid at once with a test card, its payment's message applied: confirmed and captured. */
async function paidBooking(who: Caller, startsAt?: string) {
  const booking = await bookPaid(who, { startsAt, token: 'pm_card_visa' });
  await drain();
  const detail = await bookingOf(who, booking.id);
  expect(detail).toMatchObject({ status: 'confirmed', payment: { status: 'succeeded', captured_minor: PRICE } });
  return detail;
}

const bookingOf = async (who: Caller, id: string) =>
  (await client().as(who).get('/api/v1/bookings/{id}', { params: { id } })).data;

const adminPayment = async (id: string) =>
  (await client().as(demo.admin).get('/api/v1/admin/payments/{id}', { params: { id } })).data;

const refund = (paymentId: string, amountMinor: number, reason = 'goodwill') =>
  client()
    .as(demo.admin)
    .post('/api/v1/admin/payments/{id}/refunds', {
      params: { id: paymentId },
      body: { amount_minor: amountMinor, reason },
    });

/** The Stripe PaymentIntent made for a booking. */
function intentOf(bookingId: string): string {
  const created = fakes.stripe
    .eventsOfType('payment_intent.created')
    .find((event) => (event.data.object as Stripe.PaymentIntent).metadata.booking_id === bookingId);
  if (!created) throw new Error(`no PaymentIntent for booking ${bookingId}`);
  return (created.data.object as Stripe.PaymentIntent).id;
}

/** Every event Stripe recorded about a PaymentIntent (its own, its charges' and refunds'), oldest first. */
function eventsOf(intentId: string): Stripe.Event[] {
  return fakes.stripe.events.filter((event) => {
    const object = event.data.object as { id?: string; payment_intent?: string | null };
    return object.id === intentId || object.payment_intent === intentId;
  });
}

function lastEventOf(intentId: string, type: string): Stripe.Event {
  const found = eventsOf(intentId).findLast((event) => event.type === type);
  if (!found) throw new Error(`no ${type} event for ${intentId}`);
  return found;
}

async function deliver(event: Stripe.Event, options: Parameters<typeof deliverStripeEvent>[3] = {}) {
  return deliverStripeEvent(t.app, fakes.stripe, event, options);
}

/** The payment's ledger: each entry's kind and its lines. */
async function ledgerOf(paymentId: string) {
  const rows = await queryRows<{ entry_id: string; kind: string; account: string; amount_minor: unknown }>(
    db(),
    sql`select e.id as entry_id, e.kind, l.account, l.amount_minor
        from ledger_entries e join ledger_lines l on l.entry_id = e.id
        where e.payment_id = ${paymentId} order by e.seq, l.line_no`,
  );
  const entries = new Map<string, { kind: string; lines: Record<string, number> }>();
  for (const row of rows) {
    const entry = entries.get(row.entry_id) ?? { kind: row.kind, lines: {} };
    entry.lines[row.account] = Number(row.amount_minor);
    entries.set(row.entry_id, entry);
  }
  return [...entries.values()];
}

async function expectLedgerBalanced() {
  const verify = (await client().as(demo.admin).get('/api/v1/admin/ledger/verify')).data;
  expect(verify.problems).toEqual([]);
  expect(verify.ok).toBe(true);
}

/**
 * How many `template` messages were queued for `userId` (a message's data, which names its booking,
 * is cleared once it is sent, so messages are told apart by recipient: every test has its own customers).
 */
const messagesTo = (userId: string, template: string) =>
  count(sql`select count(*) as n from notifications where user_id = ${userId} and template = ${template}`);

async function count(query: ReturnType<typeof sql>): Promise<number> {
  return Number((await queryRows<{ n: unknown }>(db(), query))[0]?.n ?? 0);
}

/** The demo provider's ledger account. */
const providerAccount = () => `provider:${demo.providerId}`;

// --- paying ------------------------------------------------------------------------------------

describe('paying for a booking with Stripe', () => {
  it('holds the slot unpaid, then the payment_intent.succeeded webhook confirms it, captured once with 10% commission', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const created = await book(customer, { startsAt });
    expect(created.status).toBe(201);
    const booking = created.data;
    const intentId = intentOf(booking.id);
    expect(booking).toMatchObject({
      status: 'pending_payment',
      payment_status: 'requires_payment_method',
      payment_due_at: new Date(clock.now().getTime() + 15 * 60_000).toISOString(),
      payment: {
        status: 'requires_payment_method',
        amount_minor: PRICE,
        currency: 'GBP',
        commission_minor: COMMISSION,
        captured_minor: 0,
        refunded_minor: 0,
        gateway: 'stripe',
        method: null,
      },
      payment_action: { gateway: 'stripe', publishable_key: 'pk_test_fake_stripe', next_action_url: null },
    });
    expect(booking.payment_action?.client_secret).toMatch(new RegExp(`^${intentId}_secret_`));
    // A plain charge on the platform's account: the provider's payout account is not Stripe's.
    expect(fakes.stripe.paymentIntent(intentId)).toMatchObject({
      amount: PRICE,
      currency: 'gbp',
      transfer_data: null,
      application_fee_amount: null,
      metadata: { booking_id: booking.id, payment_id: booking.payment?.id },
    });
    // Nobody is told of a booking before it is paid.
    const providerConfirmations = await messagesTo(providerUserId, 'booking_confirmed');
    expect(await messagesTo(customer.id, 'booking_confirmed')).toBe(0);

    fakes.stripe.customerStep(intentId, 'succeed');
    const succeeded = await deliver(lastEventOf(intentId, 'payment_intent.succeeded'));
    expect(succeeded.statusCode, succeeded.body).toBe(200);
    expect(succeeded.json().data).toEqual({ received: true, duplicate: false });
    // Applied by the outbox worker, not in the webhook's request.
    expect((await bookingOf(customer, booking.id)).status).toBe('pending_payment');
    await drain();

    const paid = await bookingOf(customer, booking.id);
    expect(paid).toMatchObject({
      status: 'confirmed',
      payment_status: 'succeeded',
      payment_due_at: null,
      payment: { status: 'succeeded', captured_minor: PRICE, commission_minor: COMMISSION },
      payment_action: null,
    });
    const paymentId = paid.payment?.id as string;
    expect(await ledgerOf(paymentId)).toEqual([
      {
        kind: 'capture',
        lines: { 'gateway:stripe': PRICE, [providerAccount()]: -(PRICE - COMMISSION), 'platform:revenue': -COMMISSION },
      },
    ]);
    await expectLedgerBalanced();
    expect(await messagesTo(customer.id, 'payment_receipt')).toBe(1);
    expect(await messagesTo(customer.id, 'booking_confirmed')).toBe(1);
    expect(await messagesTo(providerUserId, 'booking_confirmed')).toBe(providerConfirmations + 1);

    // The payer sees the payment; another customer gets 404, nobody signed in 401.
    const own = await client()
      .as(customer)
      .get('/api/v1/payments/{id}', { params: { id: paymentId } });
    expect(own.data).toMatchObject({ id: paymentId, status: 'succeeded', refunds: [] });
    const stranger = await client()
      .as(await newCustomer())
      .get('/api/v1/payments/{id}', { params: { id: paymentId } });
    expect(stranger.status).toBe(404);
    expect((await client().anonymous.get('/api/v1/payments/{id}', { params: { id: paymentId } })).status).toBe(401);
  });

  it('rounds the commission half to even (10% of 10.25 GBP is 1.02, not 1.03)', async () => {
    const service = await client()
      .as(demo.provider)
      .post('/api/v1/provider/services', {
        body: {
          name: `Short consultation ${randomUUID().slice(0, 8)}`,
          category_id: demo.categoryId,
          duration_minutes: 30,
          price_minor: 1025,
          currency: 'GBP',
          payment: 'required',
        },
      });
    expect(service.status, JSON.stringify(service.body)).toBe(201);
    const serviceId = service.data.id;
    const customer = await newCustomer();
    const created = await book(customer, {
      startsAt: await freeSlot({ serviceId }),
      serviceId,
      token: 'pm_card_visa',
    });
    expect(created.status).toBe(201);
    // Paid with the card at once: captured before the answer, which shows the booking moved on.
    expect(created.data).toMatchObject({
      status: 'confirmed',
      payment_due_at: null,
      payment: { status: 'succeeded', amount_minor: 1025, commission_minor: 102, captured_minor: 1025 },
      payment_action: null,
    });
    await drain();
    expect((await bookingOf(customer, created.data.id)).status).toBe('confirmed');
    expect(await ledgerOf(created.data.payment?.id as string)).toEqual([
      { kind: 'capture', lines: { 'gateway:stripe': 1025, [providerAccount()]: -923, 'platform:revenue': -102 } },
    ]);
    await expectLedgerBalanced();
  });

  it('records how the customer paid (card, brand, last four) when the success comes by webhook', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'succeed');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.succeeded'))).statusCode).toBe(200);
    await drain();
    // As when the card is confirmed by the server (the token path), which records them.
    expect((await bookingOf(customer, booking.id)).payment).toMatchObject({
      status: 'succeeded',
      method: 'card',
      card_brand: 'visa',
      card_last4: '4242',
    });
  });

  it('3-D Secure: requires_action with the page to open, then confirmed once the customer passes it', async () => {
    const customer = await newCustomer();
    const created = await book(customer, { startsAt: await freeSlot(), token: 'pm_card_authenticationRequired' });
    expect(created.status).toBe(201);
    const booking = created.data;
    const intentId = intentOf(booking.id);
    const page = `${fakes.stripe.url}/3ds/${intentId}`;
    expect(booking).toMatchObject({
      status: 'pending_payment',
      payment: { status: 'requires_action', captured_minor: 0 },
      payment_action: { gateway: 'stripe', next_action_url: page },
    });
    expect(fakes.stripe.lastRequest('/v1/payment_intents', 'POST')?.body).toMatchObject({
      confirm: 'true',
      payment_method: 'pm_card_authenticationRequired',
      return_url: `${t.app.platform.config.publicAppUrl}/bookings/${booking.id}`,
    });
    await drain();
    // Still waiting: the page and the client secret come back on the booking too.
    const waiting = await bookingOf(customer, booking.id);
    expect(waiting).toMatchObject({
      status: 'pending_payment',
      payment_status: 'requires_action',
      payment_action: { next_action_url: page },
    });
    expect(waiting.payment_action?.client_secret).toMatch(new RegExp(`^${intentId}_secret_`));

    fakes.stripe.complete3ds(intentId, 'succeed');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.succeeded'))).statusCode).toBe(200);
    await drain();
    const paid = await bookingOf(customer, booking.id);
    expect(paid).toMatchObject({
      status: 'confirmed',
      payment: { status: 'succeeded', captured_minor: PRICE },
      payment_action: null,
    });
    expect((await ledgerOf(paid.payment?.id as string)).map((entry) => entry.kind)).toEqual(['capture']);
    await expectLedgerBalanced();
  });

  it('a declined card: 402, the slot is free again, and a replay with the same Idempotency-Key answers the same and makes nothing', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const key = randomUUID();
    const intentsBefore = fakes.stripe.eventsOfType('payment_intent.created').length;
    const declined = await book(customer, { startsAt, token: 'pm_card_chargeDeclined', key });
    expect(declined.status).toBe(402);
    expect(declined.error).toMatchObject({ code: 'PAYMENT_DECLINED', message: 'Your card was declined.' });
    const bookingsOfCustomer = () =>
      queryRows<{ id: string; status: string; cancelled_by: string | null; payment_status: string | null }>(
        db(),
        sql`select id, status, cancelled_by, payment_status from bookings where customer_id = ${customer.id}`,
      );
    const [released] = await bookingsOfCustomer();
    expect(await bookingsOfCustomer()).toHaveLength(1);
    expect(released).toMatchObject({ status: 'cancelled', cancelled_by: 'system' });
    expect(await count(sql`select count(*) as n from payments where booking_id = ${released?.id}`)).toBe(0);
    // The customer was told in the answer: no email besides.
    expect(await messagesTo(customer.id, 'booking_cancelled')).toBe(0);
    expect(fakes.stripe.eventsOfType('payment_intent.created').length).toBe(intentsBefore + 1);

    const replay = await book(customer, { startsAt, token: 'pm_card_chargeDeclined', key });
    expect(replay.status).toBe(402);
    expect(replay.error).toMatchObject({ code: 'PAYMENT_DECLINED', message: 'Your card was declined.' });
    expect(await bookingsOfCustomer()).toHaveLength(1);
    expect(fakes.stripe.eventsOfType('payment_intent.created').length).toBe(intentsBefore + 1);
    // The same key with another body is another request.
    const reused = await book(customer, { startsAt, token: 'pm_card_visa', key });
    expect(reused.error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    // The slot is free: someone else books and pays it.
    const other = await newCustomer();
    const rebooked = await book(other, { startsAt, token: 'pm_card_visa' });
    expect(rebooked.status, JSON.stringify(rebooked.body)).toBe(201);
    expect(rebooked.data.payment?.status).toBe('succeeded');
    await drain();
  });

  it('a card declined at the card step: the booking keeps its hold, and the customer tries another card', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'decline');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.payment_failed'))).statusCode).toBe(200);
    await drain();
    const failed = await bookingOf(customer, booking.id);
    expect(failed).toMatchObject({
      status: 'pending_payment',
      payment_status: 'failed',
      payment: { status: 'failed', captured_minor: 0 },
    });
    // Stripe.js needs the client secret again to confirm with another card.
    expect(failed.payment_action?.client_secret).toMatch(new RegExp(`^${intentId}_secret_`));

    fakes.stripe.customerStep(intentId, 'succeed');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.succeeded'))).statusCode).toBe(200);
    await drain();
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'confirmed',
      payment: { status: 'succeeded', captured_minor: PRICE },
    });
  });

  it('Stripe not answering: 503 with Retry-After, the slot is free, and a retry with the same Idempotency-Key books afresh', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const key = randomUUID();
    // The SDK tries three times (two retries); all three fail.
    fakes.stripe.failNext(3, 500);
    const down = await book(customer, { startsAt, key });
    expect(down.status).toBe(503);
    expect(down.error.code).toBe('PAYMENTS_UNAVAILABLE');
    expect(down.headers['retry-after']).toBe('5');
    expect(
      await queryRows(db(), sql`select status, cancelled_by from bookings where customer_id = ${customer.id}`),
    ).toEqual([{ status: 'cancelled', cancelled_by: 'system' }]);

    const retried = await book(customer, { startsAt, key });
    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
    expect(retried.data).toMatchObject({ status: 'pending_payment', starts_at: startsAt });
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
  });

  it('a replayed booking request with the same Idempotency-Key gives the same booking and payment, not a second one', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const key = randomUUID();
    const first = await book(customer, { startsAt, key });
    expect(first.status).toBe(201);
    const again = await book(customer, { startsAt, key });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.data).toMatchObject({
      id: first.data.id,
      status: 'pending_payment',
      payment: { id: first.data.payment?.id },
      payment_action: { client_secret: first.data.payment_action?.client_secret },
    });
    expect(await count(sql`select count(*) as n from bookings where customer_id = ${customer.id}`)).toBe(1);
    expect(await count(sql`select count(*) as n from payments where payer_id = ${customer.id}`)).toBe(1);
  });
});

// --- webhooks ------------------------------------------------------------------------------------

describe('Stripe webhooks', () => {
  it('the same event delivered twice: the second is a 200 duplicate and changes nothing', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'succeed');
    const event = lastEventOf(intentId, 'payment_intent.succeeded');

    const first = await deliver(event);
    expect(first.json().data).toEqual({ received: true, duplicate: false });
    await drain();
    const second = await deliver(event);
    expect(second.statusCode).toBe(200);
    expect(second.json().data).toEqual({ received: true, duplicate: true });
    await drain();

    const paid = await bookingOf(customer, booking.id);
    expect(paid).toMatchObject({ status: 'confirmed', payment: { status: 'succeeded', captured_minor: PRICE } });
    expect(await ledgerOf(paid.payment?.id as string)).toHaveLength(1);
    expect(await messagesTo(customer.id, 'payment_receipt')).toBe(1);
    expect(await messagesTo(customer.id, 'booking_confirmed')).toBe(1);
    expect(await count(sql`select count(*) as n from payment_events where event_id = ${event.id}`)).toBe(1);
    await expectLedgerBalanced();
  });

  it('events out of order: the success delivered after the refund never makes the payment captured again', async () => {
    const customer = await newCustomer();
    // Paid with the card at once: our state moves with the API answer, before any webhook.
    const booking = await bookPaid(customer, { token: 'pm_card_visa' });
    const paymentId = booking.payment?.id as string;
    const intentId = intentOf(booking.id);
    await drain();
    expect((await refund(paymentId, PRICE, 'customer complaint')).status).toBe(202);
    await drain();
    expect(await adminPayment(paymentId)).toMatchObject({ status: 'refunded', refunded_minor: PRICE });

    // Now Stripe's events arrive, newest first: charge.refunded, refund.created, then the success.
    const events = eventsOf(intentId).reverse();
    expect(events.map((event) => event.type)).toEqual([
      'charge.refunded',
      'refund.created',
      'payment_intent.succeeded',
      'charge.succeeded',
      'payment_intent.created',
    ]);
    for (const event of events) expect((await deliver(event)).statusCode).toBe(200);
    // And Stripe sends the success once more, as a new event.
    const resent = fakes.stripe.event(
      'payment_intent.succeeded',
      lastEventOf(intentId, 'payment_intent.succeeded').data.object as unknown as Record<string, unknown>,
    );
    expect((await deliver(resent)).statusCode).toBe(200);
    await drain();

    const after = await adminPayment(paymentId);
    expect(after).toMatchObject({ status: 'refunded', captured_minor: PRICE, refunded_minor: PRICE });
    expect(after.refunds).toHaveLength(1);
    expect((await ledgerOf(paymentId)).map((entry) => entry.kind)).toEqual(['capture', 'refund']);
    expect(await bookingOf(customer, booking.id)).toMatchObject({ payment_status: 'refunded' });
    expect(await messagesTo(customer.id, 'payment_receipt')).toBe(1);
    await expectLedgerBalanced();
  });

  it('a late requires_action after the success, or a success after a failure, never moves the payment back', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    // The customer's first card is declined, then 3-D Secure with another card, then paid.
    fakes.stripe.customerStep(intentId, 'decline');
    fakes.stripe.customerStep(intentId, 'require_3ds');
    fakes.stripe.complete3ds(intentId);
    const failed = lastEventOf(intentId, 'payment_intent.payment_failed');
    const action = lastEventOf(intentId, 'payment_intent.requires_action');
    const succeeded = lastEventOf(intentId, 'payment_intent.succeeded');

    for (const event of [succeeded, action, failed]) expect((await deliver(event)).statusCode).toBe(200);
    await drain();
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'confirmed',
      payment_status: 'succeeded',
      payment: { status: 'succeeded', captured_minor: PRICE },
    });
    expect(await ledgerOf(booking.payment?.id as string)).toHaveLength(1);
  });

  it('refuses a wrong secret, a stale timestamp, a tampered body and a missing signature: 400, logged, nothing applied', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'succeed');
    const event = lastEventOf(intentId, 'payment_intent.succeeded');
    const now = Math.floor(clock.now().getTime() / 1000);
    const logged = logLines.length;

    const tampered = JSON.stringify(
      { ...event, data: { object: { ...(event.data.object as object), amount: 1 } } },
      null,
      2,
    );
    const refused = [
      await deliver(event, { secret: 'whsec_not_the_right_secret' }),
      await deliver(event, { timestamp: now - 301 }),
      await deliver(event, { body: tampered }),
      await deliver(event, { signature: null }),
      await deliver(event, { signature: 'not a stripe signature' }),
    ];
    for (const response of refused) {
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ success: false, code: 'WEBHOOK_SIGNATURE_INVALID' });
    }
    await drain();
    expect(await count(sql`select count(*) as n from payment_events where event_id = ${event.id}`)).toBe(0);
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'pending_payment',
      payment: { status: 'requires_payment_method', captured_minor: 0 },
    });
    const security = logLines.slice(logged).filter((line) => line.security_event === 'webhook_signature_invalid');
    expect(security).toHaveLength(refused.length);
    expect(security.map((line) => line.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/missing/i), expect.stringMatching(/timestamp/i)]),
    );

    // Within the 300 s tolerance the same event is taken, once.
    const accepted = await deliver(event, { timestamp: now - 299 });
    expect(accepted.json().data).toEqual({ received: true, duplicate: false });
    await drain();
    expect((await bookingOf(customer, booking.id)).status).toBe('confirmed');
  });
});

// --- refunds -------------------------------------------------------------------------------------

describe('admin refunds', () => {
  it('partial refunds add up, reverse the commission in proportion and never exceed the capture', async () => {
    const customer = await newCustomer();
    const booking = await paidBooking(customer);
    const paymentId = booking.payment?.id as string;
    const intentId = intentOf(booking.id);

    // Only admins refund.
    expect(
      (
        await client()
          .as(customer)
          .post('/api/v1/admin/payments/{id}/refunds', {
            params: { id: paymentId },
            body: { amount_minor: 100, reason: 'mine' },
          })
      ).status,
    ).toBe(403);

    // 700 × 1234 / 7000 = 123.4 → 123 reversed.
    const first = await refund(paymentId, 1234);
    expect(first.status).toBe(202);
    expect(first.data).toMatchObject({
      payment_id: paymentId,
      amount_minor: 1234,
      commission_reversed_minor: 123,
      source: 'admin',
      reason: 'goodwill',
      status: 'pending',
    });
    await drain();
    expect(await adminPayment(paymentId)).toMatchObject({
      status: 'partially_refunded',
      refunded_minor: 1234,
      refunds: [{ status: 'succeeded', amount_minor: 1234 }],
    });

    // Running total 3234: 700 × 3234 / 7000 = 323.4 → 323, so 200 more.
    const second = await refund(paymentId, 2000);
    expect(second.data.commission_reversed_minor).toBe(200);
    await drain();

    // 3766 is left: one minor unit more is refused, and nothing is reserved for it.
    const tooMuch = await refund(paymentId, 3767);
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.error.code).toBe('REFUND_EXCEEDS_CAPTURE');
    const last = await refund(paymentId, 3766);
    expect(last.status).toBe(202);
    // The last refund gives back exactly what is left of the commission.
    expect(last.data.commission_reversed_minor).toBe(COMMISSION - 323);
    await drain();

    const after = await adminPayment(paymentId);
    expect(after).toMatchObject({ status: 'refunded', captured_minor: PRICE, refunded_minor: PRICE });
    const byAmount = [...after.refunds].sort((a, b) => a.amount_minor - b.amount_minor);
    expect(byAmount.map((row) => [row.amount_minor, row.commission_reversed_minor, row.status])).toEqual([
      [1234, 123, 'succeeded'],
      [2000, 200, 'succeeded'],
      [3766, 377, 'succeeded'],
    ]);
    expect(after.refunds.reduce((sum, row) => sum + row.commission_reversed_minor, 0)).toBe(COMMISSION);
    // Nothing is left: another refund is refused.
    expect((await refund(paymentId, 1)).status).toBe(409);
    // Stripe refunded exactly that, each time with our idempotency key.
    const charge = fakes.stripe.charge(String(fakes.stripe.paymentIntent(intentId).latest_charge));
    expect(charge).toMatchObject({ amount_refunded: PRICE, refunded: true });
    const refundCalls = fakes.stripe.requests.filter(
      (request) => request.path === '/v1/refunds' && request.body.payment_intent === intentId,
    );
    expect(refundCalls.map((request) => request.body.amount)).toEqual(['1234', '2000', '3766']);
    expect(refundCalls.every((request) => request.idempotencyKey?.startsWith('refund:'))).toBe(true);

    const ledger = await ledgerOf(paymentId);
    expect(ledger.map((entry) => entry.kind)).toEqual(['capture', 'refund', 'refund', 'refund']);
    expect(ledger[1]?.lines).toEqual({
      [providerAccount()]: 1234 - 123,
      'platform:refunds': 123,
      'gateway:stripe': -1234,
    });
    await expectLedgerBalanced();
    expect(await messagesTo(customer.id, 'refund_notice')).toBe(3);
    const audited = await queryRows<{ details: { amount_minor: number } }>(
      db(),
      sql`select details from audit_log where action = 'payments.refund_requested' and target_id = ${paymentId}
          order by seq`,
    );
    expect(audited.map((row) => row.details.amount_minor)).toEqual([1234, 2000, 3766]);
  });

  it('ten refunds at once never add up to more than the capture', async () => {
    const customer = await newCustomer();
    const booking = await paidBooking(customer);
    const paymentId = booking.payment?.id as string;
    const answers = await Promise.all(Array.from({ length: 10 }, () => refund(paymentId, 1000)));
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(7);
    expect(answers.filter((answer) => answer.status === 409).map((answer) => answer.error.code)).toEqual(
      Array(3).fill('REFUND_EXCEEDS_CAPTURE'),
    );
    await drain();
    const after = await adminPayment(paymentId);
    expect(after).toMatchObject({ status: 'refunded', refunded_minor: PRICE });
    expect(after.refunds.filter((row) => row.status === 'succeeded')).toHaveLength(7);
    expect(after.refunds.reduce((sum, row) => sum + row.commission_reversed_minor, 0)).toBe(COMMISSION);
    await expectLedgerBalanced();
  });

  it('a refund Stripe refuses after another one went through leaves the payment partially refunded, the rest refundable', async () => {
    const customer = await newCustomer();
    const booking = await paidBooking(customer);
    const paymentId = booking.payment?.id as string;
    const intentId = intentOf(booking.id);
    // 10.00 refunded in Stripe's dashboard, which we are not told of: Stripe has 60.00 left to refund.
    const stripe = new Stripe(fakes.stripe.secretKey, { ...fakes.stripe.api, maxNetworkRetries: 0 });
    await stripe.refunds.create({ payment_intent: intentId, amount: 1000 });

    const [first, second] = [await refund(paymentId, 4000), await refund(paymentId, 3000)];
    expect([first.status, second.status]).toEqual([202, 202]);
    // Carried out one after the other: the first goes through, Stripe refuses the second (amount_too_large).
    const { payments } = t.app.platform.services;
    await payments.executeRefund({ refund_id: first.data.id });
    await payments.executeRefund({ refund_id: second.data.id });
    await drain();

    const after = await adminPayment(paymentId);
    const byAmount = [...after.refunds].sort((a, b) => a.amount_minor - b.amount_minor);
    expect(byAmount.map((row) => [row.amount_minor, row.status])).toEqual([
      [3000, 'failed'],
      [4000, 'succeeded'],
    ]);
    expect(after).toMatchObject({ refunded_minor: 4000, status: 'partially_refunded' });
    await expectLedgerBalanced();
    // 30.00 is left as far as we know, 20.00 at Stripe: that much can still be refunded.
    const rest = await refund(paymentId, 2000);
    expect(rest.status, JSON.stringify(rest.body)).toBe(202);
    await drain();
    expect(await adminPayment(paymentId)).toMatchObject({ refunded_minor: 6000, status: 'partially_refunded' });
  });
});

// --- cancellations -------------------------------------------------------------------------------

describe('cancelling a paid booking', () => {
  const cancel = (who: Caller, id: string, reason?: string) =>
    client()
      .as(who)
      .post('/api/v1/bookings/{id}/cancel', { params: { id }, body: reason ? { reason } : {} });

  /** The refunds of the booking's payment once the outbox has run. */
  async function refundsAfter(paymentId: string) {
    await drain();
    return adminPayment(paymentId);
  }

  it('by the customer more than 48 hours before: all of it back, the commission too', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const booking = await paidBooking(customer, startsAt);
    const paymentId = booking.payment?.id as string;
    const cancelled = await cancel(customer, booking.id);
    expect(cancelled.data).toMatchObject({ status: 'cancelled', cancelled_by: 'customer' });
    expect(await refundsAfter(paymentId)).toMatchObject({
      status: 'refunded',
      refunded_minor: PRICE,
      refunds: [
        { amount_minor: PRICE, commission_reversed_minor: COMMISSION, source: 'customer_cancel', status: 'succeeded' },
      ],
    });
    expect(await bookingOf(customer, booking.id)).toMatchObject({ status: 'cancelled', payment_status: 'refunded' });
    expect(await messagesTo(customer.id, 'refund_notice')).toBe(1);
    await expectLedgerBalanced();
  });

  it('by the customer within 48 hours: half is kept (the provider and the platform keep their shares of it)', async () => {
    const customer = await newCustomer();
    const startsAt = await lateSlot();
    const booking = await paidBooking(customer, startsAt);
    const paymentId = booking.payment?.id as string;
    expect((await cancel(customer, booking.id)).status).toBe(200);
    expect(await refundsAfter(paymentId)).toMatchObject({
      status: 'partially_refunded',
      captured_minor: PRICE,
      refunded_minor: PRICE / 2,
      refunds: [{ amount_minor: PRICE / 2, commission_reversed_minor: COMMISSION / 2, source: 'customer_cancel' }],
    });
    expect((await ledgerOf(paymentId))[1]?.lines).toEqual({
      [providerAccount()]: PRICE / 2 - COMMISSION / 2,
      'platform:refunds': COMMISSION / 2,
      'gateway:stripe': -PRICE / 2,
    });
    await expectLedgerBalanced();
  });

  it('by the customer within 48 hours straight after paying, before the booking heard of it: still half kept', async () => {
    const customer = await newCustomer();
    const startsAt = await lateSlot();
    const booking = await bookPaid(customer, { startsAt });
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'succeed');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.succeeded'))).statusCode).toBe(200);
    // The payment takes the event; the booking's own message about it is still queued.
    const [queued] = await queryRows<{ id: string; payload: Record<string, unknown> }>(
      db(),
      sql`select id, payload from outbox where type = 'payments.event' and status = 'pending' order by id desc limit 1`,
    );
    await t.app.platform.services.payments.applyEvent(queued?.payload ?? {});
    await queryRows(db(), sql`update outbox set status = 'delivered', delivered_at = now() where id = ${queued?.id}`);
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'pending_payment',
      payment: { status: 'succeeded' },
    });
    expect((await cancel(customer, booking.id)).data).toMatchObject({ status: 'cancelled', cancelled_by: 'customer' });
    await drain();
    const after = await refundsAfter(booking.payment?.id as string);
    expect(after.refunds.map((row) => [row.amount_minor, row.source])).toEqual([[PRICE / 2, 'customer_cancel']]);
    expect(after).toMatchObject({ status: 'partially_refunded', refunded_minor: PRICE / 2 });
  });

  it('by the customer before paying: the PaymentIntent is cancelled at Stripe, nothing charged', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    expect((await cancel(customer, booking.id)).data).toMatchObject({ status: 'cancelled', cancelled_by: 'customer' });
    await drain();
    expect(fakes.stripe.paymentIntent(intentId)).toMatchObject({ status: 'canceled', amount_received: 0 });
    expect(await adminPayment(booking.payment?.id as string)).toMatchObject({
      status: 'canceled',
      captured_minor: 0,
      refunds: [],
    });
    expect(await bookingOf(customer, booking.id)).toMatchObject({ status: 'cancelled', payment_status: 'canceled' });
  });

  it('by the provider, even within 48 hours: all of it back', async () => {
    const customer = await newCustomer();
    const startsAt = await lateSlot();
    const booking = await paidBooking(customer, startsAt);
    // A provider says why.
    expect((await cancel(demo.provider, booking.id)).status).toBe(400);
    const cancelled = await cancel(demo.provider, booking.id, 'Ill today');
    expect(cancelled.data).toMatchObject({ status: 'cancelled', cancelled_by: 'provider' });
    expect(await refundsAfter(booking.payment?.id as string)).toMatchObject({
      status: 'refunded',
      refunded_minor: PRICE,
      refunds: [
        { amount_minor: PRICE, commission_reversed_minor: COMMISSION, source: 'provider_cancel', reason: 'Ill today' },
      ],
    });
    await expectLedgerBalanced();
  });

  it('by an admin because the provider did not come: all of it back, recorded as such and audited', async () => {
    const customer = await newCustomer();
    const startsAt = await lateSlot();
    const booking = await paidBooking(customer, startsAt);
    const cancelled = await client()
      .as(demo.admin)
      .post('/api/v1/admin/bookings/{id}/cancel', {
        params: { id: booking.id },
        body: { reason: 'The provider did not come', provider_no_show: true },
      });
    expect(cancelled.data).toMatchObject({ status: 'cancelled', cancelled_by: 'admin' });
    expect(await refundsAfter(booking.payment?.id as string)).toMatchObject({
      status: 'refunded',
      refunded_minor: PRICE,
      refunds: [{ amount_minor: PRICE, source: 'provider_no_show', reason: 'The provider did not come' }],
    });
    expect(
      await count(
        sql`select count(*) as n from audit_log where action = 'booking.cancelled_by_admin' and target_id = ${booking.id}`,
      ),
    ).toBe(1);
    await expectLedgerBalanced();
  });
});
