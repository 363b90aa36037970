import { and, asc, eq, or, type SQL, sql } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import { type Db, queryRows } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import { type GatewayName, ledgerEntries, ledgerLines } from './payments.tables.js';

/*
 * The double-entry ledger. Every movement of money is one entry whose lines sum to zero in each
 * currency; debits are positive, credits negative. The database keeps it honest on its own (no
 * UPDATE, DELETE or TRUNCATE; an unbalanced entry fails at commit; one capture per payment and one
 * entry per refund), and this file writes entries in the caller's transaction and reads them back.
 *
 * Accounts, and what a positive balance means:
 *   gateway:<name>    money the gateway holds for us (captures in, refunds, payouts and fees out)
 *   provider:<id>     negative: what we owe the provider (earned and not yet paid out)
 *   platform:revenue  negative: commission and subscription income earned
 *   platform:refunds  commission given back with refunds (a contra-revenue account)
 *   platform:fees     what the gateways charged us
 */

export type LedgerEntryKind = 'capture' | 'refund' | 'payout' | 'fee' | 'subscription';

export const PLATFORM_REVENUE = 'platform:revenue';
export const PLATFORM_REFUNDS = 'platform:refunds';
export const PLATFORM_FEES = 'platform:fees';
export const gatewayAccount = (gateway: GatewayName): string => `gateway:${gateway}`;
export const providerAccount = (providerId: string): string => `provider:${providerId}`;

/**
 * What a write did. A replay (the same capture, refund or gateway reference again) is `duplicate`
 * and writes nothing, so a webhook delivered twice or a retried job cannot count money twice;
 * `entryId` then names the entry already there.
 */
export type LedgerWriteResult =
  | { status: 'recorded'; entryId: string }
  | { status: 'duplicate'; entryId: string | undefined };

interface Common {
  gateway: GatewayName;
  currency: string;
  amountMinor: number;
  /** When the money moved, by the gateway's clock. */
  occurredAt: Date;
}

export interface CaptureInput extends Common {
  paymentId: string;
  /** A booking's provider; null or absent for a subscription payment (all of it is revenue). */
  providerId?: string | null;
  commissionMinor: number;
  /** The gateway's balance transaction, for reconciliation. */
  reference?: string | null;
}

export interface RefundInput extends Common {
  refundId: string;
  paymentId: string;
  providerId?: string | null;
  /** The part of the refund that is the platform's commission given back (refundSplit). */
  commissionReversedMinor: number;
  reference?: string | null;
}

export interface PayoutInput extends Common {
  payoutId: string;
  /** The gateway's payout id: a second entry with it is a duplicate. */
  reference: string;
  providerId: string;
}

export interface FeeInput extends Common {
  /** The gateway's fee or balance transaction id: a second entry with it is a duplicate. */
  reference: string;
  paymentId?: string | null;
}

export interface SubscriptionPaymentInput extends Common {
  /**
   * The gateway's invoice (or charge) id: a second entry with it is a duplicate. For a subscription
   * payment that has its own `payments` row (and may be refunded), use recordCapture without a
   * provider instead, so the checks find its capture.
   */
  reference: string;
}

interface Line {
  account: string;
  amountMinor: number;
}

interface EntryHeader {
  kind: LedgerEntryKind;
  paymentId?: string | null;
  refundId?: string | null;
  payoutId?: string | null;
  reference?: string | null;
  occurredAt: Date;
}

const CURRENCY_CODE = /^[A-Z]{3}$/;

function assertAmount(name: string, value: number, options: { positive: boolean }): void {
  if (!Number.isSafeInteger(value) || value < (options.positive ? 1 : 0)) {
    throw new RangeError(
      `${name} must be a ${options.positive ? 'positive' : 'non-negative'} safe integer, got ${value}`,
    );
  }
}

function assertCommon(input: Common): void {
  if (!CURRENCY_CODE.test(input.currency)) throw new RangeError(`currency must be ISO 4217, got ${input.currency}`);
  assertAmount('amountMinor', input.amountMinor, { positive: true });
  if (Number.isNaN(input.occurredAt.getTime())) throw new RangeError('occurredAt is not a valid date');
}

/** The natural key a duplicate collided on, to name the entry already there. */
function duplicateOf(header: EntryHeader): SQL | undefined {
  const byReference =
    header.reference != null
      ? and(eq(ledgerEntries.kind, header.kind), eq(ledgerEntries.reference, header.reference))
      : undefined;
  if (header.kind === 'capture' && header.paymentId) {
    return or(and(eq(ledgerEntries.kind, 'capture'), eq(ledgerEntries.paymentId, header.paymentId)), byReference);
  }
  if (header.kind === 'refund' && header.refundId) {
    return or(and(eq(ledgerEntries.kind, 'refund'), eq(ledgerEntries.refundId, header.refundId)), byReference);
  }
  return byReference;
}

