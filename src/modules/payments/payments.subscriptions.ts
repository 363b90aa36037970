import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import { effectivePlan, type IdentityService } from '../identity/index.js';
import type { Gateways } from './gateways/index.js';
import { gatewayError, paymentsUnavailable } from './payments.core.js';
import type { EventReactions } from './payments.events.js';
import type { GatewayEvent, PaymentGateway } from './payments.gateway.js';
import type { PaymentsRepository } from './payments.repository.js';
import type { Settlement } from './payments.settlement.js';
import type { SubscriptionRow, SubscriptionStatus } from './payments.tables.js';

type Of<K extends GatewayEvent['kind']> = Extract<GatewayEvent, { kind: K }>;
const DAY_MS = 86_400_000;
const ENDS_PREMIUM: readonly SubscriptionStatus[] = ['past_due', 'canceled', 'unpaid', 'incomplete_expired'];

/** What a subscription state gives: Premium while active or trialing, and while past due within its grace. */
const grantsPremium = (status: SubscriptionStatus | null, graceUntil: Date | null, now: Date) =>
  status === 'active' || status === 'trialing' || (status === 'past_due' && graceUntil !== null && graceUntil > now);

/**
 * Premium by subscription (Stripe Billing): a hosted checkout starts it, the customer portal
 * manages it, and the gateway's events decide the plan — Premium while active or trialing,
 * kept through a grace period while past due, back to free when it ends. Events may come twice
 * or out of order: one older than the last applied never overwrites a newer state.
 */
