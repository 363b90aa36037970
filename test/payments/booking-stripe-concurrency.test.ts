/**
 * Paying for a booking with Stripe when things happen at once or too late: one webhook delivered
 * fifty times at once, a hundred customers after one paid slot, and unpaid holds running out
 * (the test clock moves on 15 minutes). The same set-up as booking-stripe.test.ts: the real app,
 * the official SDK against the Stripe stand-in on 127.0.0.1, signed webhooks, the outbox run by
 * hand, and the demo provider's "Deep tissue massage, paid online" (70.00 GBP, auto-confirmed).
 */
import { sql } from 'drizzle-orm';
import type Stripe from 'stripe';
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

beforeAll(async () => {
  fakes = await startPaymentFakes({ clock, only: 'stripe' });
  // Access tokens (15 minutes by default) outlive the clock moves of the hold tests.
  t = await buildTestApp({ clock, env: { ...fakes.env, ACCESS_TOKEN_TTL_SECONDS: '86400' } });
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

// --- helpers (as in booking-stripe.test.ts) ---------------------------------------------------

const client = () => api(t.app);
const db = () => t.app.platform.db;

const newCustomer = (): Promise<Customer> => signUpCustomer(t.app, 'race');
const drain = outboxDrainer(() => t.app);

/** The first free start of the paid service, three days on or later. */
async function freeSlot(): Promise<string> {
  const from = new Date(clock.now().getTime() + 72 * HOUR_MS);
  const to = new Date(from.getTime() + 30 * 24 * HOUR_MS);
  const slots = await client().anonymous.get('/api/v1/providers/{id}/slots', {
    params: { id: demo.providerId },
    query: { service_id: demo.paidServiceId, from: from.toISOString(), to: to.toISOString() },
  });
  const first = slots.data.slots[0];
  if (!first) throw new Error(`no free slot between ${from.toISOString()} and ${to.toISOString()}`);
  return first;
}

function book(who: Caller, input: { startsAt: string; token?: string }) {
  return client()
    .as(who)
    .post('/api/v1/bookings', {
      body: {
        service_id: demo.paidServiceId,
        starts_at: input.startsAt,
        ...(input.token ? { payment_token: input.token } : {}),
      },
    });
}

/** Books the paid service, unpaid (the customer pays at the card step), at the next free slot or `startsAt`. */
async function bookPaid(who: Caller, startsAt?: string) {
  const response = await book(who, { startsAt: startsAt ?? (await freeSlot()) });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.data;
}

const bookingOf = async (who: Caller, id: string) =>
  (await client().as(who).get('/api/v1/bookings/{id}', { params: { id } })).data;

const adminPayment = async (id: string) =>
  (await client().as(demo.admin).get('/api/v1/admin/payments/{id}', { params: { id } })).data;

/** The Stripe PaymentIntent made for a booking. */
function intentOf(bookingId: string): string {
  const created = fakes.stripe
    .eventsOfType('payment_intent.created')
    .find((event) => (event.data.object as Stripe.PaymentIntent).metadata.booking_id === bookingId);
  if (!created) throw new Error(`no PaymentIntent for booking ${bookingId}`);
  return (created.data.object as Stripe.PaymentIntent).id;
}

function lastEventOf(intentId: string, type: string): Stripe.Event {
  const found = fakes.stripe
    .eventsOfType(type)
    .findLast((event) => (event.data.object as { id?: string }).id === intentId);
  if (!found) throw new Error(`no ${type} event for ${intentId}`);
  return found;
}

const deliver = (event: Stripe.Event) => deliverStripeEvent(t.app, fakes.stripe, event);

/** The kinds of the payment's ledger entries, oldest first. */
async function ledgerKindsOf(paymentId: string) {
  const rows = await queryRows<{ kind: string }>(
    db(),
    sql`select kind from ledger_entries where payment_id = ${paymentId} order by seq`,
  );
  return rows.map((row) => row.kind);
}

async function expectLedgerBalanced() {
  const verify = (await client().as(demo.admin).get('/api/v1/admin/ledger/verify')).data;
  expect(verify.problems).toEqual([]);
  expect(verify.ok).toBe(true);
}

async function count(query: ReturnType<typeof sql>): Promise<number> {
  return Number((await queryRows<{ n: unknown }>(db(), query))[0]?.n ?? 0);
}

/** How many `template` messages were queued for `userId` (sent messages lose their data, so by recipient). */
const messagesTo = (userId: string, template: string) =>
  count(sql`select count(*) as n from notifications where user_id = ${userId} and template = ${template}`);

// --- at once ------------------------------------------------------------------------------------

describe('concurrency', () => {
  it('50 deliveries of the same event at once: applied once', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'succeed');
    const event = lastEventOf(intentId, 'payment_intent.succeeded');
    const providerConfirmations = await messagesTo(providerUserId, 'booking_confirmed');

    const answers = await Promise.all(Array.from({ length: 50 }, () => deliver(event)));
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(50).fill(200));
    expect(answers.filter((answer) => answer.json().data.duplicate === false)).toHaveLength(1);
    await drain();

    const paid = await bookingOf(customer, booking.id);
    expect(paid).toMatchObject({ status: 'confirmed', payment: { status: 'succeeded', captured_minor: PRICE } });
    expect(await ledgerKindsOf(paid.payment?.id as string)).toEqual(['capture']);
    expect(await messagesTo(customer.id, 'payment_receipt')).toBe(1);
    expect(await messagesTo(customer.id, 'booking_confirmed')).toBe(1);
    expect(await messagesTo(providerUserId, 'booking_confirmed')).toBe(providerConfirmations + 1);
    expect(
      await count(sql`select count(*) as n from outbox where type = 'payments.event' and payload->>'id' = ${event.id}`),
    ).toBe(1);
    await expectLedgerBalanced();
  });

  it('100 customers book the same paid slot at once: one hold, one PaymentIntent, 99 refused', async () => {
    // Signed up ten at a time: the race under test is the bookings', not the sign-ups' (each
    // sign-up takes its turn on the audit chain, and a hundred at once outwait a busy pool).
    const customers: Awaited<ReturnType<typeof newCustomer>>[] = [];
    for (let batch = 0; batch < 10; batch += 1) {
      customers.push(...(await Promise.all(Array.from({ length: 10 }, () => newCustomer()))));
    }
    const startsAt = await freeSlot();
    const intentsBefore = fakes.stripe.eventsOfType('payment_intent.created').length;
    const answers = await Promise.all(customers.map((customer) => book(customer, { startsAt })));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(99);
    expect(new Set(answers.filter((answer) => answer.status === 409).map((answer) => answer.error.code))).toEqual(
      new Set(['SLOT_UNAVAILABLE']),
    );
    const holds = await queryRows<{ status: string }>(
      db(),
      sql`select status from bookings where provider_id = ${demo.providerId} and starts_at = ${startsAt}
          and status in ('pending_payment', 'pending', 'confirmed')`,
    );
    expect(holds).toEqual([{ status: 'pending_payment' }]);
    expect(fakes.stripe.eventsOfType('payment_intent.created').length).toBe(intentsBefore + 1);
  });
});

