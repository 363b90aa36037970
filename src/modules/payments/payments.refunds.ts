import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import { DeferDelivery, type Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import { REFUND_EXECUTE } from './payments.core.js';
import { GatewayDeclinedError, type PaymentGateway } from './payments.gateway.js';
import { refundSplit } from './payments.money.js';
import type { PaymentsRepository } from './payments.repository.js';
import type { Settlement } from './payments.settlement.js';
import type { GatewayName, PaymentRow, RefundRow, RefundSource } from './payments.tables.js';

/** Gateways whose refund call takes an idempotency key, so a retried call never refunds twice. */
const IDEMPOTENT_REFUNDS: ReadonlySet<GatewayName> = new Set(['stripe', 'simulated']);

export const toPublicRefund = (row: RefundRow) => ({
  id: row.id,
  payment_id: row.paymentId,
  amount_minor: row.amountMinor,
  commission_reversed_minor: row.commissionReversedMinor,
  source: row.source,
  reason: row.reason ?? null,
  status: row.status,
  created_at: row.createdAt.toISOString(),
});

/**
 * Refunds: asked for in the transaction of whatever causes them (a cancellation, an admin),
 * carried out by the outbox worker against the gateway (never inside a request's transaction),
 * finished when the gateway confirms. The amount is reserved on the payment when the refund is
 * asked for, under the payment's row lock, so concurrent refunds can never add up to more than
 * the capture (the database checks `refunded_minor <= captured_minor` as well).
 */
export function createRefunds(deps: {
  db: Db;
  repository: PaymentsRepository;
  settlement: Pick<Settlement, 'finishRefund'>;
  gatewayOf: (name: GatewayName) => PaymentGateway;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  clock: Clock;
  ids: IdGenerator;
  logger: Pick<Logger, 'warn'>;
}) {
  const { db, repository, clock } = deps;

  /** Asks for a refund of `amountMinor` of a locked, captured payment, in the caller's transaction. */
  const requestRefund = async (
    tx: Db,
    payment: PaymentRow,
    input: { amountMinor: number; source: RefundSource; reason?: string; requestedBy?: string },
  ): Promise<RefundRow> => {
    if (payment.status !== 'succeeded' && payment.status !== 'partially_refunded') {
      throw new AppError('INVALID_STATE', `A ${payment.status} payment cannot be refunded`);
    }
    const left = payment.capturedMinor - payment.refundedMinor;
    if (input.amountMinor > left) {
      throw new AppError('REFUND_EXCEEDS_CAPTURE', `At most ${left} (minor units) is left to refund`);
    }
    const earlier = (await repository.refundsOf(tx, payment.id)).filter((refund) => refund.status !== 'failed');
    const split = refundSplit({
      refundMinor: input.amountMinor,
      amountMinor: payment.capturedMinor,
      commissionMinor: payment.commissionMinor,
      alreadyRefundedMinor: payment.refundedMinor,
      alreadyReversedCommissionMinor: earlier.reduce((sum, refund) => sum + refund.commissionReversedMinor, 0),
    });
    const now = clock.now();
    const refund = await repository.insertRefund(tx, {
      id: deps.ids(),
      paymentId: payment.id,
      amountMinor: input.amountMinor,
      commissionReversedMinor: split.commissionReversedMinor,
      source: input.source,
      reason: input.reason ?? null,
      status: 'pending',
      requestedBy: input.requestedBy ?? null,
      createdAt: now,
      updatedAt: now,
    });
    await repository.updatePayment(tx, payment.id, {
      refundedMinor: payment.refundedMinor + input.amountMinor,
      updatedAt: now,
    });
    await deps.outbox.enqueue(tx, { type: REFUND_EXECUTE, payload: { refund_id: refund.id } });
    return refund;
  };

  /**
   * For a gateway that takes no idempotency key for refunds (Moyasar): one refund of a payment at
   * a time, oldest first, and before sending it, the gateway's refunded total says whether an
   * earlier try already went through (its answer lost to a timeout or a crash).
   */
  const alreadyRefunded = async (
    refund: RefundRow,
    payment: PaymentRow,
    gateway: PaymentGateway,
  ): Promise<{ outcome?: 'succeeded'; gatewayRefundId?: string }> => {
    const all = await repository.refundsOf(db, payment.id);
    if (all.some((other) => other.status === 'pending' && other.id < refund.id)) {
      throw new DeferDelivery(
        new Date(clock.now().getTime() + 5_000),
        'an earlier refund of this payment is under way',
      );
    }
    const succeededMinor = all
      .filter((other) => other.status === 'succeeded')
      .reduce((sum, other) => sum + other.amountMinor, 0);
    const atGateway = await gateway.retrieveIntent(payment.gatewayPaymentId);
    if (atGateway.refundedMinor < succeededMinor + refund.amountMinor) return {};
    deps.logger.warn({ refund_id: refund.id }, 'payments: a refund found already made at the gateway');
    return {
      outcome: 'succeeded' as const,
      gatewayRefundId: `${payment.gatewayPaymentId}:refund:${succeededMinor + refund.amountMinor}`,
    };
  };

  return {
    requestRefund,

    /**
     * The outbox handler: sends the refund to the gateway (its idempotency key is the refund's id,
     * so a retried delivery never refunds twice) and records the answer. A gateway that does not
     * answer throws, and the outbox tries again later.
     */
    async executeRefund(payload: Record<string, unknown>): Promise<void> {
      const refundId = String(payload.refund_id);
      const refund = await repository.findRefund(db, refundId);
      if (refund?.status !== 'pending') return;
      const payment = (await repository.findPayment(db, refund.paymentId)) as PaymentRow;
      const gateway = deps.gatewayOf(payment.gateway);
      let outcome: 'succeeded' | 'failed' | 'pending' | undefined;
      let gatewayRefundId: string | undefined;
      if (!IDEMPOTENT_REFUNDS.has(payment.gateway)) {
        ({ outcome, gatewayRefundId } = await alreadyRefunded(refund, payment, gateway));
      }
      // Unless an earlier try is found to have gone through, the refund is sent now.
      if (!outcome) {
        try {
          const answer = await gateway.refund({
            gatewayPaymentId: payment.gatewayPaymentId,
            amountMinor: refund.amountMinor,
            currency: payment.currency,
            idempotencyKey: `refund:${refund.id}`,
            // A destination charge takes the provider's share back from their account, and our fee.
            reverseTransfer: payment.destinationAccountId !== null,
            refundApplicationFee: payment.destinationAccountId !== null,
            metadata: { refund_id: refund.id, payment_id: payment.id },
          });
          outcome = answer.status;
          gatewayRefundId = answer.id;
        } catch (error) {
          if (!(error instanceof GatewayDeclinedError)) throw error;
          deps.logger.warn({ refund_id: refund.id, reason: error.message }, 'payments: the gateway refused a refund');
          outcome = 'failed';
        }
      }
      const answered = outcome;
      await inTransaction(db, async (tx) => {
        const current = (await repository.findRefund(tx, refund.id, { forUpdate: true })) as RefundRow;
        if (answered === 'pending') {
          // The gateway's refund event finishes it.
          if (gatewayRefundId)
            await repository.updateRefund(tx, current.id, { gatewayRefundId, updatedAt: clock.now() });
          return;
        }
        await deps.settlement.finishRefund(tx, current, answered, gatewayRefundId);
      });
    },

    /** POST /admin/payments/:id/refunds: any amount up to what is left, audited. */
    async adminRefund(actor: Actor, paymentId: string, input: { amount_minor: number; reason: string }) {
      const refund = await inTransaction(db, async (tx) => {
        const payment = await repository.findPayment(tx, paymentId, { forUpdate: true });
        if (!payment) throw notFound('Payment');
        const created = await requestRefund(tx, payment, {
          amountMinor: input.amount_minor,
          source: 'admin',
          reason: input.reason,
          requestedBy: actor.id,
        });
        await deps.audit.record(tx, auditContextOf(actor), {
          action: 'payments.refund_requested',
          targetType: 'payment',
          targetId: payment.id,
          details: { amount_minor: input.amount_minor, currency: payment.currency, reason: input.reason },
        });
        return created;
      });
      return toPublicRefund(refund);
    },

    async refundsOfPayment(paymentId: string) {
      const payment = await repository.findPayment(db, paymentId);
      if (!payment) throw notFound('Payment');
      return (await repository.refundsOf(db, paymentId)).map(toPublicRefund);
    },
  };
}

export type Refunds = ReturnType<typeof createRefunds>;