/**
 * The ledger's writers, and its readers. Each writer takes the caller's transaction first, so the
 * entry commits or rolls back with the change it records; invalid input is refused (RangeError)
 * before anything is written.
 */
export function createLedger(deps: { ids: IdGenerator; clock: Clock }) {
  /**
   * One entry and its lines. Zero lines are left out (the table refuses them, and they say
   * nothing). `ON CONFLICT DO NOTHING` rather than catching the unique violation: in PostgreSQL a
   * failed statement aborts the caller's whole transaction, while a skipped insert leaves it
   * usable, and a concurrent writer of the same entry waits for the first and then skips too.
   */
  async function write(tx: Db, header: EntryHeader, currency: string, lines: Line[]): Promise<LedgerWriteResult> {
    const kept = lines.filter((line) => line.amountMinor !== 0);
    const sum = kept.reduce((acc, line) => acc + line.amountMinor, 0);
    // The commit trigger would refuse it too, but only at commit and for the whole transaction.
    if (sum !== 0 || kept.length < 2) {
      throw new RangeError(`a ${header.kind} entry must balance and have two lines or more (sum ${sum})`);
    }
    const entryId = deps.ids();
    const inserted = await tx
      .insert(ledgerEntries)
      .values({
        id: entryId,
        kind: header.kind,
        paymentId: header.paymentId ?? null,
        refundId: header.refundId ?? null,
        payoutId: header.payoutId ?? null,
        reference: header.reference ?? null,
        occurredAt: header.occurredAt,
        createdAt: deps.clock.now(),
      })
      .onConflictDoNothing()
      .returning({ id: ledgerEntries.id });
    if (inserted.length === 0) {
      const key = duplicateOf(header);
      const [existing] = key
        ? await tx.select({ id: ledgerEntries.id }).from(ledgerEntries).where(key).limit(1)
        : [undefined];
      return { status: 'duplicate', entryId: existing?.id };
    }
    await tx.insert(ledgerLines).values(
      kept.map((line, index) => ({
        entryId,
        lineNo: index + 1,
        account: line.account,
        currency,
        amountMinor: line.amountMinor,
      })),
    );
    return { status: 'recorded', entryId };
  }

  /** A payout moves the provider's money out of the gateway; a returned one moves it back. */
  function payoutEntry(tx: Db, input: PayoutInput, options: { returned: boolean }): Promise<LedgerWriteResult> {
    assertCommon(input);
    const sign = options.returned ? -1 : 1;
    return write(
      tx,
      {
        kind: 'payout',
        payoutId: input.payoutId,
        reference: options.returned ? `${input.reference}:returned` : input.reference,
        occurredAt: input.occurredAt,
      },
      input.currency,
      [
        { account: providerAccount(input.providerId), amountMinor: sign * input.amountMinor },
        { account: gatewayAccount(input.gateway), amountMinor: -sign * input.amountMinor },
      ],
    );
  }

  return {
    /**
     * Money taken from a customer: the gateway holds the amount; the provider is owed it less
     * the commission, which is revenue. Without a provider (a subscription) it is all revenue.
     */
    async recordCapture(tx: Db, input: CaptureInput): Promise<LedgerWriteResult> {
      assertCommon(input);
      assertAmount('commissionMinor', input.commissionMinor, { positive: false });
      if (input.commissionMinor > input.amountMinor) throw new RangeError('commissionMinor exceeds amountMinor');
      const lines: Line[] = [{ account: gatewayAccount(input.gateway), amountMinor: input.amountMinor }];
      if (input.providerId) {
        lines.push(
          { account: providerAccount(input.providerId), amountMinor: -(input.amountMinor - input.commissionMinor) },
          { account: PLATFORM_REVENUE, amountMinor: -input.commissionMinor },
        );
      } else {
        lines.push({ account: PLATFORM_REVENUE, amountMinor: -input.amountMinor });
      }
      return write(
        tx,
        { kind: 'capture', paymentId: input.paymentId, reference: input.reference, occurredAt: input.occurredAt },
        input.currency,
        lines,
      );
    },

    /**
     * Money given back: it leaves the gateway; the provider's share is taken back from what we owe
     * them and the reversed commission is booked against refunds. A subscription refund is all
     * ours to give back.
     */
    async recordRefund(tx: Db, input: RefundInput): Promise<LedgerWriteResult> {
      assertCommon(input);
      assertAmount('commissionReversedMinor', input.commissionReversedMinor, { positive: false });
      if (input.commissionReversedMinor > input.amountMinor) {
        throw new RangeError('commissionReversedMinor exceeds amountMinor');
      }
      const lines: Line[] = input.providerId
        ? [
            {
              account: providerAccount(input.providerId),
              amountMinor: input.amountMinor - input.commissionReversedMinor,
            },
            { account: PLATFORM_REFUNDS, amountMinor: input.commissionReversedMinor },
          ]
        : [{ account: PLATFORM_REFUNDS, amountMinor: input.amountMinor }];
      lines.push({ account: gatewayAccount(input.gateway), amountMinor: -input.amountMinor });
      return write(
        tx,
        {
          kind: 'refund',
          refundId: input.refundId,
          paymentId: input.paymentId,
          reference: input.reference,
          occurredAt: input.occurredAt,
        },
        input.currency,
        lines,
      );
    },

    /** The gateway paid a provider out: we owe them that much less. */
    async recordPayout(tx: Db, input: PayoutInput): Promise<LedgerWriteResult> {
      return payoutEntry(tx, input, { returned: false });
    },

    /** A payout the bank returned (paid, then failed): we owe the provider that money again. */
    async recordPayoutReturned(tx: Db, input: PayoutInput): Promise<LedgerWriteResult> {
      return payoutEntry(tx, input, { returned: true });
    },

    /** The gateway kept a processing fee. */
    async recordFee(tx: Db, input: FeeInput): Promise<LedgerWriteResult> {
      assertCommon(input);
      return write(
        tx,
        { kind: 'fee', paymentId: input.paymentId, reference: input.reference, occurredAt: input.occurredAt },
        input.currency,
        [
          { account: PLATFORM_FEES, amountMinor: input.amountMinor },
          { account: gatewayAccount(input.gateway), amountMinor: -input.amountMinor },
        ],
      );
    },

    /** A subscription invoice paid at the gateway, with no `payments` row of its own: all revenue. */
    async recordSubscriptionPayment(tx: Db, input: SubscriptionPaymentInput): Promise<LedgerWriteResult> {
      assertCommon(input);
      return write(
        tx,
        { kind: 'subscription', reference: input.reference, occurredAt: input.occurredAt },
        input.currency,
        [
          { account: gatewayAccount(input.gateway), amountMinor: input.amountMinor },
          { account: PLATFORM_REVENUE, amountMinor: -input.amountMinor },
        ],
      );
    },

    // The read side, here too, so a service can take `Pick<Ledger, …>` of whatever it uses.
    balances,
    providerEarnings,
    verifyLedger,
  };
}

