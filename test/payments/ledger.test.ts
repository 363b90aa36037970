import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, type Db, queryRows } from '../../src/infra/db/client.js';
import { inTransaction } from '../../src/infra/db/transaction.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { providers } from '../../src/modules/catalog/catalog.tables.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import {
  balances,
  createLedger,
  type Ledger,
  providerAccount,
  providerEarnings,
  verifyLedger,
} from '../../src/modules/payments/payments.ledger.js';
import { commissionFor, refundSplit } from '../../src/modules/payments/payments.money.js';
import {
  type GatewayName,
  ledgerEntries,
  ledgerLines,
  payments,
  refunds,
} from '../../src/modules/payments/payments.tables.js';
import { createTestClock } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';

// Medium tier: the ledger against the real database (PGlite, or PostgreSQL in services mode),
// with its triggers and unique indexes. Payments and refunds rows are inserted directly: the
// service that writes them is not this file's subject.

const clock = createTestClock();
const now = () => clock.now();

async function createProvider(db: Db): Promise<string> {
  const userId = uuidv7();
  const providerId = uuidv7();
  await db.insert(users).values({
    id: userId,
    email: `ledger-${userId}@example.test`,
    passwordHash: 'not-a-hash',
    role: 'provider',
    passwordChangedAt: now(),
    createdAt: now(),
    updatedAt: now(),
  });
  await db.insert(providers).values({
    id: providerId,
    userId,
    displayName: 'Ledger test provider',
    languages: ['en'],
    timeZone: 'UTC',
    verification: 'verified',
    createdAt: now(),
    updatedAt: now(),
  });
  return providerId;
}

interface PaymentFixture {
  providerId?: string | null;
  currency: string;
  amountMinor: number;
  commissionMinor?: number;
  capturedMinor?: number;
  refundedMinor?: number;
  gateway?: GatewayName;
}

async function insertPayment(db: Db, fixture: PaymentFixture): Promise<string> {
  const id = uuidv7();
  await db.insert(payments).values({
    id,
    purpose: fixture.providerId ? 'booking' : 'subscription',
    providerId: fixture.providerId ?? null,
    gateway: fixture.gateway ?? 'stripe',
    gatewayPaymentId: `pi_${id}`,
    status: 'succeeded',
    amountMinor: fixture.amountMinor,
    currency: fixture.currency,
    commissionMinor: fixture.commissionMinor ?? 0,
    capturedMinor: fixture.capturedMinor ?? fixture.amountMinor,
    refundedMinor: fixture.refundedMinor ?? 0,
    createdAt: now(),
    updatedAt: now(),
  });
  return id;
}

async function insertRefund(
  db: Db,
  fixture: { paymentId: string; amountMinor: number; commissionReversedMinor: number; status?: 'succeeded' | 'failed' },
): Promise<string> {
  const id = uuidv7();
  await db.insert(refunds).values({
    id,
    paymentId: fixture.paymentId,
    amountMinor: fixture.amountMinor,
    commissionReversedMinor: fixture.commissionReversedMinor,
    source: 'admin',
    status: fixture.status ?? 'succeeded',
    gatewayRefundId: `re_${id}`,
    createdAt: now(),
    updatedAt: now(),
  });
  return id;
}

/** The error's message and its causes' (drivers and Drizzle wrap the server's message). */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let current = error; current instanceof Error; current = current.cause) parts.push(current.message);
  return parts.join(' | ');
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return errorText(error);
  }
  throw new Error('expected a rejection');
}

async function linesOf(db: Db, entryId: string) {
  return db
    .select({ account: ledgerLines.account, currency: ledgerLines.currency, amountMinor: ledgerLines.amountMinor })
    .from(ledgerLines)
    .where(eq(ledgerLines.entryId, entryId))
    .orderBy(ledgerLines.lineNo);
}

async function countRows(db: Db): Promise<{ entries: number; lines: number }> {
  const [row] = await queryRows<{ entries: number; lines: number }>(
    db,
    sql`select (select count(*) from ledger_entries)::int as entries, (select count(*) from ledger_lines)::int as lines`,
  );
  return row as { entries: number; lines: number };
}