// --- holds (these move the clock on) -----------------------------------------------------------

describe('an unpaid hold running out', () => {
  const runHolds = () => t.app.platform.jobs.bookingHolds.runOnce();

  it('is cancelled by the system after 15 minutes, its PaymentIntent cancelled at Stripe, and the slot is free again', async () => {
    const customer = await newCustomer();
    const startsAt = await freeSlot();
    const booking = await bookPaid(customer, startsAt);
    const intentId = intentOf(booking.id);

    clock.advance(14 * 60_000);
    await runHolds();
    expect((await bookingOf(customer, booking.id)).status).toBe('pending_payment');

    clock.advance(2 * 60_000);
    expect(await runHolds()).toBeGreaterThanOrEqual(1);
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'cancelled',
      cancelled_by: 'system',
      cancel_reason: 'the payment was not completed in time',
    });
    await drain();
    expect(fakes.stripe.paymentIntent(intentId)).toMatchObject({
      status: 'canceled',
      cancellation_reason: 'abandoned',
    });
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      payment_status: 'canceled',
      payment: { status: 'canceled', captured_minor: 0 },
      payment_action: null,
    });
    expect(await messagesTo(customer.id, 'booking_cancelled')).toBe(1);

    const other = await newCustomer();
    const rebooked = await book(other, { startsAt, token: 'pm_card_visa' });
    expect(rebooked.status, JSON.stringify(rebooked.body)).toBe(201);
    await drain();
  });

  it('a payment that failed at the card step is cancelled at Stripe too when its hold runs out', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const intentId = intentOf(booking.id);
    fakes.stripe.customerStep(intentId, 'decline');
    expect((await deliver(lastEventOf(intentId, 'payment_intent.payment_failed'))).statusCode).toBe(200);
    await drain();
    expect(await bookingOf(customer, booking.id)).toMatchObject({
      status: 'pending_payment',
      payment_status: 'failed',
    });

    clock.advance(16 * 60_000);
    await runHolds();
    await drain();
    expect(await bookingOf(customer, booking.id)).toMatchObject({ status: 'cancelled', cancelled_by: 'system' });
    // Otherwise the customer could still pay with another card for a booking that is gone.
    expect(fakes.stripe.paymentIntent(intentId).status).toBe('canceled');
    expect(await bookingOf(customer, booking.id)).toMatchObject({ payment_status: 'canceled' });
  });

  it('paid at Stripe just after the hold ran out: the late success is captured and refunded in full', async () => {
    const customer = await newCustomer();
    const booking = await bookPaid(customer);
    const paymentId = booking.payment?.id as string;
    const intentId = intentOf(booking.id);
    // The customer pays on the last second; the webhook comes after the sweep.
    fakes.stripe.customerStep(intentId, 'succeed');
    clock.advance(16 * 60_000);
    await runHolds();
    expect(await bookingOf(customer, booking.id)).toMatchObject({ status: 'cancelled', cancelled_by: 'system' });

    expect((await deliver(lastEventOf(intentId, 'payment_intent.succeeded'))).statusCode).toBe(200);
    await drain();

    const after = await adminPayment(paymentId);
    expect(after).toMatchObject({ status: 'refunded', captured_minor: PRICE, refunded_minor: PRICE });
    expect(after.refunds).toMatchObject([
      { amount_minor: PRICE, commission_reversed_minor: COMMISSION, source: 'unpaid_booking', status: 'succeeded' },
    ]);
    expect(await bookingOf(customer, booking.id)).toMatchObject({ status: 'cancelled', payment_status: 'refunded' });
    const charge = fakes.stripe.charge(String(fakes.stripe.paymentIntent(intentId).latest_charge));
    expect(charge).toMatchObject({ amount_refunded: PRICE, refunded: true });
    expect(await ledgerKindsOf(paymentId)).toEqual(['capture', 'refund']);
    await expectLedgerBalanced();
  });
});
