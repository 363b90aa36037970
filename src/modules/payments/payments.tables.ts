import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { bookings } from '../bookings/bookings.tables.js';
import { categories, providers } from '../catalog/catalog.tables.js';
import { users } from '../identity/identity.tables.js';

export const GATEWAYS = ['stripe', 'moyasar', 'simulated'] as const;
export type GatewayName = (typeof GATEWAYS)[number];

export const PAYMENT_STATUSES = [
  'requires_payment_method',
  'requires_action',
  'processing',
  'succeeded',
  'failed',
  'canceled',
  'partially_refunded',
  'refunded',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const PAYMENT_METHODS = ['card', 'apple_pay', 'google_pay', 'mada', 'stcpay'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

// Money is integer minor units (bigint, read as JavaScript numbers: amounts stay far below 2^53).
const money = (name: string) => bigint(name, { mode: 'number' });

/**
 * One attempt to take money: for a booking (held slot) or a Premium subscription invoice. The
 * gateway holds the card; we keep its ids, the brand and last four, never card data. Captured and
 * refunded amounts are kept with a check that a refund never exceeds the capture.
 */
export const payments = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey(),
    purpose: text('purpose').$type<'booking' | 'subscription'>().notNull(),
    bookingId: uuid('booking_id').references(() => bookings.id, { onDelete: 'restrict' }),
    // Null once the payer is erased: the record stays for accounting, naming no one.
    payerId: uuid('payer_id').references(() => users.id, { onDelete: 'set null' }),
    providerId: uuid('provider_id').references(() => providers.id, { onDelete: 'restrict' }),
    categoryId: uuid('category_id').references(() => categories.id, { onDelete: 'set null' }),
    gateway: text('gateway').$type<GatewayName>().notNull(),
    gatewayPaymentId: text('gateway_payment_id').notNull(),
    status: text('status').$type<PaymentStatus>().notNull(),
    amountMinor: money('amount_minor').notNull(),
    currency: text('currency').notNull(),
    // Fixed when the payment is created: a later commission rule never re-prices it.
    commissionRateBps: integer('commission_rate_bps').notNull().default(0),
    commissionMinor: money('commission_minor').notNull().default(0),
    capturedMinor: money('captured_minor').notNull().default(0),
    refundedMinor: money('refunded_minor').notNull().default(0),
    method: text('method').$type<PaymentMethod>(),
    cardBrand: text('card_brand'),
    cardLast4: text('card_last4'),
    /**
     * The gateway's fingerprint of the card (Stripe's `card.fingerprint`: the same card number gives
     * the same value across customers, never the number itself). It tells that two payments used
     * one card, so a provider cannot review their own service from a second account.
     */
    cardFingerprint: text('card_fingerprint'),
    /** Where the customer completes 3-D Secure or a wallet step, when the gateway asks for one. */
    nextActionUrl: text('next_action_url'),
    /** Connect: the provider's account a destination charge pays (its refunds reverse the transfer). */
    destinationAccountId: text('destination_account_id'),
    /** The cancellation policy of the booking when it was paid: free until N hours before, then a fee. */
    freeCancelHours: integer('free_cancel_hours'),
    lateCancelFeeBps: integer('late_cancel_fee_bps'),
    failureReason: text('failure_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('payments_gateway_id_unique').on(table.gateway, table.gatewayPaymentId),
    index('payments_booking_id_idx').on(table.bookingId),
    index('payments_payer_id_idx').on(table.payerId),
    index('payments_provider_id_idx').on(table.providerId),
    index('payments_category_id_idx').on(table.categoryId),
    index('payments_created_at_idx').on(table.createdAt),
    index('payments_card_fingerprint_idx').on(table.cardFingerprint),
    check('payments_amount_check', sql`${table.amountMinor} > 0`),
    check('payments_currency_check', sql`${table.currency} ~ '^[A-Z]{3}$'`),
    check(
      'payments_captured_check',
      sql`${table.capturedMinor} >= 0 and ${table.capturedMinor} <= ${table.amountMinor}`,
    ),
    check(
      'payments_refunded_check',
      sql`${table.refundedMinor} >= 0 and ${table.refundedMinor} <= ${table.capturedMinor}`,
    ),
    check(
      'payments_commission_check',
      sql`${table.commissionMinor} >= 0 and ${table.commissionMinor} <= ${table.amountMinor}`,
    ),
    check('payments_last4_check', sql`${table.cardLast4} is null or ${table.cardLast4} ~ '^[0-9]{4}$'`),
  ],
);

export const REFUND_SOURCES = [
  'customer_cancel',
  'provider_cancel',
  'provider_no_show',
  'admin',
  'unpaid_booking',
] as const;
export type RefundSource = (typeof REFUND_SOURCES)[number];

/** Money given back, in full or in part; the commission is reversed in proportion. */
export const refunds = pgTable(
  'refunds',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id')
      .notNull()
      .references(() => payments.id, { onDelete: 'restrict' }),
    amountMinor: money('amount_minor').notNull(),
    commissionReversedMinor: money('commission_reversed_minor').notNull(),
    source: text('source').$type<RefundSource>().notNull(),
    reason: text('reason'),
    gatewayRefundId: text('gateway_refund_id'),
    status: text('status').$type<'pending' | 'succeeded' | 'failed'>().notNull(),
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('refunds_payment_id_idx').on(table.paymentId),
    index('refunds_requested_by_idx').on(table.requestedBy),
    uniqueIndex('refunds_gateway_refund_unique').on(table.gatewayRefundId),
    check('refunds_amount_check', sql`${table.amountMinor} > 0`),
    check(
      'refunds_commission_check',
      sql`${table.commissionReversedMinor} >= 0 and ${table.commissionReversedMinor} <= ${table.amountMinor}`,
    ),
  ],
);

