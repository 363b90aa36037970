import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Gateways } from './gateways/index.js';
import { eventFromPayload, eventToPayload, PAYMENT_EVENT } from './payments.core.js';
import { type GatewayEvent, WebhookSignatureError } from './payments.gateway.js';
import type { PaymentsRepository } from './payments.repository.js';
import type { Settlement } from './payments.settlement.js';
import type { GatewayName, PaymentRow, RefundRow } from './payments.tables.js';

type Of<K extends GatewayEvent['kind']> = Extract<GatewayEvent, { kind: K }>;

/** Where the kinds of event this file does not apply itself go (payouts, subscriptions). */
export interface EventReactions {
  account(tx: Db, event: Of<'account'>): Promise<void>;
  payout(tx: Db, event: Of<'payout'>): Promise<void>;
  checkout(tx: Db, event: Of<'checkout'>): Promise<void>;
  subscription(tx: Db, event: Of<'subscription'>): Promise<void>;
  invoice(tx: Db, event: Of<'invoice'>): Promise<void>;
}

/**
 * Gateway events, from receipt to effect. A webhook's signature is checked over the raw body; its
 * event id is stored once (a repeat answers 200 and does nothing) and its work is queued in the
 * outbox in the same transaction, so a crash between receipt and processing loses nothing. The
 * outbox worker then applies it in its own transaction, in whatever order events come.
 */
export function createPaymentEvents(deps: {
  db: Db;
  repository: PaymentsRepository;
  gateways: Pick<Gateways, 'of'>;
  settlement: Pick<Settlement, 'applyPaymentState' | 'finishRefund'>;
  reactions: EventReactions;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  metrics: Metrics;
  logger: Pick<Logger, 'warn' | 'info'>;
}) {
  const { db, repository, clock } = deps;

  /** Stores the event once and queues its work; false when it was seen before. */
  const accept = async (event: GatewayEvent): Promise<boolean> =>
    inTransaction(db, async (tx) => {
      const first = await repository.recordEvent(tx, {
        gateway: event.gateway,
        eventId: event.id,
        type: event.gatewayType,
        receivedAt: clock.now(),
      });
      if (first) await deps.outbox.enqueue(tx, { type: PAYMENT_EVENT, payload: eventToPayload(event) });
      return first;
    });

  const paymentOf = async (tx: Db, gateway: GatewayName, gatewayId: string, metadataId?: string) =>
    (await repository.findPaymentByGatewayId(tx, gateway, gatewayId, { forUpdate: true })) ??
    (metadataId ? await repository.findPayment(tx, metadataId, { forUpdate: true }) : undefined);

  return {
    /** POST /webhooks/:gateway. Throws 400 WEBHOOK_SIGNATURE_INVALID for a bad or stale signature. */
    async receiveWebhook(
      gateway: GatewayName,
      rawBody: string,
      headers: Record<string, string | string[] | undefined>,
    ): Promise<{ received: true; duplicate: boolean }> {
      let event: GatewayEvent;
      try {
        event = deps.gateways.of(gateway).parseWebhook(rawBody, headers);
      } catch (error) {
        if (!(error instanceof WebhookSignatureError)) throw error;
        deps.metrics.paymentWebhooks.inc({ gateway, outcome: 'bad_signature' });
        deps.logger.warn(
          { gateway, reason: error.message, security_event: 'webhook_signature_invalid' },
          'payments: webhook refused',
        );
        throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'The webhook signature does not verify');
      }
      const first = await accept(event);
      deps.metrics.paymentWebhooks.inc({ gateway, outcome: first ? 'accepted' : 'duplicate' });
      return { received: true, duplicate: !first };
    },

    /** An event the server produced itself (the simulated gateway): the same path as a webhook's. */
    accept,

    /** The outbox handler: applies one event. */
    async applyEvent(payload: Record<string, unknown>): Promise<void> {
      const event = eventFromPayload(payload);
      if (event.kind === 'ignored') return;
      if (event.kind === 'payment') {
        // A Moyasar webhook is only a hint: the payment as the gateway tells it now is what counts.
        let gatewayPayment =
          event.gateway === 'moyasar'
            ? await deps.gateways.of('moyasar').retrieveIntent(event.payment.id)
            : event.payment;
        // A Stripe event's intent names its charge without expanding it: the card is read from Stripe.
        if (event.gateway === 'stripe' && gatewayPayment.status === 'succeeded' && !gatewayPayment.method) {
          const { method, cardBrand, cardLast4, cardFingerprint } = await deps.gateways
            .of('stripe')
            .retrieveIntent(event.payment.id);
          gatewayPayment = { ...gatewayPayment, method, cardBrand, cardLast4, cardFingerprint };
        }
        await inTransaction(db, async (tx) => {
          const payment = await paymentOf(tx, event.gateway, gatewayPayment.id, gatewayPayment.metadata.payment_id);
          if (!payment) {
            deps.logger.info(
              { gateway: event.gateway, id: gatewayPayment.id },
              'payments: event for an unknown payment',
            );
            return;
          }
          await deps.settlement.applyPaymentState(tx, payment as PaymentRow, gatewayPayment);
        });
        return;
      }
      if (event.kind === 'refund') {
        const { refund } = event;
        const outcome = refund.status;
        if (outcome === 'pending') return;
        await inTransaction(db, async (tx) => {
          const row =
            (await repository.findRefundByGatewayId(tx, refund.id, { forUpdate: true })) ??
            (refund.metadata.refund_id
              ? await repository.findRefund(tx, refund.metadata.refund_id, { forUpdate: true })
              : undefined);
          if (!row) return;
          await deps.settlement.finishRefund(tx, row as RefundRow, outcome, refund.id);
        });
        return;
      }
      await inTransaction(db, async (tx) => {
        if (event.kind === 'account') await deps.reactions.account(tx, event);
        else if (event.kind === 'payout') await deps.reactions.payout(tx, event);
        else if (event.kind === 'checkout') await deps.reactions.checkout(tx, event);
        else if (event.kind === 'subscription') await deps.reactions.subscription(tx, event);
        else await deps.reactions.invoice(tx, event);
      });
    },
  };
}

export type PaymentEvents = ReturnType<typeof createPaymentEvents>;
