/**
 * Paying for a booking on the simulated gateway: the development flow `npm start` shows without
 * any payment keys (test tokens, 3-D Secure through our own simulate page, a payment left waiting,
 * a failed card, the hold running out, a cancellation refunded), and what the same app does in
 * production, where the simulated gateway does not exist. Everything over HTTP on the demo data,
 * the outbox drained by hand, the database checked afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { verifyLedger } from '../../src/modules/payments/payments.ledger.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api, type Caller } from '../helpers/client.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox as drain, signInAgain as signIn } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** Monday 22 March 2027, 06:00 UTC: the demo provider's weekday hours (London) are ahead. */
const START = new Date('2027-03-22T06:00:00Z');
const HEALTH_TOKEN = 'monitor-token-0123456789';
const APPLE_PAY_PATH = '/.well-known/apple-developer-merchantid-domain-association';
/** What a gateway hands out as the domain file: a hex blob, served byte for byte. */
const APPLE_PAY_FILE =
  '7B2270737049223A2239373943394538343346343131343044463144313834343232393232313734313034353044314339464446394437384337313531303944334643463542433731222C2276657273696F6E223A317D\n';
/** The demo's service paid online: 70.00 GBP, 10% default commission. */
const PRICE = 7000;
const COMMISSION = 700;

type Demo = Awaited<ReturnType<typeof seedDemoData>>;

const one = async <T>(t: TestApp, query: ReturnType<typeof sql>) => {
  const [row] = await queryRows<T>(t.app.platform.db, query);
  return row as T;
};

