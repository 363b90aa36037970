/**
 * Paying for a booking in SAR through Moyasar, end to end: the real app on its own database with
 * both gateways configured (fake Stripe and fake Moyasar on 127.0.0.1), webhooks posted to the
 * route as Moyasar posts them (the `secret_token` in the body) and applied by the outbox worker,
 * which fetches the payment from Moyasar before it believes the webhook.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { START, signIn, WEEKDAY_SCHEDULE } from '../bookings/helpers.js';
import type { MoyasarWebhookEvent } from '../fixtures/fake-moyasar.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { deliverMoyasarEvent, deliverStripeEvent, type PaymentFakes, startPaymentFakes } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain } from '../notifications/helpers.js';

/** 150.00 SAR in halalas, and its 10% commission. */
const SAR_PRICE = 15_000;
const SAR_COMMISSION = 1_500;
const STC_MOBILE = '0512345678';

/** Free start times on Tuesday 23 March 2027 (London, GMT): each test books its own. */
const slot = (hour: number, day = 23) => `2027-03-${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;

describe('booking payments through Moyasar (SAR, mada, STC Pay)', () => {
  const clock = createTestClock(START);
  let fakes: PaymentFakes;
  let t: TestApp;
  let admin: TestUser;
  let provider: TestUser;
  let customer: TestUser;
  let providerId: string;
  let sarServiceId: string;
  let gbpServiceId: string;

  const as = (user?: TestUser) => api(t.app).as(user);

  beforeAll(async () => {
    fakes = await startPaymentFakes({ clock });
    t = await buildTestApp({ clock, env: fakes.env });
    admin = await createUser(t.app, { role: 'admin' });
    provider = await createUser(t.app, { role: 'provider' });
    customer = await createUser(t.app);
    const category = await as(admin).post('/api/v1/admin/categories', {
      body: { slug: `cupping-${admin.id}`, name: 'Cupping' },
    });
    const profile = await as(provider).patch('/api/v1/provider/profile', {
      body: { display_name: 'Riyadh Wellness', time_zone: 'Europe/London', auto_confirm: false },
    });
    providerId = profile.data.id;
    await as(admin)
      .patch('/api/v1/admin/providers/{id}', { params: { id: providerId }, body: { verification: 'verified' } })
      .then((response) => response.data);
    await as(provider)
      .put('/api/v1/provider/availability', { body: WEEKDAY_SCHEDULE })
      .then((response) => response.data);
    // Paid services need a payout account first: onboarding at Stripe (Connect), finished there.
    const link = (await as(provider).post('/api/v1/provider/payouts/onboarding')).data;
    const accountId = new URL(link.url).pathname.split('/').at(-1) as string;
    expect((await deliverStripeEvent(t.app, fakes.stripe, fakes.stripe.completeOnboarding(accountId))).statusCode).toBe(
      200,
    );
    await drain(t);
    const service = (fields: { name: string; price_minor: number; currency: string }) =>
      as(provider)
        .post('/api/v1/provider/services', {
          body: {
            ...fields,
            category_id: category.data.id,
            duration_minutes: 60,
            buffer_minutes: 0,
            payment: 'required',
            free_cancel_hours: 24,
            late_cancel_fee_bps: 0,
          },
        })
        .then((response) => response.data.id);
    sarServiceId = await service({ name: 'Cupping, 60 minutes', price_minor: SAR_PRICE, currency: 'SAR' });
    gbpServiceId = await service({ name: 'Massage, 60 minutes', price_minor: 5_000, currency: 'GBP' });
  });

  afterAll(async () => {
    await t?.close();
    await fakes?.close();
  });

  /** POST /bookings of the SAR service at `startsAt`, paid with `method` and `token`. */
  const book = (startsAt: string, method?: 'mada' | 'stcpay' | 'card', token?: string, serviceId = sarServiceId) =>
    as(customer).post('/api/v1/bookings', {
      body: {
        service_id: serviceId,
        starts_at: startsAt,
        ...(method ? { payment_method: method } : {}),
        ...(token ? { payment_token: token } : {}),
      },
    });

  const bookingOf = async (id: string) => (await as(customer).get('/api/v1/bookings/{id}', { params: { id } })).data;

  /** The payment row as stored, by our id. */
  const paymentRow = async (paymentId: string) => {
    const [row] = await queryRows<{
      gateway: string;
      gateway_payment_id: string;
      status: string;
      amount_minor: number | string;
      captured_minor: number | string;
      refunded_minor: number | string;
    }>(t.app.platform.db, sql`select * from payments where id = ${paymentId}`);
    if (!row) throw new Error(`no payment ${paymentId}`);
    return row;
  };

  /** The Moyasar payment id (our `given_id`) behind one of our payments. */
  const moyasarIdOf = async (paymentId: string) => {
    const row = await paymentRow(paymentId);
    expect(row.gateway).toBe('moyasar');
    return row.gateway_payment_id;
  };

  const lastWebhook = (type: string, moyasarId: string) => {
    const webhook = fakes.moyasar.events.findLast((event) => event.type === type && event.data.id === moyasarId);
    if (!webhook) throw new Error(`the fake recorded no ${type} for ${moyasarId}`);
    return webhook;
  };

  const captureEntries = async (paymentId: string) =>
    queryRows<{ account: string; currency: string; amount_minor: number | string }>(
      t.app.platform.db,
      sql`select l.account, l.currency, l.amount_minor from ledger_entries e join ledger_lines l on l.entry_id = e.id
          where e.kind = 'capture' and e.payment_id = ${paymentId} order by l.line_no`,
    );

  /** An STC Pay booking: Moyasar answers `initiated`, waiting for the customer's one-time code. */
  const stcPayBooking = async (startsAt: string) => {
    const response = await book(startsAt, 'stcpay', STC_MOBILE);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    const booking = response.data;
    expect(booking).toMatchObject({
      status: 'pending_payment',
      payment: { gateway: 'moyasar', status: 'requires_action' },
    });
    const paymentId = booking.payment?.id as string;
    return { booking, paymentId, moyasarId: await moyasarIdOf(paymentId) };
  };

  describe('choosing the gateway', () => {
    it('SAR with mada goes to Moyasar, in halalas, with our ids; a mada token pays at once', async () => {
      const response = await book(slot(9), 'mada', 'token_mada_choice');
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      const booking = response.data;
      expect(booking.payment).toMatchObject({
        gateway: 'moyasar',
        status: 'succeeded',
        amount_minor: SAR_PRICE,
        captured_minor: SAR_PRICE,
        commission_minor: SAR_COMMISSION,
        currency: 'SAR',
        method: 'mada',
        card_brand: 'mada',
        card_last4: '1010',
      });
      const call = fakes.moyasar.lastRequest('/v1/payments', 'POST');
      expect(call?.headers.authorization).toBe(
        `Basic ${Buffer.from(`${fakes.moyasar.secretKey}:`).toString('base64')}`,
      );
      expect(call?.body).toMatchObject({
        amount: SAR_PRICE,
        currency: 'SAR',
        source: { type: 'token', token: 'token_mada_choice' },
        metadata: { payment_id: booking.payment?.id, booking_id: booking.id },
      });
      expect(call?.body.given_id).toBe(await moyasarIdOf(booking.payment?.id as string));
      // Stripe was never asked.
      expect(fakes.stripe.requests.filter((request) => request.path === '/v1/payment_intents')).toEqual([]);
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'pending', payment_status: 'succeeded' });
    });

    it('SAR with STC Pay goes to Moyasar with the mobile number and waits for the code', async () => {
      const { booking, moyasarId } = await stcPayBooking(slot(10));
      expect(booking.payment_action).toMatchObject({
        gateway: 'moyasar',
        client_secret: null,
        next_action_url: `${fakes.moyasar.url}/transaction/${moyasarId}`,
      });
      expect(fakes.moyasar.payment(moyasarId)).toMatchObject({
        status: 'initiated',
        amount: SAR_PRICE,
        currency: 'SAR',
        source: { type: 'stcpay', mobile: STC_MOBILE },
      });
    });

    it('a GBP card payment goes to Stripe, not Moyasar', async () => {
      const before = fakes.moyasar.requests.length;
      const response = await book(slot(11), undefined, 'pm_card_visa', gbpServiceId);
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      expect(response.data.payment).toMatchObject({ gateway: 'stripe', status: 'succeeded', currency: 'GBP' });
      expect(fakes.moyasar.requests.length).toBe(before);
    });
  });

  describe('the payment_paid webhook', () => {
    it('confirms the payment: captured in halalas, the ledger entry, the booking pending; a replay changes nothing', async () => {
      const { booking, paymentId, moyasarId } = await stcPayBooking(slot(13));
      // The message's data is cleared once it is sent: the customer's receipts are counted instead.
      const receiptsOfCustomer = async () =>
        (
          await queryRows<{ n: number }>(
            t.app.platform.db,
            sql`select count(*)::int as n from notifications where template = 'payment_receipt' and user_id = ${customer.id}`,
          )
        )[0]?.n ?? 0;
      const receiptsBefore = await receiptsOfCustomer();
      fakes.moyasar.completePayment(moyasarId, 'paid');
      const webhook = lastWebhook('payment_paid', moyasarId);

      const received = await deliverMoyasarEvent(t.app, webhook);
      expect(received.statusCode, received.body).toBe(200);
      expect(received.json().data).toEqual({ received: true, duplicate: false });
      // Applied by the outbox worker, not by the webhook's request.
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'pending_payment' });
      await drain(t);

      const paid = await bookingOf(booking.id);
      expect(paid).toMatchObject({ status: 'pending', payment_status: 'succeeded', payment_due_at: null });
      expect(paid.payment).toMatchObject({
        id: paymentId,
        gateway: 'moyasar',
        status: 'succeeded',
        amount_minor: SAR_PRICE,
        captured_minor: SAR_PRICE,
        refunded_minor: 0,
        commission_minor: SAR_COMMISSION,
        currency: 'SAR',
        method: 'stcpay',
      });
      expect(await receiptsOfCustomer()).toBe(receiptsBefore + 1);
      const lines = await captureEntries(paymentId);
      expect(lines.map((line) => [line.account, line.currency, Number(line.amount_minor)])).toEqual([
        ['gateway:moyasar', 'SAR', SAR_PRICE],
        [`provider:${providerId}`, 'SAR', -(SAR_PRICE - SAR_COMMISSION)],
        ['platform:revenue', 'SAR', -SAR_COMMISSION],
      ]);

      // Moyasar sends the same event again (its answer was lost): acknowledged, nothing applied twice.
      const again = await deliverMoyasarEvent(t.app, webhook);
      expect(again.statusCode).toBe(200);
      expect(again.json().data).toEqual({ received: true, duplicate: true });
      // And a new event id about the same payment: the payment cannot be captured twice.
      await deliverMoyasarEvent(t.app, fakes.moyasar.event('payment_paid', moyasarId));
      await drain(t);
      expect(await captureEntries(paymentId)).toHaveLength(3);
      expect(await receiptsOfCustomer()).toBe(receiptsBefore + 1);
      expect(await paymentRow(paymentId)).toMatchObject({ status: 'succeeded' });
      expect(Number((await paymentRow(paymentId)).captured_minor)).toBe(SAR_PRICE);
    });
  });

  describe('the payment_failed webhook', () => {
    it('releases the booking and frees its slot', async () => {
      const startsAt = slot(14);
      const { booking, paymentId, moyasarId } = await stcPayBooking(startsAt);
      fakes.moyasar.completePayment(moyasarId, 'failed');
      const received = await deliverMoyasarEvent(t.app, lastWebhook('payment_failed', moyasarId));
      expect(received.statusCode).toBe(200);
      await drain(t);

      expect(await bookingOf(booking.id)).toMatchObject({
        status: 'cancelled',
        cancelled_by: 'system',
        payment_status: 'failed',
        payment: { id: paymentId, status: 'failed', captured_minor: 0 },
      });
      expect(await captureEntries(paymentId)).toEqual([]);
      const slots = await as(customer).get('/api/v1/providers/{id}/slots', {
        params: { id: providerId },
        query: { service_id: sarServiceId, from: slot(9), to: slot(17) },
      });
      expect(slots.data.slots).toContain(startsAt);
      const rebooked = await book(startsAt, 'mada', 'token_mada_rebook');
      expect(rebooked.status, JSON.stringify(rebooked.body)).toBe(201);
    });
  });

  describe('webhook authenticity', () => {
    it('a wrong or missing secret_token is refused with 400 and nothing is recorded or applied', async () => {
      const { booking, paymentId, moyasarId } = await stcPayBooking(slot(15));
      fakes.moyasar.completePayment(moyasarId, 'paid');
      const webhook = lastWebhook('payment_paid', moyasarId);
      const outboxBefore = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from outbox where type = 'payments.event'`,
      );

      for (const secretToken of ['not-the-secret', '', null]) {
        const refused = await deliverMoyasarEvent(t.app, webhook, { secretToken });
        expect(refused.statusCode, `secret_token ${JSON.stringify(secretToken)}`).toBe(400);
        expect(refused.json()).toMatchObject({ success: false, code: 'WEBHOOK_SIGNATURE_INVALID' });
      }
      const stored = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from payment_events where gateway = 'moyasar' and event_id = ${webhook.id}`,
      );
      expect(stored[0]?.n).toBe(0);
      const outboxAfter = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from outbox where type = 'payments.event'`,
      );
      expect(outboxAfter[0]?.n).toBe(outboxBefore[0]?.n);
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({
        status: 'pending_payment',
        payment: { status: 'requires_action', captured_minor: 0 },
      });

      // The refusals did not use the event up: the genuine delivery is applied.
      const genuine = await deliverMoyasarEvent(t.app, webhook);
      expect(genuine.json().data).toEqual({ received: true, duplicate: false });
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'pending', payment: { id: paymentId } });
    });

    it('a webhook claiming paid for a payment Moyasar says failed captures nothing: the payment is fetched first', async () => {
      const { booking, paymentId, moyasarId } = await stcPayBooking(slot(16));
      fakes.moyasar.completePayment(moyasarId, 'failed');
      const failed = lastWebhook('payment_failed', moyasarId);
      // Whoever knows the secret_token (a leaked token, a confused proxy) claims it was paid.
      const forged: MoyasarWebhookEvent = {
        ...failed,
        id: randomUUID(),
        type: 'payment_paid',
        data: { ...failed.data, status: 'paid', source: { ...failed.data.source, message: 'APPROVED' } },
      };
      const received = await deliverMoyasarEvent(t.app, forged);
      expect(received.statusCode).toBe(200);
      const fetchesBefore = fakes.moyasar.requests.filter(
        (request) => request.method === 'GET' && request.path === `/v1/payments/${moyasarId}`,
      ).length;
      await drain(t);
      const fetches = fakes.moyasar.requests.filter(
        (request) => request.method === 'GET' && request.path === `/v1/payments/${moyasarId}`,
      ).length;
      expect(fetches).toBeGreaterThan(fetchesBefore);

      expect(await paymentRow(paymentId)).toMatchObject({ status: 'failed' });
      expect(Number((await paymentRow(paymentId)).captured_minor)).toBe(0);
      expect(await captureEntries(paymentId)).toEqual([]);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'cancelled', payment_status: 'failed' });
    });
  });

  describe('refund when the customer cancels', () => {
    it('refunds at Moyasar exactly once, records it, and the ledger balances', async () => {
      const response = await book(slot(9, 25), 'mada', 'token_mada_refund');
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      const booking = response.data;
      const paymentId = booking.payment?.id as string;
      const moyasarId = await moyasarIdOf(paymentId);
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'pending', payment_status: 'succeeded' });

      // More than 24 hours before the visit: free cancellation, all of it back.
      const cancelled = await as(customer).post('/api/v1/bookings/{id}/cancel', {
        params: { id: booking.id },
        body: { reason: 'Plans changed' },
      });
      expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
      await drain(t);

      const refundCalls = () =>
        fakes.moyasar.requests.filter(
          (request) => request.method === 'POST' && request.path === `/v1/payments/${moyasarId}/refund`,
        );
      expect(refundCalls()).toHaveLength(1);
      expect(refundCalls()[0]?.body).toEqual({ amount: SAR_PRICE });
      expect(fakes.moyasar.payment(moyasarId)).toMatchObject({ status: 'refunded', refunded: SAR_PRICE });

      const detail = await as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } });
      expect(detail.data).toMatchObject({ status: 'refunded', captured_minor: SAR_PRICE, refunded_minor: SAR_PRICE });
      expect(detail.data.refunds).toEqual([
        expect.objectContaining({
          amount_minor: SAR_PRICE,
          commission_reversed_minor: SAR_COMMISSION,
          source: 'customer_cancel',
          status: 'succeeded',
        }),
      ]);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'cancelled', payment_status: 'refunded' });

      // Moyasar's payment_refunded webhook, twice, and the worker again: no second refund.
      const refunded = lastWebhook('payment_refunded', moyasarId);
      await deliverMoyasarEvent(t.app, refunded);
      await deliverMoyasarEvent(t.app, refunded);
      await drain(t);
      await drain(t);
      expect(refundCalls()).toHaveLength(1);
      const entries = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from ledger_entries where kind = 'refund' and payment_id = ${paymentId}`,
      );
      expect(entries[0]?.n).toBe(1);

      const verify = await as(admin).get('/api/v1/admin/ledger/verify');
      expect(verify.data).toMatchObject({ ok: true, problems: [] });
      // Nothing left over for this payment: what came in went back out.
      const balances = await queryRows<{ account: string; sum: number | string }>(
        t.app.platform.db,
        sql`select l.account, sum(l.amount_minor)::bigint as sum from ledger_entries e join ledger_lines l on l.entry_id = e.id
            where e.payment_id = ${paymentId} group by l.account order by l.account`,
      );
      expect(balances.map((row) => [row.account, Number(row.sum)])).toEqual([
        ['gateway:moyasar', 0],
        ['platform:refunds', SAR_COMMISSION],
        ['platform:revenue', -SAR_COMMISSION],
        [`provider:${providerId}`, 0],
      ]);
    });

    it("another customer cannot see the payment (404), and the refund route is the admin's", async () => {
      const response = await book(slot(10, 25), 'mada', 'token_mada_private');
      const paymentId = response.data.payment?.id as string;
      const stranger = await createUser(t.app);
      const hidden = await as(stranger).get('/api/v1/payments/{id}', { params: { id: paymentId } });
      expect(hidden.status).toBe(404);
      const anonymous = await as().get('/api/v1/payments/{id}', { params: { id: paymentId } });
      expect(anonymous.status).toBe(401);
      const refund = await as(customer).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: 100, reason: 'mine' },
      });
      expect(refund.status).toBe(403);
    });
  });
  describe('an STC Pay payment the customer never finishes', () => {
    // Last in the file: it moves the clock past the hold.
    it('a webhook claiming paid while Moyasar still waits changes nothing; the hold runs out; paid late, it is refunded in full', async () => {
      const startsAt = slot(9, 26);
      const { booking, paymentId, moyasarId } = await stcPayBooking(startsAt);
      const forged: MoyasarWebhookEvent = {
        ...fakes.moyasar.event('payment_paid', moyasarId),
        id: randomUUID(),
      };
      forged.data = { ...forged.data, status: 'paid' };
      expect((await deliverMoyasarEvent(t.app, forged)).statusCode).toBe(200);
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({
        status: 'pending_payment',
        payment: { status: 'requires_action', captured_minor: 0 },
      });

      // Past the hold (PAYMENT_HOLD_MINUTES, 15 by default): the job releases the slot.
      clock.set(new Date(new Date(booking.payment_due_at as string).getTime() + 60_000));
      await signIn(t.app, customer, admin);
      // (The STC Pay booking of the gateway choice above was never finished either.)
      expect(await t.app.platform.jobs.bookingHolds.runOnce()).toBeGreaterThanOrEqual(1);
      await drain(t);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'cancelled', cancelled_by: 'system' });
      // An `initiated` Moyasar payment cannot be voided: it is left as it is.
      expect(fakes.moyasar.payment(moyasarId)?.status).toBe('initiated');
      const slots = await as(customer).get('/api/v1/providers/{id}/slots', {
        params: { id: providerId },
        query: { service_id: sarServiceId, from: slot(9, 26), to: slot(12, 26) },
      });
      expect(slots.data.slots).toContain(startsAt);

      // The customer enters the code after all: the money is taken, and all of it goes back.
      fakes.moyasar.completePayment(moyasarId, 'paid');
      await deliverMoyasarEvent(t.app, lastWebhook('payment_paid', moyasarId));
      await drain(t);
      expect(fakes.moyasar.payment(moyasarId)).toMatchObject({ status: 'refunded', refunded: SAR_PRICE });
      const detail = await as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } });
      expect(detail.data).toMatchObject({ status: 'refunded', captured_minor: SAR_PRICE, refunded_minor: SAR_PRICE });
      expect(detail.data.refunds).toEqual([
        expect.objectContaining({ amount_minor: SAR_PRICE, source: 'unpaid_booking', status: 'succeeded' }),
      ]);
      expect(await bookingOf(booking.id)).toMatchObject({ status: 'cancelled' });
      expect((await as(admin).get('/api/v1/admin/ledger/verify')).data).toMatchObject({ ok: true, problems: [] });
    });
  });
});
