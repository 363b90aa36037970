import type { Config } from '../../config.js';
import { notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { IdentityService } from '../identity/index.js';
import type { Notify } from '../notifications/index.js';
import type { Gateways } from './gateways/index.js';
import { createBookingPayments } from './payments.bookings.js';
import { createCommissionRules } from './payments.commission-rules.js';
import { gatewayError, toPublicPayment } from './payments.core.js';
import { createPaymentEvents, type PaymentEvents } from './payments.events.js';
import { createLedger, verifyLedger } from './payments.ledger.js';
import { createPayouts } from './payments.payouts.js';
import { createReconciliation } from './payments.reconciliation.js';
import { createRefunds, toPublicRefund } from './payments.refunds.js';
import type { PaymentsRepository } from './payments.repository.js';
import { createSettlement } from './payments.settlement.js';
import { createSubscriptions } from './payments.subscriptions.js';
import { createRevenueSummary } from './payments.summary.js';
import type { PaymentRow } from './payments.tables.js';

export interface PaymentsServiceDeps {
  db: Db;
  repository: PaymentsRepository;
  gateways: Gateways;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  notify: Notify;
  catalog: Pick<CatalogService, 'providerOfUser' | 'setPayoutsEnabled'>;
  identity: Pick<IdentityService, 'getAccount' | 'applySubscriptionPlan'>;
  clock: Clock;
  ids: IdGenerator;
  metrics: Metrics;
  logger: Logger;
  config: Config['payments'] & { publicAppUrl: string; isProduction: boolean };
  /** Where a gateway answer that cannot be ours is reported (the security monitor listens). */
  events?: Pick<EventBus, 'publish'>;
}

/** The payments module's use cases as one service (each lives in its own payments.*.ts file). */
export function createPaymentsService(deps: PaymentsServiceDeps) {
  const { db, repository, gateways, clock, ids, config } = deps;
  const ledger = createLedger({ ids, clock });
  const settlement = createSettlement({
    repository,
    ledger,
    outbox: deps.outbox,
    notify: deps.notify,
    clock,
    business: deps.metrics.business,
    events: deps.events,
  });
  const refunds = createRefunds({
    db,
    repository,
    settlement,
    gatewayOf: (name) => gateways.of(name),
    outbox: deps.outbox,
    audit: deps.audit,
    clock,
    ids,
    logger: deps.logger,
  });
  const bookingPayments = createBookingPayments({
    db,
    repository,
    gateways,
    settlement,
    refunds,
    outbox: deps.outbox,
    clock,
    ids,
    commissionRateBps: config.commissionRateBps,
    publicAppUrl: config.publicAppUrl,
    publishableKey: config.stripe?.publishableKey,
  });
  // What the simulated gateway reports goes the webhooks' way, once the call that caused it returns.
  let events: PaymentEvents | undefined;
  /**
   * Feeds what the simulated gateway said to the event pipeline. Never throws: it runs after the
   * gateway call, whose answer stands; an event that cannot be stored is logged (development only).
   */
  const relaySimulated = async () => {
    if (!gateways.simulated || !events) return;
    for (const event of gateways.simulated.drainEvents()) {
      try {
        await events.accept(event);
      } catch (error) {
        deps.logger.error({ err: error, event_id: event.id }, 'payments: a simulated gateway event was not stored');
      }
    }
  };
  const payouts = createPayouts({
    db,
    repository,
    gateways,
    ledger,
    catalog: deps.catalog,
    identity: deps.identity,
    relaySimulated,
    clock,
    ids,
    publicAppUrl: config.publicAppUrl,
  });
  const subscriptions = createSubscriptions({
    db,
    repository,
    gateways,
    settlement,
    identity: deps.identity,
    relaySimulated,
    clock,
    ids,
    publicAppUrl: config.publicAppUrl,
    prices: config.stripe?.prices ?? {},
    graceDays: config.subscriptionGraceDays,
    business: deps.metrics.business,
  });
  events = createPaymentEvents({
    db,
    repository,
    gateways,
    settlement,
    reactions: { ...payouts.reactions, ...subscriptions.reactions },
    outbox: deps.outbox,
    clock,
    metrics: deps.metrics,
    logger: deps.logger,
  });
  const { accept, receiveWebhook, applyEvent } = events;
  /** A gateway call's wrapper that relays what the simulated gateway said meanwhile. */
  const relaying =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } finally {
        await relaySimulated();
      }
    };
  const reconciliation = createReconciliation({
    db,
    repository,
    gateways,
    ledger,
    clock,
    metrics: deps.metrics,
    logger: deps.logger,
  });

  return {
    ...bookingPayments,
    startBookingPayment: relaying(bookingPayments.startBookingPayment),
    cancelIntent: relaying(bookingPayments.cancelIntent),
    executeRefund: relaying(refunds.executeRefund),
    adminRefund: refunds.adminRefund,
    receiveWebhook,
    applyEvent,
    startOnboarding: payouts.startOnboarding,
    earnings: payouts.earnings,
    subscriptionCheckout: subscriptions.checkout,
    subscriptionPortal: subscriptions.portal,
    mySubscription: subscriptions.mine,
    lapseGrace: subscriptions.lapseGrace,
    reconcile: reconciliation.runOnce,
    reconciliations: reconciliation.latest,
    ...createCommissionRules({
      db,
      repository,
      audit: deps.audit,
      clock,
      defaultRateBps: config.commissionRateBps,
    }),
    ...createRevenueSummary({ db, clock }),

    /** GET /payments/:id (the payer) and GET /admin/payments/:id: the payment and its refunds. */
    async getPayment(actor: Actor, id: string, options: { admin: boolean }) {
      const payment = await repository.findPayment(db, id);
      if (!payment || (!options.admin && payment.payerId !== actor.id)) throw notFound('Payment');
      const rows = await repository.refundsOf(db, id);
      return { ...toPublicPayment(payment), refunds: rows.map(toPublicRefund) };
    },

    /**
     * POST /payments/:id/simulate: the customer's card step on the simulated gateway (development
     * without keys). Its outcome comes back as an event, like a real gateway's webhook.
     */
    async simulate(actor: Actor, id: string, outcome: 'succeeded' | 'failed' | 'requires_action') {
      const payment = await repository.findPayment(db, id);
      const { simulated } = gateways;
      if (!simulated || !payment || payment.gateway !== 'simulated' || payment.payerId !== actor.id) {
        throw notFound('Payment');
      }
      let result: ReturnType<typeof simulated.simulate>;
      try {
        result = simulated.simulate(payment.gatewayPaymentId, outcome);
      } catch (error) {
        throw gatewayError(error);
      }
      await accept(result.event);
      // The outbox applies the event shortly; applying it now lets the answer show the new state.
      const updated = await inTransaction(db, async (tx) => {
        const current = (await repository.findPayment(tx, id, { forUpdate: true })) as PaymentRow;
        return settlement.applyPaymentState(tx, current, result.payment);
      });
      return toPublicPayment(updated);
    },

    /** GET /admin/ledger/verify: the same check as `npm run ledger:verify`, its findings as sentences. */
    async verifyLedger() {
      const result = await verifyLedger(db);
      const problems = [
        ...result.unbalanced.map((row) => `entry ${row.entryId} does not balance in ${row.currency ?? '(no lines)'}`),
        ...result.paidWithoutCapture.map(
          (row) =>
            `payment ${row.paymentId} captured ${row.capturedMinor} but has ${row.captureEntries} capture entries`,
        ),
        ...result.capturesWithoutPayment.map((row) => `capture entry ${row.entryId} has no captured payment`),
        ...result.refundsWithoutEntry.map((row) => `refund ${row.refundId} has ${row.refundEntries} refund entries`),
        ...result.refundEntriesWithoutRefund.map((row) => `refund entry ${row.entryId} has no succeeded refund`),
      ];
      return { ok: result.ok, entries: result.entries, lines: result.lines, problems };
    },
  };
}

export type PaymentsService = ReturnType<typeof createPaymentsService>;
