/**
 * The admin side of payments over HTTP, on the simulated gateway and the demo data: commission
 * rules (and that a rule never re-prices a payment already made), refunds (audited, never more
 * than is left), the revenue summary in JSON and CSV with exact figures, the daily reconciliation
 * with the gateway (matched, then a forged capture that the gateway never saw), the ledger check
 * over HTTP and as `npm run ledger:verify`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPglite, type Db, openDatabase, queryRows } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { createLedger } from '../../src/modules/payments/payments.ledger.js';
import { payments } from '../../src/modules/payments/payments.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api, type Caller } from '../helpers/client.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox as drain, signInAgain as signIn } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** Monday 22 March 2027, 06:00 UTC. */
const START = new Date('2027-03-22T06:00:00Z');
const DAY_MS = 86_400_000;
/** The demo's service paid online: 70.00 GBP; the default commission is 10%. */
const PRICE = 7000;

type Demo = Awaited<ReturnType<typeof seedDemoData>>;

/** A captured payment written straight into the books, as if the gateway had taken it: for tampering. */
async function forgeCapture(
  db: Db,
  input: { at: Date; amountMinor: number; gatewayPaymentId: string; ledger: boolean },
) {
  const id = uuidv7();
  await db.transaction(async (tx) => {
    await tx.insert(payments).values({
      id,
      purpose: 'subscription',
      gateway: 'simulated',
      gatewayPaymentId: input.gatewayPaymentId,
      status: 'succeeded',
      amountMinor: input.amountMinor,
      currency: 'GBP',
      capturedMinor: input.amountMinor,
      createdAt: input.at,
      updatedAt: input.at,
    });
    if (input.ledger) {
      await createLedger({ ids: uuidv7, clock: { now: () => input.at } }).recordCapture(tx, {
        paymentId: id,
        gateway: 'simulated',
        currency: 'GBP',
        amountMinor: input.amountMinor,
        commissionMinor: 0,
        occurredAt: input.at,
      });
    }
  });
  return id;
}

