import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, type Db, queryRows } from '../../src/infra/db/client.js';
import { inTransaction } from '../../src/infra/db/transaction.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { providers } from '../../src/modules/catalog/catalog.tables.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import {
  balances,
  createLedger,
  gatewayAccount,
  type Ledger,
  type LedgerWriteResult,
  providerAccount,
  providerEarnings,
  verifyLedger,
} from '../../src/modules/payments/payments.ledger.js';
import {
  type CancelledBy,
  type CommissionLimits,
  cancellationRefund,
  commissionFor,
  minimumChargeMinor,
  mulDivHalfEven,
  refundSplit,
} from '../../src/modules/payments/payments.money.js';
import { type GatewayName, payments, refunds } from '../../src/modules/payments/payments.tables.js';
import { createTestClock } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';

/*
 * Random lives of booking payments — pay, partial refund, full refund, cancel before, at or after
 * the free-cancellation boundary, payout, replayed webhooks — priced with the money functions and
 * written through the ledger, then checked against an in-memory model and the ledger's own
 * invariants. 1,000 sequences, fixed seed, written 50 to a transaction (20 runs) so the whole file
 * stays within a few seconds on PGlite. The payments and refunds rows the service would write are
 * inserted here with their final captured and refunded amounts, so the database checks hold.
 */

const SEED = 20_261_123;
const RUNS = 20;
const BATCH = 50;
const PROVIDERS = 6;
const HOUR_MS = 3_600_000;

const CURRENCIES = ['JPY', 'GBP', 'KWD', 'SAR'] as const;
type Currency = (typeof CURRENCIES)[number];
const MAX_AMOUNT: Record<Currency, number> = { JPY: 300_000, GBP: 500_000, KWD: 200_000, SAR: 500_000 };

type Op =
  /** Refund part of what is left: 1 + share/10,000 of (left − 2). */
  | { type: 'partial'; share: number }
  | { type: 'full' }
  | { type: 'cancel'; by: CancelledBy; timing: 'before' | 'at' | 'after'; offsetMs: number }
  /** Pay the provider share/10,000 of what they are owed in this currency. */
  | { type: 'payout'; share: number }
  /** A webhook delivered again: the capture (and the last refund) recorded a second time. */
  | { type: 'replay' };

interface Sequence {
  providerIndex: number;
  currency: Currency;
  gateway: GatewayName;
  amountMinor: number;
  rateBps: number;
  limits: CommissionLimits | undefined;
  freeCancelHours: number;
  lateCancelFeeBps: number;
  ops: Op[];
}

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ type: fc.constant('partial' as const), share: fc.integer({ min: 0, max: 10_000 }) }),
  fc.record({ type: fc.constant('full' as const) }),
  fc.record({
    type: fc.constant('cancel' as const),
    by: fc.constantFrom<CancelledBy>('customer', 'customer', 'provider', 'admin'),
    timing: fc.constantFrom('before' as const, 'at' as const, 'after' as const),
    offsetMs: fc.integer({ min: 1, max: 72 * HOUR_MS }),
  }),
  fc.record({ type: fc.constant('payout' as const), share: fc.integer({ min: 1, max: 10_000 }) }),
  fc.record({ type: fc.constant('replay' as const) }),
);

const minimumOrNone = fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: undefined });
const maximumOrNone = fc.option(fc.integer({ min: 100, max: 20_000 }), { nil: undefined });

const sequenceArbitrary: fc.Arbitrary<Sequence> = fc
  .record({
    providerIndex: fc.integer({ min: 0, max: PROVIDERS - 1 }),
    currency: fc.constantFrom(...CURRENCIES),
    gateway: fc.constantFrom<GatewayName>('stripe', 'moyasar', 'simulated'),
    small: fc.boolean(),
    rawAmount: fc.integer({ min: 0, max: 1_000_000 }),
    // Mostly ordinary rates, now and then all of it (the provider's line is then zero).
    rateBps: fc.oneof(
      { arbitrary: fc.constantFrom(0, 500, 1000, 1250), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 3_000 }), weight: 5 },
      { arbitrary: fc.constant(10_000), weight: 1 },
    ),
    bounds: fc.option(fc.record({ min_minor: minimumOrNone, max_minor: maximumOrNone }), { nil: undefined }),
    freeCancelHours: fc.constantFrom(0, 24, 48),
    lateCancelFeeBps: fc.constantFrom(0, 1000, 2500, 5000, 10_000),
    ops: fc.array(opArbitrary, { maxLength: 6 }),
  })
  .map(({ small, rawAmount, bounds, ...rest }) => {
    // Moyasar takes SAR only (by default); elsewhere the same payment goes through Stripe.
    const gateway: GatewayName = rest.gateway === 'moyasar' && rest.currency !== 'SAR' ? 'stripe' : rest.gateway;
    const minimum = minimumChargeMinor(rest.currency, gateway);
    // Half the payments sit just above the gateway's minimum, where rounding bites hardest.
    const span = small ? 100 : MAX_AMOUNT[rest.currency] - minimum + 1;
    return {
      ...rest,
      gateway,
      amountMinor: minimum + (rawAmount % span),
      limits: bounds ? { [rest.currency]: bounds } : undefined,
    };
  });