describe('booking payments on the simulated gateway (development, no keys)', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let demo: Demo;
  let client: ReturnType<typeof api>;

  beforeAll(async () => {
    t = await buildTestApp({ clock, env: { HEALTH_TOKEN } });
    // A paid booking moves on to `confirmed`: the demo provider confirms bookings itself here.
    demo = await seedDemoData(t.app, { autoConfirm: true });
    client = api(t.app);
  });
  afterAll(() => t.close());

  const slots = async () =>
    (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: { service_id: demo.paidServiceId },
      })
    ).data.slots;

  /** The first free start of the paid service. */
  const freeSlot = async () => {
    const [first] = await slots();
    if (!first) throw new Error('no free slot');
    return first;
  };

  const bookPaid = (customer: Caller, startsAt: string, extra: { payment_token?: string } = {}, headers = {}) =>
    client.as(customer).post('/api/v1/bookings', {
      body: { service_id: demo.paidServiceId, starts_at: startsAt, ...extra },
      headers,
    });

  const getBooking = (who: Caller, id: string) => client.as(who).get('/api/v1/bookings/{id}', { params: { id } });

  const paymentRow = (id: string) =>
    one<{
      payer_id: string | null;
      booking_id: string | null;
      status: string;
      captured_minor: number;
      commission_minor: number;
      commission_rate_bps: number;
      gateway_payment_id: string;
    }>(
      t,
      sql`select payer_id, booking_id, status, captured_minor::int, commission_minor::int, commission_rate_bps,
                 gateway_payment_id
          from payments where id = ${id}`,
    );

  const captureEntries = async (paymentId: string) =>
    (
      await one<{ n: number }>(
        t,
        sql`select count(*)::int as n from ledger_entries where kind = 'capture' and payment_id = ${paymentId}`,
      )
    ).n;

  const templatesOf = async (userId: string) =>
    (
      await queryRows<{ template: string }>(
        t.app.platform.db,
        sql`select template from notifications where user_id = ${userId} order by created_at, id`,
      )
    ).map((row) => row.template);

  it('sim_success: paid at once (Visa 4242, commission fixed); the booking is confirmed once the outbox runs', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const response = await bookPaid(customer, startsAt, { payment_token: 'sim_success' });
    expect(response.status).toBe(201);
    const booking = response.data;
    // Paid at once: the answer may already show the booking moved on, or the outbox moves it.
    expect(['pending_payment', 'confirmed']).toContain(booking.status);
    expect(booking).toMatchObject({
      starts_at: startsAt,
      payment_status: 'succeeded',
      payment: {
        status: 'succeeded',
        amount_minor: PRICE,
        currency: 'GBP',
        commission_minor: COMMISSION,
        captured_minor: PRICE,
        refunded_minor: 0,
        method: 'card',
        card_brand: 'visa',
        card_last4: '4242',
        gateway: 'simulated',
      },
      payment_action: null,
    });
    const paymentId = booking.payment?.id as string;
    expect(await paymentRow(paymentId)).toMatchObject({
      payer_id: customer.id,
      booking_id: booking.id,
      status: 'succeeded',
      captured_minor: PRICE,
      commission_rate_bps: 1000,
    });
    expect(await captureEntries(paymentId)).toBe(1);
    // The slot is taken from the start.
    expect(await slots()).not.toContain(startsAt);

    await drain(t);
    const after = (await getBooking(customer, booking.id)).data;
    // The demo provider confirms automatically.
    expect(after).toMatchObject({
      status: 'confirmed',
      payment_status: 'succeeded',
      payment_due_at: null,
      payment: { id: paymentId, status: 'succeeded' },
      payment_action: null,
    });
    expect(await templatesOf(customer.id)).toEqual(expect.arrayContaining(['payment_receipt', 'booking_confirmed']));
    // The provider sees the same booking with its payment.
    expect((await getBooking(demo.provider, booking.id)).data.payment?.id).toBe(paymentId);
    // The payer reads their payment; anyone else is told it does not exist.
    const mine = await client.as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } });
    expect(mine.data).toMatchObject({ id: paymentId, status: 'succeeded', refunds: [] });
    const stranger = await createUser(t.app);
    expect((await client.as(stranger).get('/api/v1/payments/{id}', { params: { id: paymentId } })).status).toBe(404);
    expect((await client.anonymous.get('/api/v1/payments/{id}', { params: { id: paymentId } })).status).toBe(401);
    // The success event the gateway also sent changed nothing twice.
    expect(await captureEntries(paymentId)).toBe(1);
    expect((await verifyLedger(t.app.platform.db)).ok).toBe(true);
  });

  it('a replay with the same Idempotency-Key answers the same booking and takes no second payment', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const key = `pay-${customer.id}`;
    const first = await bookPaid(customer, startsAt, { payment_token: 'sim_success' }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const again = await bookPaid(customer, startsAt, { payment_token: 'sim_success' }, { 'idempotency-key': key });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.data.id).toBe(first.data.id);
    expect(again.data.payment?.id).toBe(first.data.payment?.id);
    const { n } = await one<{ n: number }>(
      t,
      sql`select count(*)::int as n from payments where booking_id = ${first.data.id}`,
    );
    expect(n).toBe(1);
    await drain(t);
  });

  it('sim_decline: 402 PAYMENT_DECLINED, and the slot is free again at once', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const response = await bookPaid(customer, startsAt, { payment_token: 'sim_decline' });
    expect(response.status, response.raw.body).toBe(402);
    expect(response.error.code).toBe('PAYMENT_DECLINED');
    expect(response.error.message).toMatch(/declined/i);
    await drain(t);
    // No booking holds the time: it is offered again and someone else can book it.
    const held = await queryRows<{ status: string }>(
      t.app.platform.db,
      sql`select status from bookings where customer_id = ${customer.id}`,
    );
    expect(held.every((row) => row.status === 'cancelled')).toBe(true);
    expect(await slots()).toContain(startsAt);
    const other = await createUser(t.app);
    const rebooked = await bookPaid(other, startsAt, { payment_token: 'sim_success' });
    expect(rebooked.status).toBe(201);
    await drain(t);
  });

  it('sim_3ds: requires_action pointing at /payments/:id/simulate; completing it moves the booking on', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const response = await bookPaid(customer, startsAt, { payment_token: 'sim_3ds' });
    expect(response.status).toBe(201);
    const booking = response.data;
    const paymentId = booking.payment?.id as string;
    expect(booking).toMatchObject({
      status: 'pending_payment',
      payment: { status: 'requires_action', captured_minor: 0, card_last4: null },
      payment_action: {
        gateway: 'simulated',
        publishable_key: null,
        next_action_url: `http://localhost:3000/api/v1/payments/${paymentId}/simulate`,
      },
    });
    // Nothing is captured or confirmed while the customer is in the 3-D Secure step.
    await drain(t);
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'pending_payment',
      payment_status: 'requires_action',
      payment_action: { next_action_url: `http://localhost:3000/api/v1/payments/${paymentId}/simulate` },
    });
    expect(await captureEntries(paymentId)).toBe(0);
    expect(await slots()).not.toContain(startsAt);

    // Only the payer can take the step.
    const stranger = await createUser(t.app);
    const refused = await client.as(stranger).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'succeeded' },
    });
    expect(refused.status).toBe(404);
    const anonymous = await client.anonymous.post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'succeeded' },
    });
    expect(anonymous.status).toBe(401);
    const invalid = await t.app.inject({
      method: 'POST',
      url: `/api/v1/payments/${paymentId}/simulate`,
      headers: customer.headers,
      payload: { outcome: 'teleported' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().code).toBe('VALIDATION_ERROR');

    const paid = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'succeeded' },
    });
    expect(paid.status).toBe(200);
    expect(paid.data).toMatchObject({ id: paymentId, status: 'succeeded', captured_minor: PRICE, card_last4: '4242' });
    await drain(t);
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'confirmed',
      payment_status: 'succeeded',
      payment_action: null,
    });
    expect(await captureEntries(paymentId)).toBe(1);

    // A paid payment cannot be stepped again.
    const twice = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'failed' },
    });
    expect(twice.status).toBe(402);
    expect(twice.error.code).toBe('PAYMENT_DECLINED');
    expect((await paymentRow(paymentId)).status).toBe('succeeded');
  });

  it('no token: the payment waits (client secret and simulate link), holding the slot; a failed card may be tried again', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const response = await bookPaid(customer, startsAt);
    expect(response.status).toBe(201);
    const booking = response.data;
    const paymentId = booking.payment?.id as string;
    expect(booking).toMatchObject({
      status: 'pending_payment',
      payment_status: 'requires_payment_method',
      payment: { status: 'requires_payment_method', captured_minor: 0 },
      payment_action: {
        gateway: 'simulated',
        client_secret: expect.stringMatching(/^sim_secret_/),
        next_action_url: `http://localhost:3000/api/v1/payments/${paymentId}/simulate`,
      },
    });
    expect(Date.parse(booking.payment_due_at as string)).toBe(START.getTime() + 15 * 60_000);
    await drain(t);
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'pending_payment',
      payment_action: { client_secret: booking.payment_action?.client_secret },
    });
    expect(await slots()).not.toContain(startsAt);

    // A declined card: the payment failed, the booking still holds its slot until the hold ends.
    const failed = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'failed' },
    });
    expect(failed.status).toBe(200);
    expect(failed.data).toMatchObject({ status: 'failed', captured_minor: 0 });
    await drain(t);
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'pending_payment',
      payment_status: 'failed',
    });
    expect(await slots()).not.toContain(startsAt);

    // Another card goes through.
    const paid = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'succeeded' },
    });
    expect(paid.data.status).toBe('succeeded');
    await drain(t);
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'confirmed',
      payment_status: 'succeeded',
    });
  });

  it('after a failed card the booking still says how to pay, until its hold ends', async () => {
    const customer = await createUser(t.app);
    const booking = (await bookPaid(customer, await freeSlot())).data;
    const paymentId = booking.payment?.id as string;
    await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'failed' },
    });
    await drain(t);
    const detail = (await getBooking(customer, booking.id)).data;
    expect(detail).toMatchObject({ status: 'pending_payment', payment: { status: 'failed' } });
    // The payment may be tried again (as with Stripe): the client needs the way to do it.
    expect(detail.payment_action).toMatchObject({
      gateway: 'simulated',
      next_action_url: `http://localhost:3000/api/v1/payments/${paymentId}/simulate`,
    });
  });

  /** Lets the hold of a booking made at START run out, signs `who` in again, runs the sweep and the outbox. */
  const expireHolds = async (...who: TestUser[]) => {
    clock.advance(15 * 60_000 + 1000);
    await signIn(t, ...who);
    // (Any other booking left unpaid above is released with it.)
    const released = await t.app.platform.jobs.bookingHolds.runOnce();
    await drain(t);
    return released;
  };

  it('the hold runs out on a payment never made: booking cancelled, payment cancelled at the gateway, slot released', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const booking = (await bookPaid(customer, startsAt)).data;
    const paymentId = booking.payment?.id as string;
    // Nothing is released before the hold ends.
    expect(await t.app.platform.jobs.bookingHolds.runOnce()).toBe(0);
    try {
      expect(await expireHolds(customer)).toBeGreaterThanOrEqual(1);
      expect((await getBooking(customer, booking.id)).data).toMatchObject({
        status: 'cancelled',
        cancelled_by: 'system',
        payment_status: 'canceled',
        payment: { id: paymentId, status: 'canceled', captured_minor: 0 },
        payment_action: null,
      });
      expect(await slots()).toContain(startsAt);
      expect(await templatesOf(customer.id)).toContain('booking_cancelled');
      // Too late to pay now: the gateway refuses, nothing is captured.
      const late = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
        params: { id: paymentId },
        body: { outcome: 'succeeded' },
      });
      expect(late.status).toBe(402);
      expect(late.error.code).toBe('PAYMENT_DECLINED');
      expect(await paymentRow(paymentId)).toMatchObject({ status: 'canceled', captured_minor: 0 });
      expect(await captureEntries(paymentId)).toBe(0);
    } finally {
      clock.set(START);
      await signIn(t, customer);
    }
  });

  it('simulate failed, then the hold runs out: the slot is released and the failed payment cancelled at the gateway', async () => {
    const customer = await createUser(t.app);
    const startsAt = await freeSlot();
    const booking = (await bookPaid(customer, startsAt)).data;
    const paymentId = booking.payment?.id as string;
    const failed = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
      params: { id: paymentId },
      body: { outcome: 'failed' },
    });
    expect(failed.data.status).toBe('failed');
    await drain(t);
    try {
      expect(await expireHolds(customer)).toBeGreaterThanOrEqual(1);
      expect((await getBooking(customer, booking.id)).data).toMatchObject({
        status: 'cancelled',
        cancelled_by: 'system',
        payment_action: null,
      });
      expect(await slots()).toContain(startsAt);
      // The gateway's payment is closed too: a card tried after the release is never charged.
      expect(await paymentRow(paymentId)).toMatchObject({ status: 'canceled', captured_minor: 0 });
      const late = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
        params: { id: paymentId },
        body: { outcome: 'succeeded' },
      });
      expect(late.status).toBe(402);
      expect(await captureEntries(paymentId)).toBe(0);
    } finally {
      clock.set(START);
      await signIn(t, customer);
    }
  });

  it('a paid booking cancelled well ahead is refunded in full (the policy: free until 48 hours before)', async () => {
    const customer = await createUser(t.app);
    // A slot more than 48 hours away.
    const later = (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: {
          service_id: demo.paidServiceId,
          from: new Date(START.getTime() + 4 * 86_400_000).toISOString(),
        },
      })
    ).data.slots[0] as string;
    const booking = (await bookPaid(customer, later, { payment_token: 'sim_success' })).data;
    const paymentId = booking.payment?.id as string;
    await drain(t);
    const cancelled = await client.as(customer).post('/api/v1/bookings/{id}/cancel', {
      params: { id: booking.id },
      body: { reason: 'plans changed' },
    });
    expect(cancelled.status).toBe(200);
    await drain(t);
    const payment = (await client.as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } })).data;
    expect(payment).toMatchObject({ status: 'refunded', captured_minor: PRICE, refunded_minor: PRICE });
    expect(payment.refunds).toEqual([
      expect.objectContaining({
        amount_minor: PRICE,
        commission_reversed_minor: COMMISSION,
        source: 'customer_cancel',
        status: 'succeeded',
      }),
    ]);
    expect(await templatesOf(customer.id)).toContain('refund_notice');
    expect((await getBooking(customer, booking.id)).data).toMatchObject({
      status: 'cancelled',
      payment_status: 'refunded',
    });
    expect(await slots()).toContain(later);
    expect((await verifyLedger(t.app.platform.db)).ok).toBe(true);
  });

  it('the health report lists the real gateways as not configured (the simulated one is no health component)', async () => {
    const health = await t.app.inject({
      method: 'GET',
      url: '/api/health',
      headers: { authorization: `Bearer ${HEALTH_TOKEN}` },
    });
    expect(health.json()).toMatchObject({
      status: 'healthy',
      services: { stripe: { status: 'not_configured' }, moyasar: { status: 'not_configured' } },
    });
  });

  it('answers 404 for the Apple Pay domain file when APPLE_PAY_DOMAIN_ASSOCIATION_FILE is unset', async () => {
    const response = await t.app.inject({ method: 'GET', url: APPLE_PAY_PATH });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');
  });
});