/**
 * The double-entry ledger: each entry is one movement of money, its lines sum to zero per
 * currency (a deferred constraint trigger checks it at commit) and nothing is ever changed or
 * removed (triggers). Debits are positive, credits negative.
 */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    kind: text('kind').$type<'capture' | 'refund' | 'payout' | 'fee' | 'subscription'>().notNull(),
    paymentId: uuid('payment_id').references(() => payments.id, { onDelete: 'restrict' }),
    refundId: uuid('refund_id').references(() => refunds.id, { onDelete: 'restrict' }),
    payoutId: uuid('payout_id'),
    /** The gateway's own id of what this entry records (a balance transaction), for reconciliation. */
    reference: text('reference'),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('ledger_entries_seq_unique').on(table.seq),
    index('ledger_entries_payment_id_idx').on(table.paymentId),
    index('ledger_entries_refund_id_idx').on(table.refundId),
    index('ledger_entries_occurred_at_idx').on(table.occurredAt),
    // One capture per payment and one entry per refund: replays cannot count money twice.
    uniqueIndex('ledger_entries_capture_unique').on(table.paymentId).where(sql`${table.kind} = 'capture'`),
    uniqueIndex('ledger_entries_refund_unique').on(table.refundId).where(sql`${table.kind} = 'refund'`),
    uniqueIndex('ledger_entries_reference_unique').on(table.kind, table.reference),
  ],
);

export const ledgerLines = pgTable(
  'ledger_lines',
  {
    entryId: uuid('entry_id')
      .notNull()
      .references(() => ledgerEntries.id, { onDelete: 'restrict' }),
    lineNo: integer('line_no').notNull(),
    /** `gateway:<name>`, `provider:<id>`, `platform:revenue`, `platform:refunds`, `platform:fees`. */
    account: text('account').notNull(),
    currency: text('currency').notNull(),
    amountMinor: money('amount_minor').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.entryId, table.lineNo] }),
    index('ledger_lines_account_idx').on(table.account, table.currency),
    check('ledger_lines_amount_check', sql`${table.amountMinor} <> 0`),
    check('ledger_lines_currency_check', sql`${table.currency} ~ '^[A-Z]{3}$'`),
  ],
);