interface Totals {
  gross: number;
  commission: number;
  refunded: number;
  reversed: number;
  paidOut: number;
}

const emptyTotals = (): Totals => ({ gross: 0, commission: 0, refunded: 0, reversed: 0, paidOut: 0 });

/** What the ledger should say, kept by the test from the same decisions. */
class Model {
  readonly earnings = new Map<string, Totals>();
  readonly gateways = new Map<string, number>();
  entries = 0;

  totals(providerId: string, currency: string): Totals {
    const key = `${providerId}|${currency}`;
    let totals = this.earnings.get(key);
    if (!totals) {
      totals = emptyTotals();
      this.earnings.set(key, totals);
    }
    return totals;
  }

  pending(providerId: string, currency: string): number {
    const t = this.totals(providerId, currency);
    return t.gross - t.commission - t.refunded + t.reversed - t.paidOut;
  }

  moveGateway(gateway: GatewayName, currency: string, amountMinor: number): void {
    const key = `${gatewayAccount(gateway)}|${currency}`;
    this.gateways.set(key, (this.gateways.get(key) ?? 0) + amountMinor);
  }
}

type Write = { expect: LedgerWriteResult['status']; run: (tx: Db) => Promise<LedgerWriteResult> };

interface Planned {
  paymentRows: (typeof payments.$inferInsert)[];
  refundRows: (typeof refunds.$inferInsert)[];
  writes: Write[];
  /** Per payment: what the rows must add up to. */
  expected: Map<string, { commission: number; refunded: number; reversed: number }>;
}

const REFUND_SOURCE = {
  customer: 'customer_cancel',
  provider: 'provider_cancel',
  admin: 'admin',
  system: 'unpaid_booking',
} as const;