describe('production without payment keys', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let demo: Demo;
  let client: ReturnType<typeof api>;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'apple-pay-'));
    const file = join(dir, 'apple-developer-merchantid-domain-association');
    writeFileSync(file, APPLE_PAY_FILE);
    t = await buildTestApp({
      clock,
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'a-production-secret-of-at-least-32-chars',
        HEALTH_TOKEN,
        APPLE_PAY_DOMAIN_ASSOCIATION_FILE: file,
      },
    });
    // The demo data (a provider onboarded earlier, its paid service), put there by hand.
    demo = await seedDemoData(t.app);
    client = api(t.app);
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports payments not configured in the health report, and stays healthy', async () => {
    const health = await t.app.inject({
      method: 'GET',
      url: '/api/health',
      headers: { authorization: `Bearer ${HEALTH_TOKEN}` },
    });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({
      status: 'healthy',
      services: { stripe: { status: 'not_configured' }, moyasar: { status: 'not_configured' } },
    });
  });

  it('refuses a paid booking with 503 PAYMENTS_UNAVAILABLE and creates nothing', async () => {
    const startsAt = (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: { service_id: demo.paidServiceId },
      })
    ).data.slots[0] as string;
    const count = async () =>
      one<{ bookings: number; payments: number; outbox: number }>(
        t,
        sql`select (select count(*)::int from bookings where service_id = ${demo.paidServiceId}) as bookings,
                   (select count(*)::int from payments where booking_id is not null
                      and booking_id in (select id from bookings where service_id = ${demo.paidServiceId})) as payments,
                   (select count(*)::int from outbox) as outbox`,
      );
    const before = await count();
    for (const payment_token of [undefined, 'sim_success']) {
      const response = await client.as(demo.user).post('/api/v1/bookings', {
        body: { service_id: demo.paidServiceId, starts_at: startsAt, ...(payment_token ? { payment_token } : {}) },
      });
      expect(response.status).toBe(503);
      expect(response.error.code).toBe('PAYMENTS_UNAVAILABLE');
      expect(response.headers['retry-after']).toBe('3600');
    }
    expect(await count()).toEqual(before);
    expect(before.bookings).toBe(0);
    // A service paid at the visit books as usual.
    const atVisit = (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: { service_id: demo.serviceId },
      })
    ).data.slots[0] as string;
    const booked = await client
      .as(demo.user)
      .post('/api/v1/bookings', { body: { service_id: demo.serviceId, starts_at: atVisit } });
    expect(booked.status).toBe(201);
    expect(booked.data.payment).toBeNull();
  });

  it('has no simulate route: 404 for any payment id', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/payments/019ab700-0000-7000-8000-00000000beef/simulate',
      headers: demo.user.headers,
      payload: { outcome: 'succeeded' },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');
  });

  it("serves the Apple Pay domain file's content, as the gateway gave it, to anyone", async () => {
    const response = await t.app.inject({ method: 'GET', url: APPLE_PAY_PATH });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toBe(APPLE_PAY_FILE);
  });
});
