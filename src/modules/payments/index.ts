import { createPeriodicJob, type PeriodicJob } from '../../infra/periodic.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { IdentityService } from '../identity/index.js';
import type { Notify } from '../notifications/index.js';
import { createGateways } from './gateways/index.js';
import { INTENT_CANCEL, PAYMENT_EVENT, REFUND_EXECUTE } from './payments.core.js';
import { paymentsPersonalData, paymentsRetention } from './payments.privacy.js';
import { createPaymentsRepository } from './payments.repository.js';
import { paymentsRoutes } from './payments.routes.js';
import { createPaymentsSeeder } from './payments.seed.js';
import { createPaymentsService, type PaymentsService } from './payments.service.js';

export type { BookingCharge } from './payments.bookings.js';
export { BOOKING_PAYMENT_CHANGED } from './payments.core.js';
export type { CancelledBy } from './payments.money.js';
export { type PaymentAction, PaymentActionSchema, PaymentSchema, type PublicPayment } from './payments.schemas.js';
export type { PaymentsService } from './payments.service.js';
export { PAYMENT_METHODS, PAYMENT_STATUSES, type PaymentMethod } from './payments.tables.js';

const HOUR_MS = 3_600_000;

export type PaymentsModule = ModuleDescriptor<'payments', PaymentsService> & {
  jobs: { paymentsReconcile: PeriodicJob<unknown>; subscriptionGrace: PeriodicJob<number> };
};

/**
 * Taking money: booking payments through Stripe, Moyasar or (in development) the simulated
 * gateway, the platform's commission, refunds, providers' payouts, Premium subscriptions, the
 * double-entry ledger and its daily reconciliation with the gateways.
 */
export function createPaymentsModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    notify: Notify;
    catalog: Pick<CatalogService, 'providerOfUser' | 'setPayoutsEnabled'>;
    identity: Pick<IdentityService, 'getAccount' | 'applySubscriptionPlan'>;
  },
): PaymentsModule {
  const { config } = platform;
  const logger = platform.logger.child({ component: 'payments' });
  const repository = createPaymentsRepository();
  const gateways = createGateways(config.payments, {
    isProduction: config.isProduction,
    clock: platform.clock,
    ids: platform.ids,
    publicAppUrl: config.publicAppUrl,
  });
  const service = createPaymentsService({
    db: platform.db,
    repository,
    gateways,
    outbox: platform.outbox,
    audit: deps.audit,
    notify: deps.notify,
    catalog: deps.catalog,
    identity: deps.identity,
    clock: platform.clock,
    ids: platform.ids,
    metrics: platform.metrics,
    events: platform.events,
    logger,
    config: { ...config.payments, publicAppUrl: config.publicAppUrl, isProduction: config.isProduction },
  });
  return {
    name: 'payments',
    service,
    // The API under /api/v1 and the Apple Pay domain file at the root.
    prefix: '',
    routes: async (app) =>
      app.register(paymentsRoutes, {
        payments: service,
        isProduction: config.isProduction,
        applePayDomainAssociation: config.payments.applePayDomainAssociation,
      }),
    dataMap: paymentsPersonalData({ repository, financialRetentionYears: config.payments.financialRetentionYears }),
    retention: paymentsRetention(config.payments.financialRetentionYears),
    outboxHandlers: [
      // Gateways retry for days; so do we, a refund or an event must never be dropped.
      { type: PAYMENT_EVENT, handle: service.applyEvent, options: { maxAttempts: 25 } },
      { type: REFUND_EXECUTE, handle: service.executeRefund, options: { maxAttempts: 25 } },
      { type: INTENT_CANCEL, handle: service.cancelIntent, options: { maxAttempts: 25 } },
    ],
    health: gateways.health(),
    seeders: [
      createPaymentsSeeder({
        clock: platform.clock,
        ids: platform.ids,
        commissionRateBps: config.payments.commissionRateBps,
      }),
    ],
    jobs: {
      paymentsReconcile: createPeriodicJob({
        name: 'payments-reconcile',
        intervalMs: config.payments.reconcileIntervalMs,
        run: () => service.reconcile(),
        logger,
      }),
      subscriptionGrace: createPeriodicJob({
        name: 'subscription-grace',
        intervalMs: HOUR_MS,
        run: () => service.lapseGrace(),
        logger,
      }),
    },
  };
}