describe(`ledger under random payment lives (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  const clock = createTestClock();
  let database: Database;
  let db: Db;
  let ledger: Ledger;
  const providerIds: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    db = database.db;
    ledger = createLedger({ ids: uuidv7, clock });
    const now = clock.now();
    for (let index = 0; index < PROVIDERS; index++) {
      const userId = uuidv7();
      const providerId = uuidv7();
      await db.insert(users).values({
        id: userId,
        email: `property-${userId}@example.test`,
        passwordHash: 'not-a-hash',
        role: 'provider',
        passwordChangedAt: now,
        createdAt: now,
        updatedAt: now,
      });
      await db.insert(providers).values({
        id: providerId,
        userId,
        displayName: `Property provider ${index}`,
        languages: ['en'],
        timeZone: 'UTC',
        verification: 'verified',
        createdAt: now,
        updatedAt: now,
      });
      providerIds.push(providerId);
    }
  });
  afterAll(() => database.close());

  /** Decides one sequence's money with the money functions and queues its ledger writes. */
  function plan(sequence: Sequence, index: number, model: Model, planned: Planned): void {
    const providerId = providerIds[sequence.providerIndex] as string;
    const { currency, gateway, amountMinor } = sequence;
    const paymentId = uuidv7();
    const createdAt = clock.now();
    const startsAt = new Date(createdAt.getTime() + (96 + (index % 240)) * HOUR_MS);
    const commissionMinor = commissionFor({
      amountMinor,
      currency,
      rateBps: sequence.rateBps,
      limits: sequence.limits,
    });
    const totals = model.totals(providerId, currency);

    const capture = {
      paymentId,
      gateway,
      providerId,
      currency,
      amountMinor,
      commissionMinor,
      occurredAt: createdAt,
    };
    planned.writes.push({ expect: 'recorded', run: (tx) => ledger.recordCapture(tx, capture) });
    model.entries += 1;
    totals.gross += amountMinor;
    totals.commission += commissionMinor;
    model.moveGateway(gateway, currency, amountMinor);

    let refunded = 0;
    let reversed = 0;
    let cancelled = false;
    let lastRefund: Parameters<Ledger['recordRefund']>[1] | undefined;

    const refund = (refundMinor: number, source: (typeof REFUND_SOURCE)[CancelledBy]) => {
      const split = refundSplit({
        refundMinor,
        amountMinor,
        commissionMinor,
        alreadyRefundedMinor: refunded,
        alreadyReversedCommissionMinor: reversed,
      });
      expect(split.commissionReversedMinor + split.providerShareMinor).toBe(refundMinor);
      const refundId = uuidv7();
      planned.refundRows.push({
        id: refundId,
        paymentId,
        amountMinor: refundMinor,
        commissionReversedMinor: split.commissionReversedMinor,
        source,
        status: 'succeeded',
        gatewayRefundId: `re_${refundId}`,
        createdAt,
        updatedAt: createdAt,
      });
      const input = {
        refundId,
        paymentId,
        gateway,
        providerId,
        currency,
        amountMinor: refundMinor,
        commissionReversedMinor: split.commissionReversedMinor,
        occurredAt: createdAt,
      };
      planned.writes.push({ expect: 'recorded', run: (tx) => ledger.recordRefund(tx, input) });
      lastRefund = input;
      model.entries += 1;
      refunded += refundMinor;
      reversed += split.commissionReversedMinor;
      totals.refunded += refundMinor;
      totals.reversed += split.commissionReversedMinor;
      model.moveGateway(gateway, currency, -refundMinor);
    };

    for (const op of sequence.ops) {
      const left = amountMinor - refunded;
      switch (op.type) {
        case 'partial':
          if (!cancelled && left >= 2) refund(1 + mulDivHalfEven(left - 2, op.share, 10_000), 'admin');
          break;
        case 'full':
          if (!cancelled && left > 0) refund(left, 'admin');
          break;
        case 'cancel': {
          if (cancelled) break;
          cancelled = true;
          const boundary = startsAt.getTime() - sequence.freeCancelHours * HOUR_MS;
          const cancelledAt = new Date(
            op.timing === 'before' ? boundary - op.offsetMs : op.timing === 'at' ? boundary : boundary + op.offsetMs,
          );
          const refundMinor = cancellationRefund({
            capturedMinor: amountMinor,
            alreadyRefundedMinor: refunded,
            startsAt,
            cancelledAt,
            freeCancelHours: sequence.freeCancelHours,
            lateCancelFeeBps: sequence.lateCancelFeeBps,
            cancelledBy: op.by,
          });
          const late = op.by === 'customer' && op.timing === 'after';
          if (!late) expect(refundMinor).toBe(left);
          else expect(refundMinor).toBeLessThanOrEqual(left);
          if (refundMinor > 0) refund(refundMinor, REFUND_SOURCE[op.by]);
          break;
        }
        case 'payout': {
          const owed = model.pending(providerId, currency);
          const payoutMinor = owed > 0 ? mulDivHalfEven(owed, op.share, 10_000) : 0;
          if (payoutMinor > 0) {
            const payout = {
              payoutId: uuidv7(),
              reference: `po_${uuidv7()}`,
              gateway,
              providerId,
              currency,
              amountMinor: payoutMinor,
              occurredAt: createdAt,
            };
            planned.writes.push({ expect: 'recorded', run: (tx) => ledger.recordPayout(tx, payout) });
            model.entries += 1;
            totals.paidOut += payoutMinor;
            model.moveGateway(gateway, currency, -payoutMinor);
          }
          break;
        }
        case 'replay': {
          planned.writes.push({ expect: 'duplicate', run: (tx) => ledger.recordCapture(tx, capture) });
          const again = lastRefund;
          if (again) planned.writes.push({ expect: 'duplicate', run: (tx) => ledger.recordRefund(tx, again) });
          break;
        }
      }
    }

    planned.paymentRows.push({
      id: paymentId,
      purpose: 'booking',
      providerId,
      gateway,
      gatewayPaymentId: `pi_${paymentId}`,
      status: refunded === 0 ? 'succeeded' : refunded === amountMinor ? 'refunded' : 'partially_refunded',
      amountMinor,
      currency,
      commissionRateBps: sequence.rateBps,
      commissionMinor,
      capturedMinor: amountMinor,
      refundedMinor: refunded,
      freeCancelHours: sequence.freeCancelHours,
      lateCancelFeeBps: sequence.lateCancelFeeBps,
      createdAt,
      updatedAt: createdAt,
    });
    planned.expected.set(paymentId, { commission: commissionMinor, refunded, reversed });
  }

  it('keeps every invariant over 1,000 random sequences across JPY, GBP, KWD and SAR', async () => {
    const model = new Model();
    let sequences = 0;
    let index = 0;

    await fc.assert(
      fc.asyncProperty(fc.array(sequenceArbitrary, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const planned: Planned = { paymentRows: [], refundRows: [], writes: [], expected: new Map() };
        for (const sequence of batch) plan(sequence, index++, model, planned);

        const statuses = await inTransaction(db, async (tx) => {
          await tx.insert(payments).values(planned.paymentRows);
          if (planned.refundRows.length > 0) await tx.insert(refunds).values(planned.refundRows);
          const results: LedgerWriteResult['status'][] = [];
          for (const write of planned.writes) results.push((await write.run(tx)).status);
          return results;
        });
        expect(statuses).toEqual(planned.writes.map((write) => write.expect));

        // Per payment, from the database: captured − refunded ≥ 0, the refunds add up to it, and
        // the reversals never exceed the commission, reaching it exactly once all is refunded.
        const rows = await queryRows<{
          id: string;
          captured: unknown;
          refunded: unknown;
          commission: unknown;
          refund_sum: unknown;
          reversed_sum: unknown;
        }>(
          db,
          sql`select p.id, p.captured_minor as captured, p.refunded_minor as refunded, p.commission_minor as commission,
                coalesce(sum(r.amount_minor), 0)::bigint as refund_sum,
                coalesce(sum(r.commission_reversed_minor), 0)::bigint as reversed_sum
              from payments p left join refunds r on r.payment_id = p.id and r.status = 'succeeded'
              where p.id in (${sql.join(
                [...planned.expected.keys()].map((id) => sql`${id}`),
                sql`, `,
              )})
              group by p.id`,
        );
        expect(rows).toHaveLength(BATCH);
        for (const row of rows) {
          const [captured, refunded, commission, refundSum, reversedSum] = [
            row.captured,
            row.refunded,
            row.commission,
            row.refund_sum,
            row.reversed_sum,
          ].map(Number) as [number, number, number, number, number];
          const expected = planned.expected.get(row.id);
          expect(captured - refunded).toBeGreaterThanOrEqual(0);
          expect(refundSum).toBe(refunded);
          expect(reversedSum).toBeLessThanOrEqual(commission);
          if (refunded === captured) expect(reversedSum).toBe(commission);
          expect({ commission, refunded, reversed: reversedSum }).toEqual(expected);
        }
        sequences += batch.length;
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    expect(sequences).toBe(RUNS * BATCH);

    // Every currency balances over the whole ledger: all lines sum to zero.
    const perCurrency = await queryRows<{ currency: string; total: unknown; lines: number }>(
      db,
      sql`select currency, sum(amount_minor)::bigint as total, count(*)::int as lines
          from ledger_lines group by currency order by currency`,
    );
    expect(perCurrency.map((row) => row.currency)).toEqual([...CURRENCIES].sort());
    for (const row of perCurrency) expect(Number(row.total)).toBe(0);

    // The same through balances(): accounts per currency sum to zero, and each gateway holds
    // captures less refunds and payouts.
    const all = await balances(db);
    for (const currency of CURRENCIES) {
      const sum = all.filter((row) => row.currency === currency).reduce((acc, row) => acc + row.balanceMinor, 0);
      expect(sum).toBe(0);
    }
    for (const [key, amount] of model.gateways) {
      const [account, currency] = key.split('|') as [string, string];
      expect(all.find((row) => row.account === account && row.currency === currency)?.balanceMinor ?? 0).toBe(amount);
    }

    // Each provider's earnings, per currency, as the model kept them, and net as the identity says.
    for (const providerId of providerIds) {
      const earnings = await providerEarnings(db, providerId);
      const expected = [...model.earnings.entries()]
        .filter(([key]) => key.startsWith(`${providerId}|`))
        .map(([key, t]) => ({
          currency: key.split('|')[1] as string,
          grossMinor: t.gross,
          commissionMinor: t.commission,
          refundedMinor: t.refunded,
          commissionReversedMinor: t.reversed,
          netMinor: t.gross - t.commission - t.refunded + t.reversed,
          paidOutMinor: t.paidOut,
          pendingMinor: t.gross - t.commission - t.refunded + t.reversed - t.paidOut,
        }))
        .sort((a, b) => a.currency.localeCompare(b.currency));
      expect(earnings).toEqual(expected);
      for (const row of earnings) {
        expect(row.netMinor).toBe(
          row.grossMinor - row.commissionMinor - row.refundedMinor + row.commissionReversedMinor,
        );
        expect(row.commissionReversedMinor).toBeLessThanOrEqual(row.commissionMinor);
        const balance = all.find((b) => b.account === providerAccount(providerId) && b.currency === row.currency);
        expect(-(balance?.balanceMinor ?? 0)).toBe(row.pendingMinor);
      }
    }

    const verification = await verifyLedger(db);
    expect(verification).toMatchObject({
      ok: true,
      entries: model.entries,
      unbalanced: [],
      paidWithoutCapture: [],
      capturesWithoutPayment: [],
      refundsWithoutEntry: [],
      refundEntriesWithoutRefund: [],
    });
    // Every payment has its capture: as many capture entries as payments.
    const [captures] = await queryRows<{ payments: number; captures: number }>(
      db,
      sql`select (select count(*) from payments)::int as payments,
                 (select count(*) from ledger_entries where kind = 'capture')::int as captures`,
    );
    expect(captures).toEqual({ payments: RUNS * BATCH, captures: RUNS * BATCH });
  });
});
