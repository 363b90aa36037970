import { and, eq, gte, lt } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Gateways } from './gateways/index.js';
import type { BalanceTransaction } from './payments.gateway.js';
import type { Ledger } from './payments.ledger.js';
import type { PaymentsRepository } from './payments.repository.js';
import { GATEWAYS, type GatewayName, ledgerEntries, payments, payouts, refunds } from './payments.tables.js';

const DAY_MS = 86_400_000;
const utcDay = (date: Date) => date.toISOString().slice(0, 10);

/**
 * The daily check that our books agree with the gateway's: every charge, refund and payout the
 * gateway reports for the day has its ledger entry with the same amount, and every capture we
 * recorded that day appears at the gateway. Gateway fees, which only the gateway knows, are
 * entered in the ledger here. Mismatches are stored, shown to admins and exported as a metric.
 */
export function createReconciliation(deps: {
  db: Db;
  repository: PaymentsRepository;
  gateways: Pick<Gateways, 'of'>;
  ledger: Pick<Ledger, 'recordFee'>;
  clock: Clock;
  metrics: Metrics;
  logger: Pick<Logger, 'warn' | 'info'>;
}) {
  const { db, repository } = deps;

  const compare = async (gateway: GatewayName, transactions: BalanceTransaction[], from: Date, to: Date) => {
    const mismatches: { reference: string; reason: string }[] = [];
    const seenPayments = new Set<string>();
    for (const transaction of transactions) {
      if (transaction.type === 'charge') {
        seenPayments.add(transaction.sourceId);
        const [payment] = await db
          .select()
          .from(payments)
          .where(and(eq(payments.gateway, gateway), eq(payments.gatewayPaymentId, transaction.sourceId)));
        if (!payment || payment.capturedMinor === 0) {
          mismatches.push({
            reference: transaction.id,
            reason: `charge ${transaction.sourceId} has no capture in the ledger`,
          });
        } else if (payment.capturedMinor !== transaction.amountMinor || payment.currency !== transaction.currency) {
          mismatches.push({
            reference: transaction.id,
            reason: `charge ${transaction.sourceId}: gateway ${transaction.amountMinor} ${transaction.currency}, ledger ${payment.capturedMinor} ${payment.currency}`,
          });
        }
      } else if (transaction.type === 'refund') {
        const [refund] = await db.select().from(refunds).where(eq(refunds.gatewayRefundId, transaction.sourceId));
        if (refund?.status !== 'succeeded' || refund.amountMinor !== Math.abs(transaction.amountMinor)) {
          mismatches.push({
            reference: transaction.id,
            reason: `refund ${transaction.sourceId} is not in the ledger as reported`,
          });
        }
      } else if (transaction.type === 'payout') {
        const [payout] = await db
          .select()
          .from(payouts)
          .where(and(eq(payouts.gateway, gateway), eq(payouts.gatewayPayoutId, transaction.sourceId)));
        if (!payout)
          mismatches.push({
            reference: transaction.id,
            reason: `payout ${transaction.sourceId} was never reported to us`,
          });
      }
      if (transaction.feeMinor > 0) {
        await inTransaction(db, (tx) =>
          deps.ledger.recordFee(tx, {
            reference: transaction.id,
            gateway,
            currency: transaction.currency,
            amountMinor: transaction.feeMinor,
            occurredAt: transaction.createdAt,
          }),
        );
      }
    }
    // Every capture the ledger booked that day, by the capture entry's own time: a payment
    // updated later (a refund) still counts on the day its money moved.
    const captured = await db
      .select({ gatewayPaymentId: payments.gatewayPaymentId })
      .from(ledgerEntries)
      .innerJoin(payments, eq(payments.id, ledgerEntries.paymentId))
      .where(
        and(
          eq(ledgerEntries.kind, 'capture'),
          eq(payments.gateway, gateway),
          gte(ledgerEntries.occurredAt, from),
          lt(ledgerEntries.occurredAt, to),
        ),
      );
    for (const payment of captured) {
      if (!seenPayments.has(payment.gatewayPaymentId)) {
        mismatches.push({
          reference: payment.gatewayPaymentId,
          reason: 'captured in the ledger but not reported by the gateway',
        });
      }
    }
    return mismatches;
  };

  return {
    /** Reconciles one UTC day (default: yesterday) for every gateway that can list its transactions. */
    async runOnce(day = utcDay(new Date(deps.clock.now().getTime() - DAY_MS))) {
      const from = new Date(`${day}T00:00:00.000Z`);
      const to = new Date(from.getTime() + DAY_MS);
      const results: { gateway: GatewayName; status: string; mismatches: number }[] = [];
      for (const name of GATEWAYS) {
        const gateway = deps.gateways.of(name);
        if (!gateway.configured || !gateway.balanceTransactions) continue;
        let status: 'matched' | 'mismatched' | 'failed';
        let mismatches: { reference: string; reason: string }[] = [];
        let checked = 0;
        try {
          const transactions = await gateway.balanceTransactions({ from, to });
          checked = transactions.length;
          mismatches = await compare(name, transactions, from, to);
          status = mismatches.length > 0 ? 'mismatched' : 'matched';
        } catch (error) {
          deps.logger.warn({ err: error, gateway: name, day }, 'payments: reconciliation could not read the gateway');
          status = 'failed';
        }
        deps.metrics.reconciliationMismatches.set({ gateway: name }, mismatches.length);
        await repository.saveReconciliation(db, {
          day,
          gateway: name,
          status,
          checked,
          mismatches,
          ranAt: deps.clock.now(),
        });
        results.push({ gateway: name, status, mismatches: mismatches.length });
      }
      if (results.some((result) => result.mismatches > 0)) {
        deps.logger.warn({ day, results }, 'payments: the ledger and a gateway disagree');
      }
      return results;
    },

    /** GET /admin/payments/reconciliation: the latest runs, newest first. */
    async latest(limit = 30) {
      return (await repository.reconciliations(db, limit)).map((row) => ({
        day: row.day,
        gateway: row.gateway,
        status: row.status,
        checked: row.checked,
        mismatches: row.mismatches,
        ran_at: row.ranAt.toISOString(),
      }));
    },
  };
}