describe('payments administration', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let demo: Demo;
  let client: ReturnType<typeof api>;
  /** The category of the demo's paid service (sports massage). */
  let categoryId: string;
  /** Someone signed in with the plain user role. */
  let customer: TestUser;
  let adminId: string;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    demo = await seedDemoData(t.app);
    client = api(t.app);
    const services = (await client.as(demo.provider).get('/api/v1/provider/services')).data;
    categoryId = services.find((service) => service.id === demo.paidServiceId)?.category_id as string;
    customer = await createUser(t.app);
    const [admin] = await queryRows<{ id: string }>(
      t.app.platform.db,
      sql`select id from users where email = ${demo.admin.email}`,
    );
    adminId = admin?.id as string;
  });
  afterAll(() => t.close());

  const freeSlot = async () => {
    const [first] = (
      await client.anonymous.get('/api/v1/providers/{id}/slots', {
        params: { id: demo.providerId },
        query: { service_id: demo.paidServiceId },
      })
    ).data.slots;
    if (!first) throw new Error('no free slot');
    return first;
  };

  /** Books the paid service at the first free slot; with `sim_success` it is paid at once. */
  const bookPaid = async (who: Caller, payment_token?: string) => {
    const response = await client.as(who).post('/api/v1/bookings', {
      body: {
        service_id: demo.paidServiceId,
        starts_at: await freeSlot(),
        ...(payment_token ? { payment_token } : {}),
      },
    });
    if (response.status !== 201) throw new Error(`booking: ${response.status} ${response.raw.body}`);
    await drain(t);
    return { booking: response.data, payment: response.data.payment as NonNullable<typeof response.data.payment> };
  };

  const adminPayment = (id: string) => client.as(demo.admin).get('/api/v1/admin/payments/{id}', { params: { id } });

  const auditOf = async (action: string, targetId: string) =>
    (
      await client.as(demo.admin).get('/api/v1/admin/audit', {
        query: { action, target_id: targetId },
      })
    ).data;

  const revenueLine = async (paymentId: string) => {
    const [row] = await queryRows<{ amount: number }>(
      t.app.platform.db,
      sql`select l.amount_minor::int as amount from ledger_lines l join ledger_entries e on e.id = l.entry_id
          where e.kind = 'capture' and e.payment_id = ${paymentId} and l.account = 'platform:revenue'`,
    );
    return row?.amount;
  };

  describe('commission rules', () => {
    it('are for admins only', async () => {
      expect((await client.anonymous.get('/api/v1/admin/commission-rules')).status).toBe(401);
      for (const who of [customer, demo.provider]) {
        expect((await client.as(who).get('/api/v1/admin/commission-rules')).status).toBe(403);
        const put = await client.as(who).put('/api/v1/admin/commission-rules', {
          body: { category_id: categoryId, rate_bps: 0 },
        });
        expect(put.status).toBe(403);
        const del = await client.as(who).delete('/api/v1/admin/commission-rules/{id}', { params: { id: categoryId } });
        expect(del.status).toBe(403);
      }
      expect((await client.as(demo.admin).get('/api/v1/admin/commission-rules')).data).toEqual({
        default_rate_bps: 1000,
        rules: [],
      });
    });

    it('refuses a minimum above the maximum, an unknown category and a rate above 100%', async () => {
      const admin = client.as(demo.admin);
      const bad = [
        { category_id: categoryId, rate_bps: 1000, limits: { GBP: { min_minor: 900, max_minor: 800 } } },
        { category_id: '019ab700-0000-7000-8000-00000000beef', rate_bps: 1000 },
        { category_id: categoryId, rate_bps: 10_001 },
        { category_id: categoryId, rate_bps: 1000, limits: { GBP: { min_minor: -1 } } },
      ];
      for (const body of bad) {
        const response = await admin.put('/api/v1/admin/commission-rules', { body });
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.error.code).toBe('VALIDATION_ERROR');
      }
      expect((await admin.get('/api/v1/admin/commission-rules')).data.rules).toEqual([]);
    });

    it('refuses a currency that is not an uppercase ISO 4217 code (such a bound would never apply)', async () => {
      const admin = client.as(demo.admin);
      try {
        const unknown: Record<string, { min_minor?: number; max_minor?: number }>[] = [
          { gbp: { min_minor: 1 } },
          { 'G-P': { max_minor: 5 } },
        ];
        for (const limits of unknown) {
          const response = await admin.put('/api/v1/admin/commission-rules', {
            body: { category_id: categoryId, rate_bps: 1000, limits },
          });
          expect(response.status, JSON.stringify(limits)).toBe(400);
          expect(response.error.code).toBe('VALIDATION_ERROR');
        }
        expect((await admin.get('/api/v1/admin/commission-rules')).data.rules).toEqual([]);
      } finally {
        // Leave no rule behind for the tests below, whatever was saved here.
        await admin.delete('/api/v1/admin/commission-rules/{id}', { params: { id: categoryId } });
      }
    });

    it('price payments made after them, per category rate and per-currency bounds; audited', async () => {
      const admin = client.as(demo.admin);
      const saved = await admin.put('/api/v1/admin/commission-rules', {
        body: {
          category_id: categoryId,
          rate_bps: 2000,
          // 20% of 70.00 is 14.00, capped at 10.00 in GBP; the KES bound does not apply to GBP.
          limits: { GBP: { max_minor: 1000 }, KES: { min_minor: 50_000 } },
        },
      });
      expect(saved.status).toBe(200);
      expect(saved.data).toEqual({
        category_id: categoryId,
        rate_bps: 2000,
        limits: { GBP: { max_minor: 1000 }, KES: { min_minor: 50_000 } },
        updated_at: START.toISOString(),
      });
      expect((await admin.get('/api/v1/admin/commission-rules')).data).toEqual({
        default_rate_bps: 1000,
        rules: [saved.data],
      });
      const [audit] = await auditOf('payments.commission_rule_saved', categoryId);
      expect(audit).toMatchObject({
        actor_id: adminId,
        target_type: 'category',
        details: { rate_bps: 2000 },
      });

      const capped = await bookPaid(customer, 'sim_success');
      expect(capped.payment).toMatchObject({ commission_minor: 1000, captured_minor: PRICE });
      expect(await revenueLine(capped.payment.id)).toBe(-1000);

      // Made now, paid after the rule changes: the commission stays what it was made with.
      const unpaid = await bookPaid(customer);
      expect(unpaid.payment.commission_minor).toBe(1000);

      // 5% of 70.00 is 3.50, raised to the 5.00 minimum.
      const lowered = await admin.put('/api/v1/admin/commission-rules', {
        body: { category_id: categoryId, rate_bps: 500, limits: { GBP: { min_minor: 500 } } },
      });
      expect(lowered.data).toMatchObject({ rate_bps: 500, limits: { GBP: { min_minor: 500 } } });
      const floored = await bookPaid(customer, 'sim_success');
      expect(floored.payment.commission_minor).toBe(500);

      const paidLater = await client.as(customer).post('/api/v1/payments/{id}/simulate', {
        params: { id: unpaid.payment.id },
        body: { outcome: 'succeeded' },
      });
      expect(paidLater.data).toMatchObject({ status: 'succeeded', commission_minor: 1000 });
      await drain(t);
      expect(await revenueLine(unpaid.payment.id)).toBe(-1000);
      // Nothing already made was re-priced.
      expect((await adminPayment(capped.payment.id)).data.commission_minor).toBe(1000);
      const rates = await queryRows<{ id: string; commission_rate_bps: number }>(
        t.app.platform.db,
        sql`select id, commission_rate_bps from payments where id in (${capped.payment.id}, ${unpaid.payment.id}, ${floored.payment.id})`,
      );
      expect(Object.fromEntries(rates.map((row) => [row.id, row.commission_rate_bps]))).toEqual({
        [capped.payment.id]: 2000,
        [unpaid.payment.id]: 2000,
        [floored.payment.id]: 500,
      });

      // Without the rule, the category pays the default again.
      const deletions = (await auditOf('payments.commission_rule_deleted', categoryId)).length;
      const deleted = await admin.delete('/api/v1/admin/commission-rules/{id}', { params: { id: categoryId } });
      expect(deleted.status).toBe(204);
      expect((await admin.get('/api/v1/admin/commission-rules')).data.rules).toEqual([]);
      const again = await admin.delete('/api/v1/admin/commission-rules/{id}', { params: { id: categoryId } });
      expect(again.status).toBe(404);
      const audited = await auditOf('payments.commission_rule_deleted', categoryId);
      expect(audited).toHaveLength(deletions + 1);
      expect(audited[0]).toMatchObject({ actor_id: adminId, target_type: 'category', target_id: categoryId });
      const standard = await bookPaid(customer, 'sim_success');
      expect(standard.payment.commission_minor).toBe(700);
      expect((await adminPayment(floored.payment.id)).data.commission_minor).toBe(500);
    });
  });

  describe('refunds by an admin', () => {
    let paymentId: string;
    beforeAll(async () => {
      paymentId = (await bookPaid(customer, 'sim_success')).payment.id;
    });

    it('are for admins only; an unknown payment is 404; the body is checked', async () => {
      const body = { amount_minor: 100, reason: 'goodwill' };
      const anonymous = await client.anonymous.post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body,
      });
      expect(anonymous.status).toBe(401);
      // Not even the payer, nor the provider who was paid.
      for (const who of [customer, demo.provider]) {
        const response = await client.as(who).post('/api/v1/admin/payments/{id}/refunds', {
          params: { id: paymentId },
          body,
        });
        expect(response.status).toBe(403);
        expect((await client.as(who).get('/api/v1/admin/payments/{id}', { params: { id: paymentId } })).status).toBe(
          403,
        );
      }
      const unknown = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: '019ab700-0000-7000-8000-00000000beef' },
        body,
      });
      expect(unknown.status).toBe(404);
      for (const bad of [{ amount_minor: 0, reason: 'x' }, { amount_minor: 100 }, { amount_minor: 100, reason: '' }]) {
        const response = await t.app.inject({
          method: 'POST',
          url: `/api/v1/admin/payments/${paymentId}/refunds`,
          headers: demo.admin.headers,
          payload: bad,
        });
        expect(response.statusCode, JSON.stringify(bad)).toBe(400);
      }
      expect((await adminPayment(paymentId)).data).toMatchObject({
        status: 'succeeded',
        refunded_minor: 0,
        refunds: [],
      });
    });

    it('refunds in part (202, audited), never more than is left, then the rest; the commission goes back in proportion', async () => {
      const admin = client.as(demo.admin);
      const first = await admin.post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: 2500, reason: 'goodwill' },
      });
      expect(first.status).toBe(202);
      expect(first.data).toMatchObject({
        payment_id: paymentId,
        amount_minor: 2500,
        // 700 × 2500 / 7000
        commission_reversed_minor: 250,
        source: 'admin',
        reason: 'goodwill',
        status: 'pending',
      });
      const audited = await auditOf('payments.refund_requested', paymentId);
      expect(audited).toHaveLength(1);
      expect(audited[0]).toMatchObject({
        target_type: 'payment',
        target_id: paymentId,
        details: { amount_minor: 2500, currency: 'GBP', reason: 'goodwill' },
      });
      expect(audited[0]?.actor_id).toBe(adminId);
      const [requested] = await queryRows<{ requested_by: string }>(
        t.app.platform.db,
        sql`select requested_by from refunds where id = ${first.data.id}`,
      );
      expect(requested?.requested_by).toBe(adminId);

      // The 25.00 is reserved at once: 45.01 is more than is left, even before the gateway answers.
      const over = await admin.post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: 4501, reason: 'too much' },
      });
      expect(over.status).toBe(409);
      expect(over.error.code).toBe('REFUND_EXCEEDS_CAPTURE');
      expect(over.error.message).toContain('4500');
      expect(await auditOf('payments.refund_requested', paymentId)).toHaveLength(1);

      await drain(t);
      expect((await adminPayment(paymentId)).data).toMatchObject({
        status: 'partially_refunded',
        captured_minor: PRICE,
        refunded_minor: 2500,
        refunds: [{ id: first.data.id, status: 'succeeded', amount_minor: 2500 }],
      });
      const rest = await admin.post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: 4500, reason: 'visit cancelled by phone' },
      });
      expect(rest.status).toBe(202);
      expect(rest.data.commission_reversed_minor).toBe(450);
      await drain(t);
      const refunded = (await adminPayment(paymentId)).data;
      expect(refunded).toMatchObject({ status: 'refunded', refunded_minor: PRICE });
      expect(refunded.refunds.map((refund) => [refund.amount_minor, refund.status])).toEqual([
        [2500, 'succeeded'],
        [4500, 'succeeded'],
      ]);
      // The payer sees the same refunds on their payment, and got a notice for each.
      const mine = (await client.as(customer).get('/api/v1/payments/{id}', { params: { id: paymentId } })).data;
      expect(mine.refunds).toHaveLength(2);
      const [notices] = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from notifications where user_id = ${customer.id} and template = 'refund_notice'`,
      );
      expect(notices?.n).toBe(2);

      // Nothing is left: a fully refunded payment takes no more refunds.
      const more = await admin.post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: paymentId },
        body: { amount_minor: 1, reason: 'again' },
      });
      expect(more.status).toBe(409);
      expect(['INVALID_STATE', 'REFUND_EXCEEDS_CAPTURE']).toContain(more.error.code);
      expect((await admin.get('/api/v1/admin/ledger/verify')).data).toMatchObject({ ok: true, problems: [] });
    });

    it('a payment not taken yet cannot be refunded (409 INVALID_STATE)', async () => {
      const { payment } = await bookPaid(customer);
      const response = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: payment.id },
        body: { amount_minor: 100, reason: 'nothing to refund' },
      });
      expect(response.status).toBe(409);
      expect(response.error.code).toBe('INVALID_STATE');
    });
  });

  describe('revenue summary and reconciliation, on days of their own', () => {
    // A week later: nothing else in this file touches these two days.
    const dayA = new Date(START.getTime() + 7 * DAY_MS);
    const dayB = new Date(dayA.getTime() + DAY_MS);
    const iso = (date: Date) => date.toISOString().slice(0, 10);

    beforeAll(async () => {
      clock.set(dayA);
      await signIn(t, demo.admin, demo.provider, customer);
      // Day A: two payments of 70.00 (7.00 commission each); 21.00 of the first refunded.
      const first = await bookPaid(customer, 'sim_success');
      const second = await bookPaid(customer, 'sim_success');
      const partial = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: first.payment.id },
        body: { amount_minor: 2100, reason: 'late start' },
      });
      expect(partial.data.commission_reversed_minor).toBe(210);
      // Someone who started paying but never finished: not money.
      await bookPaid(customer);
      await drain(t);

      // Day B: the second refunded in full, a third payment of 70.00.
      clock.set(new Date(dayB.getTime() + 2 * 3_600_000));
      await signIn(t, demo.admin, demo.provider, customer);
      const full = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: second.payment.id },
        body: { amount_minor: PRICE, reason: 'provider ill' },
      });
      expect(full.data.commission_reversed_minor).toBe(700);
      await bookPaid(customer, 'sim_success');
      await drain(t);
    });

    const expectedDays = () => [
      // gross 2 × 7000; commission 2 × 700; refunds 2100; net 1400 − 210.
      {
        day: iso(dayA),
        currency: 'GBP',
        gross_minor: 14_000,
        commission_minor: 1400,
        refunds_minor: 2100,
        net_minor: 1190,
      },
      // gross 7000; commission 700; refunds 7000; net 700 − 700.
      { day: iso(dayB), currency: 'GBP', gross_minor: 7000, commission_minor: 700, refunds_minor: 7000, net_minor: 0 },
    ];

    it('GMV, commission, refunds and net by currency and UTC day, with totals (JSON)', async () => {
      const summary = await client.as(demo.admin).get('/api/v1/admin/payments/summary', {
        query: { from: iso(dayA), to: iso(dayB) },
      });
      expect(summary.status).toBe(200);
      expect(summary.data).toEqual({
        from: iso(dayA),
        to: iso(dayB),
        days: expectedDays(),
        totals: [
          { currency: 'GBP', gross_minor: 21_000, commission_minor: 2100, refunds_minor: 9100, net_minor: 1190 },
        ],
      });
      const oneDay = await client.as(demo.admin).get('/api/v1/admin/payments/summary', {
        query: { from: iso(dayA), to: iso(dayA) },
      });
      expect(oneDay.data.days).toEqual([expectedDays()[0]]);
      // By default, the 30 days up to today.
      const recent = (await client.as(demo.admin).get('/api/v1/admin/payments/summary')).data;
      expect(recent).toMatchObject({ from: iso(new Date(dayB.getTime() - 29 * DAY_MS)), to: iso(dayB) });
      expect(recent.days).toEqual(expect.arrayContaining(expectedDays()));
    });

    it('the same days as CSV with ?format=csv', async () => {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/payments/summary?format=csv&from=${iso(dayA)}&to=${iso(dayB)}`,
        headers: demo.admin.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition']).toBe(
        `attachment; filename="payments-${iso(dayA)}-${iso(dayB)}.csv"`,
      );
      expect(response.body).toBe(
        [
          'day,currency,gross_minor,commission_minor,refunds_minor,net_minor',
          `${iso(dayA)},GBP,14000,1400,2100,1190`,
          `${iso(dayB)},GBP,7000,700,7000,0`,
          '',
        ].join('\r\n'),
      );
    });

    it('a range without payments: an empty JSON summary, and a CSV of the header alone', async () => {
      const empty = await client.as(demo.admin).get('/api/v1/admin/payments/summary', {
        query: { from: '2027-01-01', to: '2027-01-31' },
      });
      expect(empty.data).toEqual({ from: '2027-01-01', to: '2027-01-31', days: [], totals: [] });
      const csv = await t.app.inject({
        method: 'GET',
        url: '/api/v1/admin/payments/summary?format=csv&from=2027-01-01&to=2027-01-31',
        headers: demo.admin.headers,
      });
      expect(csv.statusCode).toBe(200);
      expect(csv.body).toBe('day,currency,gross_minor,commission_minor,refunds_minor,net_minor\r\n');
    });

    it('asked for CSV with the Accept header alone, answers JSON (the format query decides), never a server error', async () => {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/payments/summary?from=${iso(dayA)}&to=${iso(dayB)}`,
        headers: { ...demo.admin.headers, accept: 'text/csv' },
      });
      expect(response.statusCode).toBeLessThan(500);
      expect(response.statusCode).toBe(200);
      expect(response.json().data.days).toEqual(expectedDays());
    });

    it('refuses a bad range or format, and anyone but an admin', async () => {
      for (const query of [
        `from=${iso(dayB)}&to=${iso(dayA)}`,
        `from=2025-01-01&to=${iso(dayB)}`,
        'format=xml',
        'from=yesterday',
      ]) {
        const response = await t.app.inject({
          method: 'GET',
          url: `/api/v1/admin/payments/summary?${query}`,
          headers: demo.admin.headers,
        });
        expect(response.statusCode, query).toBe(400);
        expect(response.json().code).toBe('VALIDATION_ERROR');
      }
      expect((await client.anonymous.get('/api/v1/admin/payments/summary')).status).toBe(401);
      expect((await client.as(customer).get('/api/v1/admin/payments/summary')).status).toBe(403);
      expect((await client.as(demo.provider).get('/api/v1/admin/payments/summary')).status).toBe(403);
    });

    it('the daily reconciliation finds the ledger and the simulated gateway in agreement', async () => {
      // The job reconciles yesterday: day A.
      const results = await t.app.platform.jobs.paymentsReconcile.runOnce();
      expect(results).toEqual([{ gateway: 'simulated', status: 'matched', mismatches: 0 }]);
      const runs = (await client.as(demo.admin).get('/api/v1/admin/payments/reconciliation')).data;
      expect(runs).toEqual([
        {
          day: iso(dayA),
          gateway: 'simulated',
          status: 'matched',
          // Two charges and one refund at the gateway that day.
          checked: 3,
          mismatches: [],
          ran_at: clock.now().toISOString(),
        },
      ]);
      expect((await client.as(customer).get('/api/v1/admin/payments/reconciliation')).status).toBe(403);
      expect((await client.anonymous.get('/api/v1/admin/payments/reconciliation')).status).toBe(401);
    });

    it('a capture in the ledger the gateway never reported shows as a mismatch', async () => {
      await forgeCapture(t.app.platform.db, {
        at: new Date(dayA.getTime() + 5 * 3_600_000),
        amountMinor: 999,
        gatewayPaymentId: 'sim_pi_forged',
        ledger: true,
      });
      const results = await t.app.platform.jobs.paymentsReconcile.runOnce();
      expect(results).toEqual([{ gateway: 'simulated', status: 'mismatched', mismatches: 1 }]);
      const [run] = (await client.as(demo.admin).get('/api/v1/admin/payments/reconciliation')).data;
      expect(run).toMatchObject({
        day: iso(dayA),
        gateway: 'simulated',
        status: 'mismatched',
        checked: 3,
        mismatches: [{ reference: 'sim_pi_forged', reason: 'captured in the ledger but not reported by the gateway' }],
      });
      const metrics = await t.app.platform.metrics.registry.getSingleMetricAsString(
        'payments_reconciliation_mismatches',
      );
      expect(metrics).toMatch(/gateway="simulated"} 1/);
    });
  });

  describe('ledger verification', () => {
    it('GET /admin/ledger/verify: every entry balances and every payment has its capture (admins only)', async () => {
      const verified = await client.as(demo.admin).get('/api/v1/admin/ledger/verify');
      expect(verified.status).toBe(200);
      expect(verified.data).toMatchObject({ ok: true, problems: [] });
      expect(verified.data.entries).toBeGreaterThan(10);
      expect(verified.data.lines).toBeGreaterThan(verified.data.entries * 2);
      expect((await client.as(customer).get('/api/v1/admin/ledger/verify')).status).toBe(403);
      expect((await client.anonymous.get('/api/v1/admin/ledger/verify')).status).toBe(401);
    });

    it('names a captured payment without its capture entry', async () => {
      const id = await forgeCapture(t.app.platform.db, {
        at: clock.now(),
        amountMinor: 5000,
        gatewayPaymentId: 'sim_pi_unbooked',
        ledger: false,
      });
      const verified = (await client.as(demo.admin).get('/api/v1/admin/ledger/verify')).data;
      expect(verified.ok).toBe(false);
      expect(verified.problems).toEqual([`payment ${id} captured 5000 but has 0 capture entries`]);
    });
  });
});

describe('npm run ledger:verify', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs src/ledger-verify.ts on the embedded database in DATA_DIR, as `npm run ledger:verify` does. */
  const runScript = () =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(process.env)) {
        if (value !== undefined && !['DATABASE_URL', 'REDIS_URL', 'NODE_OPTIONS'].includes(key)) env[key] = value;
      }
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/ledger-verify.ts'], {
        env: { ...env, NODE_ENV: 'test', DATA_DIR: dir, LOG_LEVEL: 'silent' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill(), 40_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  it('exits 1 and lists a captured payment without its capture entry; the good entries are counted', async () => {
    // The run's migrated template, in a data directory of its own, with one good and one bad payment.
    const instance = await createPglite(dir, new Blob([readFileSync(inject('pgliteTemplate'))]));
    const database = await openDatabase({ kind: 'pglite', instance });
    const at = new Date('2027-03-22T10:00:00Z');
    let bad: string;
    try {
      await forgeCapture(database.db, { at, amountMinor: 999, gatewayPaymentId: 'sim_pi_good', ledger: true });
      bad = await forgeCapture(database.db, { at, amountMinor: 500, gatewayPaymentId: 'sim_pi_bad', ledger: false });
    } finally {
      await database.close();
    }
    const result = await runScript();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Ledger INCONSISTENT (1 entries, 2 lines');
    expect(result.stdout).toContain('paidWithoutCapture');
    expect(result.stdout).toContain(bad);
    expect(result.stdout).not.toContain('sim_pi_good');
  });
});
