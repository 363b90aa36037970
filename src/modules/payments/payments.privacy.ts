import { and, eq, isNotNull, lt } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import { toPublicPayment } from './payments.core.js';
import type { PaymentsRepository } from './payments.repository.js';
import { commissionRules, paymentEvents, payments, refunds } from './payments.tables.js';

/**
 * Payments are financial records the law makes us keep (RETENTION_FINANCIAL_YEARS): erasure
 * removes the person from them (payer, who asked for a refund) and keeps the amounts, dates and
 * gateway ids; the card's brand and last four stay with the record as the receipt shows them. The
 * card's fingerprint (which links payments made with one card, to refuse reviews of one's own
 * service) is no receipt detail: erasure removes it with the payer. A subscription row (the
 * gateway's customer id) is deleted. No card data is ever stored.
 */
export function paymentsPersonalData(deps: {
  repository: PaymentsRepository;
  financialRetentionYears: number;
}): PersonalDataEntry {
  const { repository } = deps;
  return {
    module: 'payments',
    description:
      "Your payments and refunds (amount, currency, status, card brand and last four digits, the payment gateway's fingerprint of the card, gateway ids) and your Premium subscription",
    purposes: [
      'taking payment for bookings and Premium',
      'refunds',
      'accounting',
      'keeping providers from reviewing their own services (the card fingerprint)',
    ],
    legalBasis: 'contract; legal obligation (financial records)',
    retention: `payment records ${deps.financialRetentionYears} years, without your name after erasure; the subscription until it ends or you erase your account`,
    tables: ['payments', 'refunds', 'subscriptions', 'commission_rules'],
    async export(tx: Db, userId: string) {
      const [payments, subscription] = await Promise.all([
        repository.paymentsOfPayer(tx, userId),
        repository.subscriptionOf(tx, userId),
      ]);
      return {
        payments: payments.map((row) => ({ ...toPublicPayment(row), card_fingerprint: row.cardFingerprint ?? null })),
        subscription: subscription
          ? {
              status: subscription.status,
              interval: subscription.interval,
              current_period_end: subscription.currentPeriodEnd?.toISOString() ?? null,
              cancel_at_period_end: subscription.cancelAtPeriodEnd,
            }
          : null,
      };
    },
    async erase(tx: Db, userId: string) {
      const payments = await repository.pseudonymisePayer(tx, userId);
      const subscriptions = await repository.deleteSubscription(tx, userId);
      await tx.update(commissionRules).set({ updatedBy: null }).where(eq(commissionRules.updatedBy, userId));
      return {
        action: 'pseudonymised',
        rows: payments + subscriptions,
        note: "payment records kept for accounting without your name or the card's fingerprint; the subscription record deleted",
      };
    },
  };
}

const DAY_MS = 86_400_000;
/** Gateways retry a webhook for a few days (Stripe three): a month of event ids covers every replay. */
const EVENT_IDS_DAYS = 30;

/**
 * After RETENTION_FINANCIAL_YEARS a payment no longer names its payer (the amounts, dates and
 * gateway ids stay, as the append-only ledger does); received webhook ids go after a month.
 */
export function paymentsRetention(financialRetentionYears: number): RetentionRule[] {
  return [
    {
      name: 'payments.payer_after_financial_retention',
      async run(tx: Db, now: Date) {
        const before = new Date(now);
        before.setUTCFullYear(before.getUTCFullYear() - financialRetentionYears);
        const rows = await tx
          .update(payments)
          .set({ payerId: null, cardBrand: null, cardLast4: null, cardFingerprint: null })
          .where(and(lt(payments.createdAt, before), isNotNull(payments.payerId)))
          .returning({ id: payments.id });
        await tx
          .update(refunds)
          .set({ requestedBy: null })
          .where(and(lt(refunds.createdAt, before), isNotNull(refunds.requestedBy)));
        return rows.length;
      },
    },
    {
      name: 'payments.webhook_event_ids',
      async run(tx: Db, now: Date) {
        const rows = await tx
          .delete(paymentEvents)
          .where(lt(paymentEvents.receivedAt, new Date(now.getTime() - EVENT_IDS_DAYS * DAY_MS)))
          .returning({ id: paymentEvents.eventId });
        return rows.length;
      },
    },
  ];
}
