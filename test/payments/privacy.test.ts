/**
 * Payments and a person's data rights: payments are in the data map, the data export carries a
 * person's payments (card brand and last four, never a card number), erasure keeps the financial
 * record without naming the payer, and the financial retention period ends even that link.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { verifyLedger } from '../../src/modules/payments/payments.ledger.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api, type Caller } from '../helpers/client.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox as drain } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** Monday 22 March 2027, 06:00 UTC. */
const START = new Date('2027-03-22T06:00:00Z');
const PRICE = 7000;
/** What a person sees of a payment, and all of it (PaymentSchema). */
const PAYMENT_FIELDS = [
  'amount_minor',
  'captured_minor',
  'card_brand',
  'card_last4',
  'commission_minor',
  'created_at',
  'currency',
  'gateway',
  'id',
  'method',
  'refunded_minor',
  'status',
];

type Demo = Awaited<ReturnType<typeof seedDemoData>>;

interface PaymentRecord {
  payer_id: string | null;
  booking_id: string | null;
  status: string;
  amount_minor: number;
  captured_minor: number;
  refunded_minor: number;
  commission_minor: number;
  gateway_payment_id: string;
  card_brand: string | null;
  card_last4: string | null;
}

describe('payments and personal data', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let demo: Demo;
  let client: ReturnType<typeof api>;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    demo = await seedDemoData(t.app);
    client = api(t.app);
  });
  afterAll(() => t.close());

  const paymentRecord = async (id: string) => {
    const [row] = await queryRows<PaymentRecord>(
      t.app.platform.db,
      sql`select payer_id, booking_id, status, amount_minor::int, captured_minor::int, refunded_minor::int,
                 commission_minor::int, gateway_payment_id, card_brand, card_last4
          from payments where id = ${id}`,
    );
    return row as PaymentRecord;
  };

  /** A customer's paid booking (sim_success), settled; then an admin refund of `refundMinor`. */
  const paidBooking = async (customer: Caller, refundMinor = 0) => {
    const [startsAt] = (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: { service_id: demo.paidServiceId },
      })
    ).data.slots;
    const booked = await client.as(customer).post('/api/v1/bookings', {
      body: { service_id: demo.paidServiceId, starts_at: startsAt as string, payment_token: 'sim_success' },
    });
    expect(booked.status).toBe(201);
    const paymentId = booked.data.payment?.id as string;
    await drain(t);
    if (refundMinor > 0) {
      const refund = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: refundMinor, reason: 'goodwill' },
      });
      expect(refund.status).toBe(202);
      await drain(t);
    }
    return { bookingId: booked.data.id, paymentId };
  };

  const exportOf = async (user: TestUser) => {
    const requested = await client.as(user).post('/api/v1/me/data-export');
    expect(requested.status).toBe(202);
    await drain(t);
    const ready = await client.as(user).get('/api/v1/me/data-export/{id}', { params: { id: requested.data.id } });
    expect(ready.data.status).toBe('ready');
    return ready.data.document as {
      sections: Record<string, { data: Record<string, unknown> } & Record<string, unknown>>;
    };
  };

  it('are in the data map: tables, purposes, legal basis and the financial retention period', () => {
    const entry = t.app.platform.dataMap.entries().find((candidate) => candidate.module === 'payments');
    expect(entry).toBeDefined();
    expect(entry?.tables).toEqual(expect.arrayContaining(['payments', 'refunds', 'subscriptions']));
    expect(entry?.purposes).toEqual(expect.arrayContaining(['refunds', 'accounting']));
    expect(entry?.legalBasis).toMatch(/legal obligation/);
    // RETENTION_FINANCIAL_YEARS, 10 by default.
    expect(entry?.retention).toMatch(/10 years/);
    expect(typeof entry?.export).toBe('function');
    expect(typeof entry?.erase).toBe('function');
  });

  it("the data export holds the person's payments, with the card's brand and last four and no more", async () => {
    const customer = await createUser(t.app, { name: 'Ada Payer' });
    const other = await createUser(t.app);
    const { paymentId } = await paidBooking(customer, 1000);
    const otherPayment = await paidBooking(other);

    const document = await exportOf(customer);
    const section = document.sections.payments;
    expect(section).toMatchObject({ purposes: expect.arrayContaining(['accounting']) });
    const exported = section?.data.payments as Record<string, unknown>[];
    expect(exported).toEqual([
      {
        id: paymentId,
        status: 'partially_refunded',
        amount_minor: PRICE,
        currency: 'GBP',
        commission_minor: 700,
        captured_minor: PRICE,
        refunded_minor: 1000,
        method: 'card',
        card_brand: 'visa',
        card_last4: '4242',
        card_fingerprint: expect.stringMatching(/^sim_fp_[0-9a-f]{16}$/),
        gateway: 'simulated',
        created_at: START.toISOString(),
      },
    ]);
    // The export also holds the card's fingerprint (what the person's data says); the API does not show it.
    expect(Object.keys(exported[0] as object).sort()).toEqual([...PAYMENT_FIELDS, 'card_fingerprint'].sort());
    expect(section?.data.subscription).toBeNull();
    // Only this person's payments.
    const text = JSON.stringify(document);
    expect(text).not.toContain(otherPayment.paymentId);
    // Nothing of the card beyond brand and last four, nor the gateway's client secret.
    expect(text).not.toMatch(/4242\s?4242/);
    // (A card number's digits in a row, anywhere in the payments section.)
    expect(JSON.stringify(section)).not.toMatch(/\d{13,19}/);
    expect(text).not.toMatch(/client_secret|sim_secret_|cvc|cvv|card_number|exp_month/i);
  });

  it('no card data has a column to be stored in, and the API shows brand and last four only', async () => {
    const columns = await queryRows<{ table_name: string; column_name: string }>(
      t.app.platform.db,
      sql`select table_name, column_name from information_schema.columns
          where table_schema = 'public' and table_name in ('payments', 'refunds', 'subscriptions', 'payout_accounts')`,
    );
    expect(columns.length).toBeGreaterThan(20);
    const cardish = columns.filter(({ column_name }) =>
      /pan|card_number|cvc|cvv|expir|exp_month|exp_year|secret|track/i.test(column_name),
    );
    expect(cardish).toEqual([]);
    expect(
      columns
        .filter(({ column_name }) => column_name.startsWith('card_'))
        .map((c) => c.column_name)
        .sort(),
    ).toEqual(['card_brand', 'card_fingerprint', 'card_last4']);

    const customer = await createUser(t.app);
    const { bookingId, paymentId } = await paidBooking(customer);
    const payment = (await client.as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } })).data;
    expect(Object.keys(payment).sort()).toEqual([...PAYMENT_FIELDS, 'refunds'].sort());
    const booking = (await client.as(customer).get('/api/v1/bookings/{id}', { params: { id: bookingId } })).data;
    expect(Object.keys(booking.payment ?? {}).sort()).toEqual(PAYMENT_FIELDS);
  });

  it('erasure keeps the payment for the accounts (amounts, dates, gateway ids) but names no payer', async () => {
    const customer = await createUser(t.app, { name: 'Grace Erased' });
    const { bookingId, paymentId } = await paidBooking(customer, 2500);
    const before = await paymentRecord(paymentId);
    expect(before.payer_id).toBe(customer.id);
    const ledgerBefore = await verifyLedger(t.app.platform.db);
    const summaryBefore = (await client.as(demo.admin).get('/api/v1/admin/payments/summary')).data;

    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: customer.headers,
      payload: { password: customer.password },
    });
    expect(erased.statusCode).toBe(200);
    expect(erased.json().data.modules.payments).toMatchObject({ action: 'pseudonymised', rows: 1 });

    const after = await paymentRecord(paymentId);
    expect(after).toEqual({
      ...before,
      payer_id: null,
      // The fingerprint links a card to a person: it goes with the payer.
      ...('card_fingerprint' in before ? { card_fingerprint: null } : {}),
    });
    expect(after).toMatchObject({
      booking_id: bookingId,
      status: 'partially_refunded',
      amount_minor: PRICE,
      captured_minor: PRICE,
      refunded_minor: 2500,
      commission_minor: 700,
      // The receipt's card details stay with the record (payments.privacy.ts).
      card_brand: 'visa',
      card_last4: '4242',
    });
    const [refunds] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from refunds where payment_id = ${paymentId} and status = 'succeeded'`,
    );
    expect(refunds?.n).toBe(1);
    // The books did not move.
    const ledgerAfter = await verifyLedger(t.app.platform.db);
    expect(ledgerAfter).toMatchObject({ ok: true, entries: ledgerBefore.entries, lines: ledgerBefore.lines });
    expect((await client.as(demo.admin).get('/api/v1/admin/payments/summary')).data).toEqual(summaryBefore);
    // Admins still find the payment; it names nobody.
    const adminView = await client.as(demo.admin).get('/api/v1/admin/payments/{id}', { params: { id: paymentId } });
    expect(adminView.data).toMatchObject({ id: paymentId, refunded_minor: 2500 });
    expect(JSON.stringify(adminView.data)).not.toContain(customer.id);
    // The person's token no longer reaches it.
    expect((await client.as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } })).status).toBe(401);
  });

  it('after RETENTION_FINANCIAL_YEARS a payment no longer names its payer nor shows the card', async () => {
    const customer = await createUser(t.app);
    const { paymentId } = await paidBooking(customer);
    // Still within the period: nothing changes.
    clock.set(new Date('2036-03-21T06:00:00Z'));
    try {
      await t.app.platform.retention.runOnce();
      expect((await paymentRecord(paymentId)).payer_id).toBe(customer.id);
      clock.set(new Date('2037-03-23T06:00:00Z'));
      await t.app.platform.retention.runOnce();
      expect(await paymentRecord(paymentId)).toMatchObject({
        payer_id: null,
        card_brand: null,
        card_last4: null,
        amount_minor: PRICE,
        captured_minor: PRICE,
        status: 'succeeded',
      });
      expect((await verifyLedger(t.app.platform.db)).ok).toBe(true);
    } finally {
      clock.set(START);
    }
  });
});