export type Ledger = ReturnType<typeof createLedger>;

/**
 * A sum read back from the database as a number: node-postgres returns bigint as a string,
 * PGlite as a number. Sums beyond 2^53 minor units would be a bug, not a balance.
 */
function toSafeInteger(value: unknown): number {
  if (value === null || value === undefined) return 0;
  const result = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof result !== 'number' || !Number.isSafeInteger(result)) {
    throw new RangeError(`ledger sum ${String(value)} is not a safe integer`);
  }
  return result;
}

export interface AccountBalance {
  account: string;
  currency: string;
  /** Debits less credits: positive for the gateways, negative for what we owe or earned. */
  balanceMinor: number;
}

/** Each account's balance per currency, optionally for one account or one currency. */
export async function balances(
  db: Db,
  filter: { account?: string; currency?: string } = {},
): Promise<AccountBalance[]> {
  const conditions: SQL[] = [];
  if (filter.account !== undefined) conditions.push(eq(ledgerLines.account, filter.account));
  if (filter.currency !== undefined) conditions.push(eq(ledgerLines.currency, filter.currency));
  const rows = await db
    .select({
      account: ledgerLines.account,
      currency: ledgerLines.currency,
      balance: sql<unknown>`sum(${ledgerLines.amountMinor})::bigint`,
    })
    .from(ledgerLines)
    .where(conditions.length > 0 ? and(...conditions) : undefined)
    .groupBy(ledgerLines.account, ledgerLines.currency)
    .orderBy(asc(ledgerLines.account), asc(ledgerLines.currency));
  return rows.map((row) => ({
    account: row.account,
    currency: row.currency,
    balanceMinor: toSafeInteger(row.balance),
  }));
}

