import { and, desc, eq, gt, isNotNull, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { type Db, firstRow } from '../../infra/db/client.js';
import {
  commissionRules,
  type GatewayName,
  type PaymentRow,
  paymentEvents,
  payments,
  payoutAccounts,
  payouts,
  type RefundRow,
  reconciliationRuns,
  refunds,
  type SubscriptionRow,
  subscriptions,
} from './payments.tables.js';

/** Queries on the payments module's own tables; every function takes the caller's `db` or `tx`. */
export function createPaymentsRepository() {
  return {
    async insertPayment(db: Db, row: typeof payments.$inferInsert): Promise<PaymentRow> {
      const [created] = await db.insert(payments).values(row).returning();
      return created as PaymentRow;
    },

    findPayment: (db: Db, id: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(db.select().from(payments).where(eq(payments.id, id)).limit(1), options),

    findPaymentByGatewayId: (
      db: Db,
      gateway: GatewayName,
      gatewayPaymentId: string,
      options: { forUpdate?: boolean } = {},
    ) =>
      firstRow(
        db
          .select()
          .from(payments)
          .where(and(eq(payments.gateway, gateway), eq(payments.gatewayPaymentId, gatewayPaymentId)))
          .limit(1),
        options,
      ),

    /** The booking's latest payment attempt. */
    async paymentOfBooking(db: Db, bookingId: string, options: { forUpdate?: boolean } = {}) {
      return firstRow(
        db.select().from(payments).where(eq(payments.bookingId, bookingId)).orderBy(desc(payments.createdAt)).limit(1),
        options,
      );
    },

    async updatePayment(db: Db, id: string, patch: Partial<typeof payments.$inferInsert>): Promise<PaymentRow> {
      const [row] = await db.update(payments).set(patch).where(eq(payments.id, id)).returning();
      return row as PaymentRow;
    },

    async insertRefund(db: Db, row: typeof refunds.$inferInsert): Promise<RefundRow> {
      const [created] = await db.insert(refunds).values(row).returning();
      return created as RefundRow;
    },

    findRefund: (db: Db, id: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(db.select().from(refunds).where(eq(refunds.id, id)).limit(1), options),

    findRefundByGatewayId: (db: Db, gatewayRefundId: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(db.select().from(refunds).where(eq(refunds.gatewayRefundId, gatewayRefundId)).limit(1), options),

    async updateRefund(db: Db, id: string, patch: Partial<typeof refunds.$inferInsert>): Promise<RefundRow> {
      const [row] = await db.update(refunds).set(patch).where(eq(refunds.id, id)).returning();
      return row as RefundRow;
    },

    refundsOf: (db: Db, paymentId: string) =>
      db.select().from(refunds).where(eq(refunds.paymentId, paymentId)).orderBy(refunds.createdAt, refunds.id),

    /** Records a gateway event id; false when it was already there (a repeat delivery). */
    async recordEvent(db: Db, row: typeof paymentEvents.$inferInsert): Promise<boolean> {
      const inserted = await db
        .insert(paymentEvents)
        .values(row)
        .onConflictDoNothing()
        .returning({ id: paymentEvents.eventId });
      return inserted.length > 0;
    },

    commissionRule: (db: Db, categoryId: string) =>
      firstRow(db.select().from(commissionRules).where(eq(commissionRules.categoryId, categoryId)).limit(1)),

    listCommissionRules: (db: Db) => db.select().from(commissionRules).orderBy(commissionRules.updatedAt),

    async upsertCommissionRule(db: Db, row: typeof commissionRules.$inferInsert) {
      const [saved] = await db
        .insert(commissionRules)
        .values(row)
        .onConflictDoUpdate({
          target: commissionRules.categoryId,
          set: { rateBps: row.rateBps, limits: row.limits, updatedBy: row.updatedBy, updatedAt: row.updatedAt },
        })
        .returning();
      return saved as typeof commissionRules.$inferSelect;
    },

    async deleteCommissionRule(db: Db, categoryId: string): Promise<boolean> {
      const rows = await db
        .delete(commissionRules)
        .where(eq(commissionRules.categoryId, categoryId))
        .returning({ id: commissionRules.categoryId });
      return rows.length > 0;
    },

    payoutAccountOf: (db: Db, providerId: string) =>
      firstRow(db.select().from(payoutAccounts).where(eq(payoutAccounts.providerId, providerId)).limit(1)),

    payoutAccountById: (db: Db, accountId: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(db.select().from(payoutAccounts).where(eq(payoutAccounts.accountId, accountId)).limit(1), options),

    async savePayoutAccount(db: Db, row: typeof payoutAccounts.$inferInsert) {
      const [saved] = await db
        .insert(payoutAccounts)
        .values(row)
        .onConflictDoUpdate({
          target: payoutAccounts.providerId,
          set: {
            accountId: row.accountId,
            gateway: row.gateway,
            payoutsEnabled: row.payoutsEnabled,
            detailsSubmitted: row.detailsSubmitted,
            ...(row.lastEventAt !== undefined ? { lastEventAt: row.lastEventAt } : {}),
            updatedAt: row.updatedAt,
          },
        })
        .returning();
      return saved as typeof payoutAccounts.$inferSelect;
    },

    payoutByGatewayId: (db: Db, gateway: GatewayName, gatewayPayoutId: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(
        db
          .select()
          .from(payouts)
          .where(and(eq(payouts.gateway, gateway), eq(payouts.gatewayPayoutId, gatewayPayoutId)))
          .limit(1),
        options,
      ),

    async upsertPayout(db: Db, row: typeof payouts.$inferInsert) {
      const [saved] = await db
        .insert(payouts)
        .values(row)
        .onConflictDoUpdate({
          target: [payouts.gateway, payouts.gatewayPayoutId],
          set: { status: row.status, arrivalAt: row.arrivalAt, updatedAt: row.updatedAt },
        })
        .returning();
      return saved as typeof payouts.$inferSelect;
    },

    /** The checkout's customer and subscription, never the status another event may have set meanwhile. */
    async saveCheckout(db: Db, row: typeof subscriptions.$inferInsert): Promise<SubscriptionRow> {
      const [saved] = await db
        .insert(subscriptions)
        .values({ ...row, status: 'incomplete' })
        .onConflictDoUpdate({
          target: subscriptions.userId,
          set: {
            gateway: row.gateway,
            customerId: row.customerId,
            subscriptionId: sql`coalesce(${subscriptions.subscriptionId}, excluded.subscription_id)`,
            updatedAt: row.updatedAt,
          },
        })
        .returning();
      return saved as SubscriptionRow;
    },

    payoutsOf: (db: Db, providerId: string, limit = 50) =>
      db.select().from(payouts).where(eq(payouts.providerId, providerId)).orderBy(desc(payouts.createdAt)).limit(limit),

    subscriptionOf: (db: Db, userId: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(db.select().from(subscriptions).where(eq(subscriptions.userId, userId)).limit(1), options),

    subscriptionByCustomer: (db: Db, gateway: GatewayName, customerId: string, options: { forUpdate?: boolean } = {}) =>
      firstRow(
        db
          .select()
          .from(subscriptions)
          .where(and(eq(subscriptions.gateway, gateway), eq(subscriptions.customerId, customerId)))
          .limit(1),
        options,
      ),

    async saveSubscription(db: Db, row: typeof subscriptions.$inferInsert): Promise<SubscriptionRow> {
      const { userId: _key, createdAt: _created, ...changes } = row;
      const [saved] = await db
        .insert(subscriptions)
        .values(row)
        .onConflictDoUpdate({ target: subscriptions.userId, set: changes })
        .returning();
      return saved as SubscriptionRow;
    },

    /** Past-due subscriptions whose grace has run out. */
    lapsedSubscriptions: (db: Db, now: Date) =>
      db
        .select()
        .from(subscriptions)
        .where(and(eq(subscriptions.status, 'past_due'), sql`${subscriptions.graceUntil} < ${now}`)),

    async deleteSubscription(db: Db, userId: string): Promise<number> {
      const rows = await db
        .delete(subscriptions)
        .where(eq(subscriptions.userId, userId))
        .returning({ id: subscriptions.userId });
      return rows.length;
    },

    paymentsOfPayer: (db: Db, payerId: string) =>
      db.select().from(payments).where(eq(payments.payerId, payerId)).orderBy(payments.createdAt),

    async pseudonymisePayer(db: Db, payerId: string): Promise<number> {
      const rows = await db
        .update(payments)
        .set({ payerId: null, cardFingerprint: null })
        .where(eq(payments.payerId, payerId))
        .returning({ id: payments.id });
      await db.update(refunds).set({ requestedBy: null }).where(eq(refunds.requestedBy, payerId));
      return rows.length;
    },

    /**
     * Whether a payment that took money for the booking used a card (the same gateway's fingerprint)
     * that `payerId` has used on any payment of theirs.
     */
    async bookingPaidWithCardOf(db: Db, bookingId: string, payerId: string): Promise<boolean> {
      const theirs = alias(payments, 'theirs');
      const rows = await db
        .select({ id: payments.id })
        .from(payments)
        .innerJoin(
          theirs,
          and(eq(theirs.gateway, payments.gateway), eq(theirs.cardFingerprint, payments.cardFingerprint)),
        )
        .where(
          and(
            eq(payments.bookingId, bookingId),
            gt(payments.capturedMinor, 0),
            isNotNull(payments.cardFingerprint),
            eq(theirs.payerId, payerId),
          ),
        )
        .limit(1);
      return rows.length > 0;
    },

    async saveReconciliation(db: Db, row: typeof reconciliationRuns.$inferInsert) {
      await db
        .insert(reconciliationRuns)
        .values(row)
        .onConflictDoUpdate({
          target: [reconciliationRuns.day, reconciliationRuns.gateway],
          set: { status: row.status, checked: row.checked, mismatches: row.mismatches, ranAt: row.ranAt },
        });
    },

    reconciliations: (db: Db, limit: number) =>
      db.select().from(reconciliationRuns).orderBy(desc(reconciliationRuns.day)).limit(limit),
  };
}

export type PaymentsRepository = ReturnType<typeof createPaymentsRepository>;