/** The commission of one category (without a rule: COMMISSION_RATE_BPS), with per-currency bounds. */
export const commissionRules = pgTable(
  'commission_rules',
  {
    categoryId: uuid('category_id')
      .primaryKey()
      .references(() => categories.id, { onDelete: 'cascade' }),
    rateBps: integer('rate_bps').notNull(),
    /** { "GBP": { "min_minor": 100, "max_minor": 5000 } } */
    limits: jsonb('limits').$type<Record<string, { min_minor?: number; max_minor?: number }>>().notNull(),
    updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('commission_rules_updated_by_idx').on(table.updatedBy),
    check('commission_rules_rate_check', sql`${table.rateBps} between 0 and 10000`),
  ],
);

/** Each gateway event once: a repeat delivery finds its id here and does nothing. */
export const paymentEvents = pgTable(
  'payment_events',
  {
    gateway: text('gateway').$type<GatewayName>().notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.gateway, table.eventId] })],
);

/** A provider's account at the gateway that pays them out (Stripe Connect Express). */
export const payoutAccounts = pgTable('payout_accounts', {
  providerId: uuid('provider_id')
    .primaryKey()
    .references(() => providers.id, { onDelete: 'cascade' }),
  gateway: text('gateway').$type<GatewayName>().notNull(),
  accountId: text('account_id').notNull().unique(),
  payoutsEnabled: boolean('payouts_enabled').notNull(),
  detailsSubmitted: boolean('details_submitted').notNull(),
  /** When the gateway sent the state applied last (its clock): an older event never overrides it. */
  lastEventAt: timestamp('last_event_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

/** Money the gateway sent to a provider's bank, as its payout events report it. */
export const payouts = pgTable(
  'payouts',
  {
    id: uuid('id').primaryKey(),
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'restrict' }),
    gateway: text('gateway').$type<GatewayName>().notNull(),
    gatewayPayoutId: text('gateway_payout_id').notNull(),
    amountMinor: money('amount_minor').notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<'pending' | 'in_transit' | 'paid' | 'failed' | 'canceled'>().notNull(),
    arrivalAt: timestamp('arrival_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('payouts_gateway_id_unique').on(table.gateway, table.gatewayPayoutId),
    index('payouts_provider_id_idx').on(table.providerId),
    check('payouts_amount_check', sql`${table.amountMinor} > 0`),
  ],
);

export const SUBSCRIPTION_STATUSES = [
  'incomplete',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'incomplete_expired',
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** A member's Premium subscription at the gateway, as its events last described it. */
export const subscriptions = pgTable(
  'subscriptions',
  {
    userId: uuid('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    gateway: text('gateway').$type<GatewayName>().notNull(),
    customerId: text('customer_id').notNull(),
    subscriptionId: text('subscription_id'),
    status: text('status').$type<SubscriptionStatus>(),
    interval: text('interval').$type<'month' | 'year'>(),
    currentPeriodEnd: timestamp('current_period_end', { withTimezone: true }),
    cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
    /** While past due, Premium stays until then. */
    graceUntil: timestamp('grace_until', { withTimezone: true }),
    /** The gateway's time of the last event applied: an older event never overwrites a newer state. */
    lastEventAt: timestamp('last_event_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('subscriptions_subscription_id_unique').on(table.subscriptionId),
    uniqueIndex('subscriptions_customer_unique').on(table.gateway, table.customerId),
  ],
);

/** A day's comparison of the ledger with a gateway's balance transactions. */
export const reconciliationRuns = pgTable(
  'reconciliation_runs',
  {
    day: date('day', { mode: 'string' }).notNull(),
    gateway: text('gateway').$type<GatewayName>().notNull(),
    status: text('status').$type<'matched' | 'mismatched' | 'failed'>().notNull(),
    checked: integer('checked').notNull(),
    mismatches: jsonb('mismatches').$type<{ reference: string; reason: string }[]>().notNull(),
    ranAt: timestamp('ran_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.day, table.gateway] })],
);

export type PaymentRow = typeof payments.$inferSelect;
export type RefundRow = typeof refunds.$inferSelect;
export type LedgerEntryRow = typeof ledgerEntries.$inferSelect;
export type LedgerLineRow = typeof ledgerLines.$inferSelect;
export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type PayoutRow = typeof payouts.$inferSelect;