function recordedId(result: Awaited<ReturnType<Ledger['recordCapture']>>): string {
  if (result.status !== 'recorded') throw new Error(`expected a recorded entry, got ${result.status}`);
  return result.entryId;
}

describe(`payments ledger (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  let database: Database;
  let db: Db;
  let ledger: Ledger;
  const occurredAt = new Date('2026-11-23T09:00:00.000Z');

  beforeAll(async () => {
    database = await createTestDatabase();
    db = database.db;
    ledger = createLedger({ ids: uuidv7, clock });
  });
  afterAll(() => database.close());

  it('writes a capture, refund, payout, fee and subscription payment whose lines balance', async () => {
    const providerId = await createProvider(db);
    const amountMinor = 12_345;
    const commissionMinor = commissionFor({ amountMinor, currency: 'KWD', rateBps: 1000 });
    expect(commissionMinor).toBe(1234);
    const paymentId = await insertPayment(db, {
      providerId,
      currency: 'KWD',
      amountMinor,
      commissionMinor,
      refundedMinor: 4115,
    });
    const split = refundSplit({
      refundMinor: 4115,
      amountMinor,
      commissionMinor,
      alreadyRefundedMinor: 0,
      alreadyReversedCommissionMinor: 0,
    });
    const refundId = await insertRefund(db, { paymentId, amountMinor: 4115, ...split });

    const ids = await inTransaction(db, async (tx) => ({
      capture: recordedId(
        await ledger.recordCapture(tx, {
          paymentId,
          gateway: 'stripe',
          providerId,
          currency: 'KWD',
          amountMinor,
          commissionMinor,
          occurredAt,
        }),
      ),
      refund: recordedId(
        await ledger.recordRefund(tx, {
          refundId,
          paymentId,
          gateway: 'stripe',
          providerId,
          currency: 'KWD',
          amountMinor: 4115,
          commissionReversedMinor: split.commissionReversedMinor,
          occurredAt,
        }),
      ),
      payout: recordedId(
        await ledger.recordPayout(tx, {
          payoutId: uuidv7(),
          reference: `po_${uuidv7()}`,
          gateway: 'stripe',
          providerId,
          currency: 'KWD',
          amountMinor: 5000,
          occurredAt,
        }),
      ),
      fee: recordedId(
        await ledger.recordFee(tx, {
          reference: `txn_fee_${uuidv7()}`,
          gateway: 'stripe',
          currency: 'KWD',
          amountMinor: 420,
          occurredAt,
        }),
      ),
      subscription: recordedId(
        await ledger.recordSubscriptionPayment(tx, {
          reference: `in_${uuidv7()}`,
          gateway: 'stripe',
          currency: 'GBP',
          amountMinor: 999,
          occurredAt,
        }),
      ),
    }));

    const provider = providerAccount(providerId);
    expect(await linesOf(db, ids.capture)).toEqual([
      { account: 'gateway:stripe', currency: 'KWD', amountMinor: 12_345 },
      { account: provider, currency: 'KWD', amountMinor: -11_111 },
      { account: 'platform:revenue', currency: 'KWD', amountMinor: -1234 },
    ]);
    expect(split).toEqual({ commissionReversedMinor: 411, providerShareMinor: 3704 });
    expect(await linesOf(db, ids.refund)).toEqual([
      { account: provider, currency: 'KWD', amountMinor: 3704 },
      { account: 'platform:refunds', currency: 'KWD', amountMinor: 411 },
      { account: 'gateway:stripe', currency: 'KWD', amountMinor: -4115 },
    ]);
    expect(await linesOf(db, ids.payout)).toEqual([
      { account: provider, currency: 'KWD', amountMinor: 5000 },
      { account: 'gateway:stripe', currency: 'KWD', amountMinor: -5000 },
    ]);
    expect(await linesOf(db, ids.fee)).toEqual([
      { account: 'platform:fees', currency: 'KWD', amountMinor: 420 },
      { account: 'gateway:stripe', currency: 'KWD', amountMinor: -420 },
    ]);
    expect(await linesOf(db, ids.subscription)).toEqual([
      { account: 'gateway:stripe', currency: 'GBP', amountMinor: 999 },
      { account: 'platform:revenue', currency: 'GBP', amountMinor: -999 },
    ]);
    for (const entryId of Object.values(ids)) {
      const lines = await linesOf(db, entryId);
      expect(lines.reduce((acc, line) => acc + line.amountMinor, 0)).toBe(0);
    }
    const entries = await db
      .select()
      .from(ledgerEntries)
      .where(inArray(ledgerEntries.id, Object.values(ids)));
    expect(Object.fromEntries(entries.map((entry) => [entry.id, entry.kind]))).toEqual({
      [ids.capture]: 'capture',
      [ids.refund]: 'refund',
      [ids.payout]: 'payout',
      [ids.fee]: 'fee',
      [ids.subscription]: 'subscription',
    });
    expect(entries.find((entry) => entry.id === ids.refund)).toMatchObject({ paymentId, refundId });
    // We owe the provider 11,111 − 3,704 − 5,000 = 2,407 fils.
    expect(await balances(db, { account: provider })).toEqual([
      { account: provider, currency: 'KWD', balanceMinor: -2407 },
    ]);
    expect(await balances(db, { account: 'gateway:stripe', currency: 'KWD' })).toEqual([
      { account: 'gateway:stripe', currency: 'KWD', balanceMinor: 12_345 - 4115 - 5000 - 420 },
    ]);
  });

  it('books a subscription payment with its own row as revenue, and its refund against refunds', async () => {
    const paymentId = await insertPayment(db, { currency: 'SAR', amountMinor: 2_900, refundedMinor: 2_900 });
    const refundId = await insertRefund(db, { paymentId, amountMinor: 2_900, commissionReversedMinor: 0 });
    const [capture, refund] = await inTransaction(db, async (tx) => [
      recordedId(
        await ledger.recordCapture(tx, {
          paymentId,
          gateway: 'moyasar',
          currency: 'SAR',
          amountMinor: 2_900,
          commissionMinor: 0,
          occurredAt,
        }),
      ),
      recordedId(
        await ledger.recordRefund(tx, {
          refundId,
          paymentId,
          gateway: 'moyasar',
          currency: 'SAR',
          amountMinor: 2_900,
          commissionReversedMinor: 0,
          occurredAt,
        }),
      ),
    ]);
    expect(await linesOf(db, capture as string)).toEqual([
      { account: 'gateway:moyasar', currency: 'SAR', amountMinor: 2_900 },
      { account: 'platform:revenue', currency: 'SAR', amountMinor: -2_900 },
    ]);
    expect(await linesOf(db, refund as string)).toEqual([
      { account: 'platform:refunds', currency: 'SAR', amountMinor: 2_900 },
      { account: 'gateway:moyasar', currency: 'SAR', amountMinor: -2_900 },
    ]);
  });

  it('leaves out zero lines: a commission of 0 writes no revenue line, one of the whole amount no provider line', async () => {
    const providerId = await createProvider(db);
    const free = await insertPayment(db, { providerId, currency: 'JPY', amountMinor: 5_000, commissionMinor: 0 });
    const whole = await insertPayment(db, { providerId, currency: 'JPY', amountMinor: 50, commissionMinor: 50 });
    const [freeEntry, wholeEntry] = await inTransaction(db, async (tx) => [
      recordedId(
        await ledger.recordCapture(tx, {
          paymentId: free,
          gateway: 'simulated',
          providerId,
          currency: 'JPY',
          amountMinor: 5_000,
          commissionMinor: 0,
          occurredAt,
        }),
      ),
      recordedId(
        await ledger.recordCapture(tx, {
          paymentId: whole,
          gateway: 'simulated',
          providerId,
          currency: 'JPY',
          amountMinor: 50,
          commissionMinor: 50,
          occurredAt,
        }),
      ),
    ]);
    expect(await linesOf(db, freeEntry as string)).toEqual([
      { account: 'gateway:simulated', currency: 'JPY', amountMinor: 5_000 },
      { account: providerAccount(providerId), currency: 'JPY', amountMinor: -5_000 },
    ]);
    expect(await linesOf(db, wholeEntry as string)).toEqual([
      { account: 'gateway:simulated', currency: 'JPY', amountMinor: 50 },
      { account: 'platform:revenue', currency: 'JPY', amountMinor: -50 },
    ]);
    // The all-commission capture still counts in the provider's gross and commission.
    expect(await providerEarnings(db, providerId)).toEqual([
      {
        currency: 'JPY',
        grossMinor: 5_050,
        commissionMinor: 50,
        refundedMinor: 0,
        commissionReversedMinor: 0,
        netMinor: 5_000,
        paidOutMinor: 0,
        pendingMinor: 5_000,
      },
    ]);
  });

  it('refuses inputs that cannot balance or make sense before writing anything', async () => {
    const before = await countRows(db);
    const paymentId = await insertPayment(db, { currency: 'GBP', amountMinor: 1_000 });
    const base = { paymentId, gateway: 'stripe' as const, currency: 'GBP', occurredAt };
    const attempts = [
      () => ledger.recordCapture(db, { ...base, providerId: null, amountMinor: 1_000, commissionMinor: 1_001 }),
      () => ledger.recordCapture(db, { ...base, amountMinor: 0, commissionMinor: 0 }),
      () => ledger.recordCapture(db, { ...base, amountMinor: 10.5, commissionMinor: 0 }),
      () => ledger.recordCapture(db, { ...base, currency: 'gbp', amountMinor: 1_000, commissionMinor: 0 }),
      () =>
        ledger.recordRefund(db, {
          ...base,
          refundId: uuidv7(),
          amountMinor: 100,
          commissionReversedMinor: 101,
        }),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toThrow(RangeError);
    expect(await countRows(db)).toEqual(before);
  });

  describe('the database refuses what the ledger must never hold', () => {
    it.each([
      {
        name: 'lines that do not sum to zero',
        lines: [
          { account: 'platform:fees', currency: 'GBP', amountMinor: 100 },
          { account: 'gateway:stripe', currency: 'GBP', amountMinor: -99 },
        ],
        message: /does not balance in GBP/,
      },
      {
        name: 'lines that balance in one currency but not in another',
        lines: [
          { account: 'platform:fees', currency: 'GBP', amountMinor: 100 },
          { account: 'gateway:stripe', currency: 'GBP', amountMinor: -100 },
          { account: 'platform:fees', currency: 'JPY', amountMinor: 5 },
        ],
        message: /does not balance in JPY/,
      },
      {
        name: 'lines that sum to zero only across currencies',
        lines: [
          { account: 'gateway:stripe', currency: 'GBP', amountMinor: 100 },
          { account: 'platform:revenue', currency: 'SAR', amountMinor: -100 },
        ],
        message: /does not balance in (GBP|SAR)/,
      },
      { name: 'no lines at all', lines: [], message: /has no lines/ },
    ])('an entry with $name fails at commit and leaves nothing', async ({ lines, message }) => {
      const entryId = uuidv7();
      const before = await countRows(db);
      let acceptedUntilCommit = false;
      const error = await rejection(
        inTransaction(db, async (tx) => {
          await tx.insert(ledgerEntries).values({
            id: entryId,
            kind: 'fee',
            reference: `fee_${entryId}`,
            occurredAt,
            createdAt: now(),
          });
          if (lines.length > 0) {
            await tx.insert(ledgerLines).values(lines.map((line, index) => ({ entryId, lineNo: index + 1, ...line })));
          }
          // The check is deferred: each statement passes, the commit does not.
          acceptedUntilCommit = true;
        }),
      );
      expect(acceptedUntilCommit).toBe(true);
      expect(error).toMatch(message);
      expect(await db.select().from(ledgerEntries).where(eq(ledgerEntries.id, entryId))).toEqual([]);
      expect(await db.select().from(ledgerLines).where(eq(ledgerLines.entryId, entryId))).toEqual([]);
      expect(await countRows(db)).toEqual(before);
    });

    it('refuses UPDATE, DELETE and TRUNCATE of entries and lines', async () => {
      const paymentId = await insertPayment(db, { currency: 'GBP', amountMinor: 700 });
      const entryId = recordedId(
        await inTransaction(db, (tx) =>
          ledger.recordCapture(tx, {
            paymentId,
            gateway: 'stripe',
            currency: 'GBP',
            amountMinor: 700,
            commissionMinor: 0,
            occurredAt,
          }),
        ),
      );
      const before = await linesOf(db, entryId);
      const statements = [
        sql`update ledger_lines set amount_minor = amount_minor * 2 where entry_id = ${entryId}`,
        sql`update ledger_entries set occurred_at = now() where id = ${entryId}`,
        sql`delete from ledger_lines where entry_id = ${entryId}`,
        sql`delete from ledger_entries where id = ${entryId}`,
        sql`truncate ledger_lines`,
        sql`truncate ledger_entries cascade`,
      ];
      for (const statement of statements) {
        expect(await rejection(db.execute(statement))).toMatch(/append-only: (UPDATE|DELETE|TRUNCATE) is not allowed/);
      }
      expect(await linesOf(db, entryId)).toEqual(before);
    });
  });

  describe('replays are duplicates, not errors', () => {
    it('a second capture of one payment is a duplicate, writes nothing and leaves the transaction usable', async () => {
      const providerId = await createProvider(db);
      const paymentId = await insertPayment(db, {
        providerId,
        currency: 'GBP',
        amountMinor: 2_505,
        commissionMinor: 250,
      });
      const capture = {
        paymentId,
        gateway: 'stripe' as const,
        providerId,
        currency: 'GBP',
        amountMinor: 2_505,
        commissionMinor: 250,
        occurredAt,
      };
      const first = await inTransaction(db, (tx) => ledger.recordCapture(tx, capture));
      expect(first.status).toBe('recorded');
      const before = await countRows(db);

      const { second, fee } = await inTransaction(db, async (tx) => {
        // Another amount, the same payment: still the one capture.
        const replay = await ledger.recordCapture(tx, { ...capture, amountMinor: 9_999, commissionMinor: 0 });
        // The transaction goes on: a skipped insert does not abort it, as a caught error would.
        const next = await ledger.recordFee(tx, {
          reference: `fee_${paymentId}`,
          paymentId,
          gateway: 'stripe',
          currency: 'GBP',
          amountMinor: 42,
          occurredAt,
        });
        return { second: replay, fee: next };
      });
      expect(second).toEqual({ status: 'duplicate', entryId: first.entryId });
      expect(fee.status).toBe('recorded');
      expect(await countRows(db)).toEqual({ entries: before.entries + 1, lines: before.lines + 2 });
      const captures = await db.select().from(ledgerEntries).where(eq(ledgerEntries.paymentId, paymentId));
      expect(captures.filter((entry) => entry.kind === 'capture')).toHaveLength(1);
      expect(await balances(db, { account: providerAccount(providerId) })).toEqual([
        { account: providerAccount(providerId), currency: 'GBP', balanceMinor: -2_255 },
      ]);
    });

    it('concurrent captures of one payment make one entry', async () => {
      const paymentId = await insertPayment(db, { currency: 'JPY', amountMinor: 3_000 });
      const capture = {
        paymentId,
        gateway: 'stripe' as const,
        currency: 'JPY',
        amountMinor: 3_000,
        commissionMinor: 0,
        occurredAt,
      };
      // On PostgreSQL the second waits for the first's commit and then skips; PGlite serialises them.
      const results = await Promise.all(
        Array.from({ length: 4 }, () => inTransaction(db, (tx) => ledger.recordCapture(tx, capture))),
      );
      expect(results.filter((result) => result.status === 'recorded')).toHaveLength(1);
      expect(results.filter((result) => result.status === 'duplicate')).toHaveLength(3);
      const entries = await db.select().from(ledgerEntries).where(eq(ledgerEntries.paymentId, paymentId));
      expect(entries).toHaveLength(1);
    });

    it('a second entry for one refund, payout reference or invoice is a duplicate', async () => {
      const providerId = await createProvider(db);
      const paymentId = await insertPayment(db, {
        providerId,
        currency: 'SAR',
        amountMinor: 10_000,
        commissionMinor: 1_000,
        refundedMinor: 2_000,
      });
      const refundId = await insertRefund(db, { paymentId, amountMinor: 2_000, commissionReversedMinor: 200 });
      const refund = {
        refundId,
        paymentId,
        gateway: 'moyasar' as const,
        providerId,
        currency: 'SAR',
        amountMinor: 2_000,
        commissionReversedMinor: 200,
        occurredAt,
      };
      const payout = {
        payoutId: uuidv7(),
        reference: `po_${uuidv7()}`,
        gateway: 'moyasar' as const,
        providerId,
        currency: 'SAR',
        amountMinor: 1_000,
        occurredAt,
      };
      const invoice = {
        reference: `in_${uuidv7()}`,
        gateway: 'stripe' as const,
        currency: 'GBP',
        amountMinor: 499,
        occurredAt,
      };
      const first = await inTransaction(db, async (tx) => [
        await ledger.recordRefund(tx, refund),
        await ledger.recordPayout(tx, payout),
        await ledger.recordSubscriptionPayment(tx, invoice),
      ]);
      expect(first.map((result) => result.status)).toEqual(['recorded', 'recorded', 'recorded']);
      const before = await countRows(db);
      const second = await inTransaction(db, async (tx) => [
        await ledger.recordRefund(tx, { ...refund, amountMinor: 1_999 }),
        await ledger.recordPayout(tx, { ...payout, payoutId: uuidv7() }),
        await ledger.recordSubscriptionPayment(tx, invoice),
      ]);
      expect(second).toEqual(first.map((result) => ({ status: 'duplicate', entryId: result.entryId })));
      expect(await countRows(db)).toEqual(before);
    });
  });

  it('reports earnings per provider and currency', async () => {
    const [alice, bruno] = [await createProvider(db), await createProvider(db)];
    const pay = async (providerId: string, currency: string, amountMinor: number, rateBps: number) => {
      const commissionMinor = commissionFor({ amountMinor, currency, rateBps });
      const paymentId = await insertPayment(db, { providerId, currency, amountMinor, commissionMinor });
      return { providerId, paymentId, currency, amountMinor, commissionMinor };
    };
    const a1 = await pay(alice, 'GBP', 10_000, 1000); // commission 1,000
    const a2 = await pay(alice, 'GBP', 2_505, 1000); // 250.5 → 250
    const a3 = await pay(alice, 'JPY', 1_015, 1000); // 101.5 → 102
    const b1 = await pay(bruno, 'GBP', 999, 1000); // 99.9 → 100
    await inTransaction(db, async (tx) => {
      for (const payment of [a1, a2, a3, b1]) {
        await ledger.recordCapture(tx, { ...payment, gateway: 'stripe', occurredAt });
      }
    });
    // Alice refunds 2,505 in full (250 commission back) and 3,333 of 10,000 (333 back).
    const refundAndRecord = async (payment: typeof a1, refundMinor: number, alreadyRefundedMinor: number) => {
      const split = refundSplit({
        refundMinor,
        amountMinor: payment.amountMinor,
        commissionMinor: payment.commissionMinor,
        alreadyRefundedMinor,
        alreadyReversedCommissionMinor: 0,
      });
      await db
        .update(payments)
        .set({ refundedMinor: alreadyRefundedMinor + refundMinor })
        .where(eq(payments.id, payment.paymentId));
      const refundId = await insertRefund(db, {
        paymentId: payment.paymentId,
        amountMinor: refundMinor,
        commissionReversedMinor: split.commissionReversedMinor,
      });
      await inTransaction(db, (tx) =>
        ledger.recordRefund(tx, {
          ...payment,
          refundId,
          gateway: 'stripe',
          amountMinor: refundMinor,
          commissionReversedMinor: split.commissionReversedMinor,
          occurredAt,
        }),
      );
      return split;
    };
    expect((await refundAndRecord(a2, 2_505, 0)).commissionReversedMinor).toBe(250);
    expect((await refundAndRecord(a1, 3_333, 0)).commissionReversedMinor).toBe(333);
    await inTransaction(db, (tx) =>
      ledger.recordPayout(tx, {
        payoutId: uuidv7(),
        reference: `po_${uuidv7()}`,
        gateway: 'stripe',
        providerId: alice,
        currency: 'GBP',
        amountMinor: 4_000,
        occurredAt,
      }),
    );

    const aliceGbp = {
      currency: 'GBP',
      grossMinor: 12_505,
      commissionMinor: 1_250,
      refundedMinor: 5_838,
      commissionReversedMinor: 583,
      netMinor: 12_505 - 1_250 - 5_838 + 583,
      paidOutMinor: 4_000,
      pendingMinor: 12_505 - 1_250 - 5_838 + 583 - 4_000,
    };
    expect(await providerEarnings(db, alice)).toEqual([
      aliceGbp,
      {
        currency: 'JPY',
        grossMinor: 1_015,
        commissionMinor: 102,
        refundedMinor: 0,
        commissionReversedMinor: 0,
        netMinor: 913,
        paidOutMinor: 0,
        pendingMinor: 913,
      },
    ]);
    expect(await providerEarnings(db, bruno)).toEqual([
      {
        currency: 'GBP',
        grossMinor: 999,
        commissionMinor: 100,
        refundedMinor: 0,
        commissionReversedMinor: 0,
        netMinor: 899,
        paidOutMinor: 0,
        pendingMinor: 899,
      },
    ]);
    // What we owe the provider is their account's balance, with the sign of a credit.
    expect(await balances(db, { account: providerAccount(alice) })).toEqual([
      { account: providerAccount(alice), currency: 'GBP', balanceMinor: -aliceGbp.pendingMinor },
      { account: providerAccount(alice), currency: 'JPY', balanceMinor: -913 },
    ]);
    expect(await providerEarnings(db, uuidv7())).toEqual([]);
  });
});

describe(`verifyLedger (${servicesMode ? 'PostgreSQL' : 'PGlite'})`, () => {
  // Its own database: these tests break the ledger on purpose.
  let database: Database;
  let db: Db;
  let ledger: Ledger;
  const occurredAt = new Date('2026-11-23T09:00:00.000Z');

  beforeAll(async () => {
    database = await createTestDatabase();
    db = database.db;
    ledger = createLedger({ ids: uuidv7, clock });
  });
  afterAll(() => database.close());

  it('passes a consistent ledger and flags each kind of inconsistency', async () => {
    expect(await verifyLedger(db)).toEqual({
      entries: 0,
      lines: 0,
      unbalanced: [],
      paidWithoutCapture: [],
      capturesWithoutPayment: [],
      refundsWithoutEntry: [],
      refundEntriesWithoutRefund: [],
      ok: true,
    });

    const providerId = await createProvider(db);
    const paymentId = await insertPayment(db, {
      providerId,
      currency: 'BHD',
      amountMinor: 7_000,
      commissionMinor: 700,
      refundedMinor: 1_000,
    });
    const refundId = await insertRefund(db, { paymentId, amountMinor: 1_000, commissionReversedMinor: 100 });
    await inTransaction(db, async (tx) => {
      await ledger.recordCapture(tx, {
        paymentId,
        gateway: 'stripe',
        providerId,
        currency: 'BHD',
        amountMinor: 7_000,
        commissionMinor: 700,
        occurredAt,
      });
      await ledger.recordRefund(tx, {
        refundId,
        paymentId,
        gateway: 'stripe',
        providerId,
        currency: 'BHD',
        amountMinor: 1_000,
        commissionReversedMinor: 100,
        occurredAt,
      });
    });
    const consistent = await verifyLedger(db);
    expect(consistent).toMatchObject({ entries: 2, lines: 6, ok: true });

    // A payment with money captured and no capture entry (as if the service forgot the ledger).
    const forgotten = await insertPayment(db, {
      providerId,
      currency: 'GBP',
      amountMinor: 4_200,
      commissionMinor: 420,
    });
    const afterForgotten = await verifyLedger(db);
    expect(afterForgotten.ok).toBe(false);
    expect(afterForgotten.paidWithoutCapture).toEqual([
      { paymentId: forgotten, capturedMinor: 4_200, captureEntries: 0, ledgerMinor: 0 },
    ]);

    // A capture entry for another amount than was captured, and one for a payment never captured.
    const misrecorded = await insertPayment(db, { currency: 'SAR', amountMinor: 5_000 });
    const uncaptured = await insertPayment(db, { currency: 'SAR', amountMinor: 800, capturedMinor: 0 });
    const stray = await inTransaction(db, async (tx) => {
      await ledger.recordCapture(tx, {
        paymentId: misrecorded,
        gateway: 'stripe',
        currency: 'SAR',
        amountMinor: 4_999,
        commissionMinor: 0,
        occurredAt,
      });
      return recordedId(
        await ledger.recordCapture(tx, {
          paymentId: uncaptured,
          gateway: 'stripe',
          currency: 'SAR',
          amountMinor: 800,
          commissionMinor: 0,
          occurredAt,
        }),
      );
    });

    // A succeeded refund with no entry, and an entry for a refund that failed.
    const unbooked = await insertRefund(db, { paymentId, amountMinor: 500, commissionReversedMinor: 50 });
    const failed = await insertRefund(db, {
      paymentId,
      amountMinor: 300,
      commissionReversedMinor: 30,
      status: 'failed',
    });
    const failedEntry = recordedId(
      await inTransaction(db, (tx) =>
        ledger.recordRefund(tx, {
          refundId: failed,
          paymentId,
          gateway: 'stripe',
          providerId,
          currency: 'BHD',
          amountMinor: 300,
          commissionReversedMinor: 30,
          occurredAt,
        }),
      ),
    );

    // An unbalanced entry can only get in with the triggers off (what a superuser could do).
    const unbalancedId = uuidv7();
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await tx.insert(ledgerEntries).values({
        id: unbalancedId,
        kind: 'fee',
        reference: 'fee_tampered',
        occurredAt,
        createdAt: now(),
      });
      await tx.insert(ledgerLines).values([
        { entryId: unbalancedId, lineNo: 1, account: 'platform:fees', currency: 'BHD', amountMinor: 10 },
        { entryId: unbalancedId, lineNo: 2, account: 'gateway:stripe', currency: 'BHD', amountMinor: -9 },
      ]);
    });

    const result = await verifyLedger(db);
    expect(result.ok).toBe(false);
    expect(result.unbalanced).toEqual([{ entryId: unbalancedId, currency: 'BHD', sumMinor: 1 }]);
    expect(result.paidWithoutCapture).toEqual(
      [
        { paymentId: forgotten, capturedMinor: 4_200, captureEntries: 0, ledgerMinor: 0 },
        { paymentId: misrecorded, capturedMinor: 5_000, captureEntries: 1, ledgerMinor: 4_999 },
      ].sort((a, b) => a.paymentId.localeCompare(b.paymentId)),
    );
    expect(result.capturesWithoutPayment).toEqual([{ entryId: stray, paymentId: uncaptured }]);
    expect(result.refundsWithoutEntry).toEqual([
      { refundId: unbooked, amountMinor: 500, refundEntries: 0, ledgerMinor: 0 },
    ]);
    expect(result.refundEntriesWithoutRefund).toEqual([{ entryId: failedEntry, refundId: failed, status: 'failed' }]);
    expect(result).toMatchObject({ entries: 6, lines: 15 });
  });
});