export function createSubscriptions(deps: {
  db: Db;
  repository: PaymentsRepository;
  gateways: Gateways;
  settlement: Pick<Settlement, 'applyPaymentState'>;
  identity: Pick<IdentityService, 'getAccount' | 'applySubscriptionPlan'>;
  /** Takes in what the simulated gateway reported, the way a webhook would have. */
  relaySimulated: () => Promise<void>;
  clock: Clock;
  ids: IdGenerator;
  publicAppUrl: string;
  prices: { monthly?: string; yearly?: string };
  graceDays: number;
  business: Pick<BusinessMetrics, 'subscriptionStarted'>;
}) {
  const { db, repository, clock } = deps;

  const billingGateway = (): PaymentGateway => {
    const { stripe, simulated } = deps.gateways;
    if (stripe.configured) return stripe;
    if (simulated && !deps.gateways.moyasar.configured) return simulated;
    throw paymentsUnavailable();
  };

  /**
   * Applies the plan the subscription now gives, in the caller's transaction. A checkout not yet
   * paid (`incomplete`) changes nothing: only an ended or lapsed subscription takes Premium away.
   */
  const settlePlan = async (tx: Db, row: SubscriptionRow, reason: string) => {
    if (grantsPremium(row.status, row.graceUntil, clock.now())) {
      const bought = await deps.identity.applySubscriptionPlan(tx, row.userId, 'premium', reason);
      if (bought) deps.business.subscriptionStarted(row.interval);
    } else if (row.status !== null && ENDS_PREMIUM.includes(row.status)) {
      await deps.identity.applySubscriptionPlan(tx, row.userId, 'free', reason);
    }
  };

  const reactions: Pick<EventReactions, 'checkout' | 'subscription' | 'invoice'> = {
    async checkout(tx: Db, event: Of<'checkout'>) {
      const { userId, customerId, subscriptionId } = event.checkout;
      const now = clock.now();
      await repository.saveCheckout(tx, {
        userId,
        gateway: event.gateway,
        customerId,
        subscriptionId,
        createdAt: now,
        updatedAt: now,
      });
    },

    async subscription(tx: Db, event: Of<'subscription'>) {
      const incoming = event.subscription;
      const now = clock.now();
      let row = await repository.subscriptionByCustomer(tx, event.gateway, incoming.customerId, { forUpdate: true });
      // Events come in any order: one that beats the checkout's names its member in its metadata.
      if (!row && incoming.userId && (await deps.identity.getAccount(incoming.userId, tx))) {
        row = await repository.saveSubscription(tx, {
          userId: incoming.userId,
          gateway: event.gateway,
          customerId: incoming.customerId,
          subscriptionId: incoming.id,
          status: 'incomplete',
          createdAt: now,
          updatedAt: now,
        });
      }
      if (!row) return;
      if (row.lastEventAt && row.lastEventAt > event.occurredAt) return;
      const graceUntil =
        incoming.status === 'past_due' ? (row.graceUntil ?? new Date(now.getTime() + deps.graceDays * DAY_MS)) : null;
      const saved = await repository.saveSubscription(tx, {
        ...row,
        subscriptionId: incoming.id,
        status: incoming.status,
        interval: incoming.interval ?? row.interval,
        currentPeriodEnd: incoming.currentPeriodEnd ?? row.currentPeriodEnd,
        cancelAtPeriodEnd: incoming.cancelAtPeriodEnd,
        graceUntil,
        lastEventAt: event.occurredAt,
        updatedAt: now,
      });
      await settlePlan(tx, saved, `subscription ${incoming.status}`);
    },

    async invoice(tx: Db, event: Of<'invoice'>) {
      const { invoice } = event;
      if (!invoice.paid || invoice.amountMinor <= 0) return;
      const row = await repository.subscriptionByCustomer(tx, event.gateway, invoice.customerId);
      // Before any subscription row, the invoice names its member itself (the subscription's metadata).
      const payerId =
        row?.userId ?? (invoice.userId && (await deps.identity.getAccount(invoice.userId, tx)) ? invoice.userId : null);
      const existing = await repository.findPaymentByGatewayId(tx, event.gateway, invoice.id);
      if (existing) return;
      const now = clock.now();
      const payment = await repository.insertPayment(tx, {
        id: deps.ids(),
        purpose: 'subscription',
        payerId,
        gateway: event.gateway,
        gatewayPaymentId: invoice.id,
        status: 'processing',
        amountMinor: invoice.amountMinor,
        currency: invoice.currency.toUpperCase(),
        createdAt: now,
        updatedAt: now,
      });
      // The whole invoice is the platform's: the capture entry credits platform revenue.
      await deps.settlement.applyPaymentState(tx, payment, { status: 'succeeded' });
    },
  };

  return {
    reactions,

    /** POST /me/subscription/checkout: the hosted checkout page for the monthly or yearly price. */
    async checkout(actor: Actor, interval: 'month' | 'year'): Promise<{ url: string }> {
      const account = await deps.identity.getAccount(actor.id);
      if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
      if (account.plan === 'premium') throw new AppError('CONFLICT', 'You already have Premium');
      const gateway = billingGateway();
      const priceId = interval === 'month' ? deps.prices.monthly : deps.prices.yearly;
      if (!gateway.createSubscriptionCheckout || (gateway.name === 'stripe' && !priceId)) throw paymentsUnavailable();
      const existing = await repository.subscriptionOf(db, actor.id);
      try {
        const session = await gateway.createSubscriptionCheckout({
          userId: actor.id,
          email: account.email,
          customerId: existing?.customerId,
          priceId: priceId ?? `sim_price_${interval}`,
          successUrl: `${deps.publicAppUrl}/premium?checkout=done`,
          cancelUrl: `${deps.publicAppUrl}/premium?checkout=cancelled`,
          idempotencyKey: `checkout:${actor.id}:${interval}:${clock.now().toISOString().slice(0, 13)}`,
        });
        await deps.relaySimulated();
        return { url: session.url };
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw gatewayError(error);
      }
    },

    /** POST /me/subscription/portal: where the member changes or cancels the subscription. */
    async portal(actor: Actor): Promise<{ url: string }> {
      const row = await repository.subscriptionOf(db, actor.id);
      if (!row) throw notFound('Subscription');
      const gateway = deps.gateways.of(row.gateway);
      if (!gateway.createPortalSession) throw paymentsUnavailable();
      try {
        return await gateway.createPortalSession({
          customerId: row.customerId,
          returnUrl: `${deps.publicAppUrl}/premium`,
        });
      } catch (error) {
        throw gatewayError(error);
      }
    },

    /** GET /me/subscription. */
    async mine(actor: Actor) {
      const [row, account] = await Promise.all([
        repository.subscriptionOf(db, actor.id),
        deps.identity.getAccount(actor.id),
      ]);
      if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
      return {
        plan: effectivePlan(account, clock.now()),
        status: row?.status ?? null,
        interval: row?.interval ?? null,
        current_period_end: row?.currentPeriodEnd?.toISOString() ?? null,
        cancel_at_period_end: row?.cancelAtPeriodEnd ?? false,
        grace_until: row?.graceUntil?.toISOString() ?? null,
      };
    },

    /** The periodic pass: past-due subscriptions whose grace ran out lose Premium. */
    async lapseGrace(): Promise<number> {
      const lapsed = await repository.lapsedSubscriptions(db, clock.now());
      let changed = 0;
      for (const row of lapsed) {
        await inTransaction(db, async (tx) => {
          const current = await repository.subscriptionOf(tx, row.userId, { forUpdate: true });
          if (current) {
            await settlePlan(tx, current, 'grace period over');
            changed += 1;
          }
        });
      }
      return changed;
    },
  };
}