export interface ProviderEarnings {
  currency: string;
  /** Captured on the provider's bookings. */
  grossMinor: number;
  /** The platform's commission on those captures. */
  commissionMinor: number;
  /** Refunded to customers. */
  refundedMinor: number;
  /** Commission given back with those refunds (the provider does not bear it). */
  commissionReversedMinor: number;
  /** gross − commission − refunded + commission reversed. */
  netMinor: number;
  paidOutMinor: number;
  /** Earned and not yet paid out: net − paid out. */
  pendingMinor: number;
}

/**
 * A provider's earnings per currency, from the ledger alone. The entries are those with a line
 * on the provider's account, and the captures and refunds of the provider's payments (a payment
 * whose commission was all of it leaves the provider's line at zero, so no line is written).
 */
export async function providerEarnings(db: Db, providerId: string): Promise<ProviderEarnings[]> {
  const account = providerAccount(providerId);
  const rows = await queryRows<Record<string, unknown> & { currency: string }>(
    db,
    sql`
      select l.currency,
        (sum(l.amount_minor) filter (where e.kind = 'capture' and l.account like 'gateway:%'))::bigint as gross,
        (-sum(l.amount_minor) filter (where e.kind = 'capture' and l.account = ${PLATFORM_REVENUE}))::bigint as commission,
        (-sum(l.amount_minor) filter (where e.kind = 'refund' and l.account like 'gateway:%'))::bigint as refunded,
        (sum(l.amount_minor) filter (where e.kind = 'refund' and l.account = ${PLATFORM_REFUNDS}))::bigint as reversed,
        (-sum(l.amount_minor) filter (where e.kind in ('capture', 'refund') and l.account = ${account}))::bigint as net,
        (sum(l.amount_minor) filter (where e.kind = 'payout' and l.account = ${account}))::bigint as paid_out
      from ledger_lines l
      join ledger_entries e on e.id = l.entry_id
      where l.entry_id in (select entry_id from ledger_lines where account = ${account})
         or (e.kind in ('capture', 'refund') and e.payment_id in (select id from payments where provider_id = ${providerId}))
      group by l.currency
      order by l.currency`,
  );
  return rows.map((row) => {
    const netMinor = toSafeInteger(row.net);
    const paidOutMinor = toSafeInteger(row.paid_out);
    return {
      currency: row.currency,
      grossMinor: toSafeInteger(row.gross),
      commissionMinor: toSafeInteger(row.commission),
      refundedMinor: toSafeInteger(row.refunded),
      commissionReversedMinor: toSafeInteger(row.reversed),
      netMinor,
      paidOutMinor,
      pendingMinor: netMinor - paidOutMinor,
    };
  });
}

/** Each list holds at most this many findings; `ok` counts them all. */
const VERIFY_LIMIT = 100;

export interface LedgerVerification {
  entries: number;
  lines: number;
  /** Entries whose lines do not sum to zero in a currency, or that have no lines (currency null). */
  unbalanced: { entryId: string; currency: string | null; sumMinor: number }[];
  /** Payments with money captured but not exactly one capture entry, or one for another amount. */
  paidWithoutCapture: { paymentId: string; capturedMinor: number; captureEntries: number; ledgerMinor: number }[];
  /** Capture entries for no payment, or for a payment with nothing captured. */
  capturesWithoutPayment: { entryId: string; paymentId: string | null }[];
  /** Succeeded refunds without exactly one refund entry, or with one for another amount. */
  refundsWithoutEntry: { refundId: string; amountMinor: number; refundEntries: number; ledgerMinor: number }[];
  /** Refund entries for no refund, or for a refund that failed (a pending one may already be booked). */
  refundEntriesWithoutRefund: { entryId: string; refundId: string | null; status: string | null }[];
  ok: boolean;
}

/**
 * Checks the ledger against itself and against the payments it records: every entry balances per
 * currency; every payment with money captured has exactly one capture entry, for that amount in
 * its currency; every succeeded refund has exactly one refund entry, for its amount. The database
 * already enforces most of this on write; this finds what got past it (a trigger disabled, rows
 * written by hand, a service that forgot the ledger). Set-based queries, valid on PostgreSQL 15.
 */
