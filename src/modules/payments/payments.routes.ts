import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import {
  CheckoutBody,
  CommissionRuleBody,
  CommissionRuleSchema,
  CommissionRulesSchema,
  EarningsSchema,
  LedgerVerifySchema,
  LinkSchema,
  PaymentSchema,
  PaymentWithRefundsSchema,
  ReconciliationSchema,
  RefundBody,
  RefundSchema,
  SimulateBody,
  SubscriptionSchema,
  SummaryQuery,
  SummarySchema,
  WebhookAckSchema,
} from './payments.schemas.js';
import type { PaymentsService } from './payments.service.js';
import type { GatewayName } from './payments.tables.js';

export const APPLE_PAY_ASSOCIATION_PATH = '/.well-known/apple-developer-merchantid-domain-association';

interface Options {
  payments: PaymentsService;
  isProduction: boolean;
  applePayDomainAssociation?: string;
}

/** The payments module's routes: the API under /api/v1, and the Apple Pay domain file at the root. */
export const paymentsRoutes: FastifyPluginAsyncTypebox<Options> = async (app, options) => {
  await app.register(webhookRoutes, { prefix: '/api/v1', payments: options.payments });
  await app.register(apiRoutes, { prefix: '/api/v1', ...options });

  app.get(
    APPLE_PAY_ASSOCIATION_PATH,
    {
      config: { etag: false },
      schema: {
        operationId: 'payments.applePayDomainAssociation',
        tags: ['payments'],
        summary: 'The Apple Pay domain association file (APPLE_PAY_DOMAIN_ASSOCIATION_FILE); 404 when unset',
        description:
          'Apple checks this file before it shows Apple Pay on a domain. Serve the API and the site from the same domain, or copy the file to the site.',
        response: {
          ...errorResponses('NOT_FOUND'),
          200: {
            description: 'the file, as your gateway gave it',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (_request, reply) => {
      if (!options.applePayDomainAssociation) {
        throw new AppError(
          'NOT_FOUND',
          'Apple Pay domain association is not configured (APPLE_PAY_DOMAIN_ASSOCIATION_FILE)',
        );
      }
      return reply.header('content-type', 'text/plain; charset=utf-8').send(options.applePayDomainAssociation);
    },
  );
};

/**
 * Webhooks: the signature is checked over the body exactly as it arrived, so in this context the
 * JSON body is kept as text. Not rate limited (a gateway's retries must get through); a bad
 * signature is refused with 400 and logged.
 */
const webhookRoutes: FastifyPluginAsyncTypebox<{ payments: PaymentsService }> = async (app, { payments }) => {
  (app as unknown as FastifyInstance).removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  const webhook = (gateway: Exclude<GatewayName, 'simulated'>, signature: string) =>
    app.post(
      `/webhooks/${gateway}`,
      {
        // Signed by the gateway and checked here: inspection would only risk refusing a real event.
        config: { rateLimit: false, inspection: false },
        schema: {
          operationId: `payments.${gateway}Webhook`,
          tags: ['webhooks'],
          summary: `Events from ${gateway === 'stripe' ? 'Stripe' : 'Moyasar'} (register this URL with the gateway)`,
          description: `${signature} A repeated event answers 200 with \`duplicate: true\` and changes nothing; events are applied by the outbox worker, in any order.`,
          response: {
            ...errorResponses('WEBHOOK_SIGNATURE_INVALID', 'UNSUPPORTED_MEDIA_TYPE'),
            200: Success(WebhookAckSchema),
          },
        },
      },
      async (request) => {
        const raw = typeof request.body === 'string' ? request.body : '';
        return { success: true as const, data: await payments.receiveWebhook(gateway, raw, request.headers) };
      },
    );

  webhook(
    'stripe',
    'Verified with the `Stripe-Signature` header (HMAC-SHA256 with STRIPE_WEBHOOK_SECRET, 300 s tolerance).',
  );
  webhook(
    'moyasar',
    "Verified with the body's `secret_token` (MOYASAR_WEBHOOK_SECRET); the payment is then fetched from Moyasar before anything changes.",
  );
};

const apiRoutes: FastifyPluginAsyncTypebox<Options> = async (app, { payments, isProduction }) => {
  const tags = ['payments'];
  const signedIn = { access: requireAuth(), etag: false };

  app.get(
    '/payments/:id',
    {
      config: signedIn,
      schema: {
        operationId: 'payments.get',
        description:
          'The payment of one of your bookings: amount, commission, captured and refunded amounts, method, card brand and last four digits, gateway, and each refund.',
        tags,
        summary: 'One of your payments, with its refunds (another person’s is 404)',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(PaymentWithRefundsSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await payments.getPayment(actorOf(request), request.params.id, { admin: false }),
    }),
  );

  if (!isProduction) {
    app.post(
      '/payments/:id/simulate',
      {
        config: signedIn,
        schema: {
          operationId: 'payments.simulate',
          tags,
          summary: "Development only: the customer's card step on the simulated gateway (404 in production)",
          description:
            '`succeeded` pays, `failed` declines (the booking may be paid again until its hold ends), `requires_action` asks for 3-D Secure first. The outcome is applied as the gateway’s event would be.',
          params: IdParams,
          body: SimulateBody,
          response: {
            ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'PAYMENT_DECLINED'),
            200: Success(PaymentSchema),
          },
        },
      },
      async (request) => ({
        success: true,
        data: await payments.simulate(actorOf(request), request.params.id, request.body.outcome),
      }),
    );
  }

  // --- providers: payout account and earnings ---

  const provider = { access: requirePermission('payouts:manage_own'), etag: false };
  app.post(
    '/provider/payouts/onboarding',
    {
      config: provider,
      schema: {
        operationId: 'payments.startPayoutOnboarding',
        tags: ['provider'],
        summary: 'A link to set up (or finish setting up) your payout account with the gateway',
        description:
          'Open the link in a browser; when the gateway reports the account ready (`account.updated`), your paid services can be published.',
        response: { ...errorResponses('NOT_FOUND', 'PAYMENTS_UNAVAILABLE'), 200: Success(LinkSchema) },
      },
    },
    async (request) => ({ success: true, data: await payments.startOnboarding(actorOf(request)) }),
  );

  app.get(
    '/provider/earnings',
    {
      config: provider,
      schema: {
        operationId: 'payments.getEarnings',
        description:
          'Per currency: gross, platform commission, refunds, net, paid out and pending; your latest payouts; and whether payouts are enabled.',
        tags: ['provider'],
        summary: 'Your earnings by currency (gross, commission, refunds, net, paid out, pending) and latest payouts',
        response: { ...errorResponses('NOT_FOUND'), 200: Success(EarningsSchema) },
      },
    },
    async (request) => ({ success: true, data: await payments.earnings(actorOf(request)) }),
  );

  // --- members: Premium subscription ---

  app.get(
    '/me/subscription',
    {
      config: signedIn,
      schema: {
        operationId: 'payments.getSubscription',
        description:
          "Your plan and, when you subscribed, the subscription's status, interval, period end, whether it cancels at period end and any grace period after a failed renewal.",
        tags: ['me'],
        summary: 'Your plan and your Premium subscription, if any',
        response: { ...errorResponses(), 200: Success(SubscriptionSchema) },
      },
    },
    async (request) => ({ success: true, data: await payments.mySubscription(actorOf(request)) }),
  );

  app.post(
    '/me/subscription/checkout',
    {
      config: { ...signedIn, rateLimit: 'sensitive' },
      schema: {
        operationId: 'payments.startSubscriptionCheckout',
        tags: ['me'],
        summary: 'The checkout page for Premium, monthly or yearly',
        description:
          'Premium starts when the gateway reports the subscription active (its webhook), not when this answers.',
        body: CheckoutBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'CONFLICT', 'PAYMENTS_UNAVAILABLE'),
          200: Success(LinkSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await payments.subscriptionCheckout(actorOf(request), request.body.interval),
    }),
  );

  app.post(
    '/me/subscription/portal',
    {
      config: signedIn,
      schema: {
        operationId: 'payments.openSubscriptionPortal',
        description:
          "A link to the gateway's customer portal for your subscription; open it in a browser. 404 when you have no subscription.",
        tags: ['me'],
        summary: "The gateway's customer portal: change the card, switch plans or cancel",
        response: { ...errorResponses('NOT_FOUND', 'PAYMENTS_UNAVAILABLE'), 200: Success(LinkSchema) },
      },
    },
    async (request) => ({ success: true, data: await payments.subscriptionPortal(actorOf(request)) }),
  );

  // --- admins ---

  const admin = { access: requirePermission('payments:admin'), etag: false };
  const adminTags = ['admin'];

  app.get(
    '/admin/commission-rules',
    {
      config: admin,
      schema: {
        operationId: 'admin.listCommissionRules',
        description:
          "The default commission rate (basis points) and each category's own rate and per-currency minimum and maximum.",
        tags: adminTags,
        summary: 'The default commission and the per-category rules',
        response: { ...errorResponses(), 200: Success(CommissionRulesSchema) },
      },
    },
    async () => ({ success: true, data: await payments.listRules() }),
  );

  app.put(
    '/admin/commission-rules',
    {
      config: admin,
      schema: {
        operationId: 'admin.saveCommissionRule',
        description:
          'Creates or replaces the commission of one category (audited). Payments made from now on use it; earlier ones keep theirs.',
        tags: adminTags,
        summary: "Set a category's commission (rate and per-currency bounds); applies to payments made from now on",
        body: CommissionRuleBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(CommissionRuleSchema) },
      },
    },
    async (request) => ({ success: true, data: await payments.saveRule(actorOf(request), request.body) }),
  );

  app.delete(
    '/admin/commission-rules/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.deleteCommissionRule',
        description: "Removes a category's own commission (audited); its payments use the default rate again.",
        tags: adminTags,
        summary: "Remove a category's rule (the category pays the default again); `id` is the category's",
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await payments.deleteRule(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/admin/payments/summary',
    {
      config: admin,
      schema: {
        operationId: 'admin.paymentsSummary',
        description:
          'Per currency and UTC day in the window: gross merchandise value, commission, refunds and net, with totals. `?format=csv` answers the rows as a CSV attachment.',
        tags: adminTags,
        summary: 'GMV, commission, refunds and net by currency and UTC day (?format=csv answers text/csv)',
        querystring: SummaryQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: {
            description: 'The summary (JSON), or its days as CSV with ?format=csv',
            content: {
              'application/json': { schema: Success(SummarySchema) },
              'text/csv': {
                schema: Type.String({
                  description: 'day,currency,gross_minor,commission_minor,refunds_minor,net_minor',
                }),
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const summary = await payments.summary(request.query);
      if (request.query.format !== 'csv') return reply.send({ success: true, data: summary });
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="payments-${summary.from}-${summary.to}.csv"`)
        .send(payments.csv(summary));
    },
  );

  app.get(
    '/admin/payments/reconciliation',
    {
      config: admin,
      schema: {
        operationId: 'admin.paymentsReconciliation',
        description:
          "For each day and gateway: whether the ledger matched the gateway's balance transactions, how many were checked, and the mismatches.",
        tags: adminTags,
        summary: "The latest daily reconciliations of the ledger with each gateway's balance transactions",
        response: { ...errorResponses(), 200: Success(ReconciliationSchema) },
      },
    },
    async () => ({ success: true, data: await payments.reconciliations() }),
  );

  app.get(
    '/admin/payments/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.getPayment',
        description: 'Any payment with its amounts, method, gateway and refunds.',
        tags: adminTags,
        summary: 'Any payment, with its refunds',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(PaymentWithRefundsSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await payments.getPayment(actorOf(request), request.params.id, { admin: true }),
    }),
  );

  app.post(
    '/admin/payments/:id/refunds',
    {
      config: admin,
      schema: {
        operationId: 'admin.refundPayment',
        tags: adminTags,
        summary:
          'Refund any amount up to what is left of the capture (audited); the commission is reversed in proportion',
        description:
          'Answers 202 with the refund `pending`: the gateway carries it out and the customer gets a refund notice when it succeeds.',
        params: IdParams,
        body: RefundBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'INVALID_STATE', 'REFUND_EXCEEDS_CAPTURE'),
          202: Success(RefundSchema),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send({ success: true, data: await payments.adminRefund(actorOf(request), request.params.id, request.body) }),
  );

  app.get(
    '/admin/ledger/verify',
    {
      config: admin,
      schema: {
        operationId: 'admin.verifyLedger',
        description:
          'Walks the double-entry ledger: answers `ok`, the number of entries and lines checked, and each problem found (an unbalanced entry, a paid payment without exactly one capture).',
        tags: adminTags,
        summary: 'Checks that every ledger entry balances and every paid payment has exactly one capture entry',
        response: { ...errorResponses(), 200: Success(LedgerVerifySchema) },
      },
    },
    async () => ({ success: true, data: await payments.verifyLedger() }),
  );
};