export async function verifyLedger(db: Db): Promise<LedgerVerification> {
  const [counts] = await queryRows<{ entries: unknown; lines: unknown }>(
    db,
    sql`select (select count(*) from ledger_entries)::bigint as entries, (select count(*) from ledger_lines)::bigint as lines`,
  );
  const unbalanced = await queryRows<{ entry_id: string; currency: string | null; sum_minor: unknown }>(
    db,
    sql`
      (select entry_id, currency, sum(amount_minor)::bigint as sum_minor
         from ledger_lines group by entry_id, currency having sum(amount_minor) <> 0)
      union all
      (select e.id, null, 0::bigint from ledger_entries e
         where not exists (select 1 from ledger_lines l where l.entry_id = e.id))
      order by entry_id
      limit ${VERIFY_LIMIT}`,
  );
  const paidWithoutCapture = await queryRows<{
    payment_id: string;
    captured_minor: unknown;
    capture_entries: number;
    ledger_minor: unknown;
  }>(
    db,
    sql`
      select p.id as payment_id, p.captured_minor,
        count(distinct e.id)::int as capture_entries,
        coalesce(sum(l.amount_minor) filter (where l.amount_minor > 0 and l.currency = p.currency), 0)::bigint as ledger_minor
      from payments p
      left join ledger_entries e on e.payment_id = p.id and e.kind = 'capture'
      left join ledger_lines l on l.entry_id = e.id
      where p.captured_minor > 0
      group by p.id
      having count(distinct e.id) <> 1
        or coalesce(sum(l.amount_minor) filter (where l.amount_minor > 0 and l.currency = p.currency), 0) <> p.captured_minor
      order by p.id
      limit ${VERIFY_LIMIT}`,
  );
  const capturesWithoutPayment = await queryRows<{ entry_id: string; payment_id: string | null }>(
    db,
    sql`
      select e.id as entry_id, e.payment_id
      from ledger_entries e
      left join payments p on p.id = e.payment_id
      where e.kind = 'capture' and (p.id is null or p.captured_minor = 0)
      order by e.id
      limit ${VERIFY_LIMIT}`,
  );
  const refundsWithoutEntry = await queryRows<{
    refund_id: string;
    amount_minor: unknown;
    refund_entries: number;
    ledger_minor: unknown;
  }>(
    db,
    sql`
      select r.id as refund_id, r.amount_minor,
        count(distinct e.id)::int as refund_entries,
        coalesce(-sum(l.amount_minor) filter (where l.amount_minor < 0 and l.currency = p.currency), 0)::bigint as ledger_minor
      from refunds r
      join payments p on p.id = r.payment_id
      left join ledger_entries e on e.refund_id = r.id and e.kind = 'refund'
      left join ledger_lines l on l.entry_id = e.id
      where r.status = 'succeeded'
      group by r.id, p.currency
      having count(distinct e.id) <> 1
        or coalesce(-sum(l.amount_minor) filter (where l.amount_minor < 0 and l.currency = p.currency), 0) <> r.amount_minor
      order by r.id
      limit ${VERIFY_LIMIT}`,
  );
  const refundEntriesWithoutRefund = await queryRows<{
    entry_id: string;
    refund_id: string | null;
    status: string | null;
  }>(
    db,
    sql`
      select e.id as entry_id, e.refund_id, r.status
      from ledger_entries e
      left join refunds r on r.id = e.refund_id
      where e.kind = 'refund' and (r.id is null or r.status = 'failed')
      order by e.id
      limit ${VERIFY_LIMIT}`,
  );
  const result = {
    entries: toSafeInteger(counts?.entries),
    lines: toSafeInteger(counts?.lines),
    unbalanced: unbalanced.map((row) => ({
      entryId: row.entry_id,
      currency: row.currency,
      sumMinor: toSafeInteger(row.sum_minor),
    })),
    paidWithoutCapture: paidWithoutCapture.map((row) => ({
      paymentId: row.payment_id,
      capturedMinor: toSafeInteger(row.captured_minor),
      captureEntries: row.capture_entries,
      ledgerMinor: toSafeInteger(row.ledger_minor),
    })),
    capturesWithoutPayment: capturesWithoutPayment.map((row) => ({ entryId: row.entry_id, paymentId: row.payment_id })),
    refundsWithoutEntry: refundsWithoutEntry.map((row) => ({
      refundId: row.refund_id,
      amountMinor: toSafeInteger(row.amount_minor),
      refundEntries: row.refund_entries,
      ledgerMinor: toSafeInteger(row.ledger_minor),
    })),
    refundEntriesWithoutRefund: refundEntriesWithoutRefund.map((row) => ({
      entryId: row.entry_id,
      refundId: row.refund_id,
      status: row.status,
    })),
  };
  const ok =
    result.unbalanced.length === 0 &&
    result.paidWithoutCapture.length === 0 &&
    result.capturesWithoutPayment.length === 0 &&
    result.refundsWithoutEntry.length === 0 &&
    result.refundEntriesWithoutRefund.length === 0;
  return { ...result, ok };
}
