import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import type { CatalogService } from '../catalog/index.js';
import type { IdentityService } from '../identity/index.js';
import type { Gateways } from './gateways/index.js';
import { gatewayError, paymentsUnavailable } from './payments.core.js';
import type { EventReactions } from './payments.events.js';
import type { GatewayEvent } from './payments.gateway.js';
import type { Ledger } from './payments.ledger.js';
import type { PaymentsRepository } from './payments.repository.js';

type Of<K extends GatewayEvent['kind']> = Extract<GatewayEvent, { kind: K }>;

type PayoutStatus = 'pending' | 'in_transit' | 'paid' | 'failed' | 'canceled';
const PAYOUT_ORDER: Record<PayoutStatus, number> = { pending: 0, in_transit: 1, paid: 2, failed: 3, canceled: 3 };

/**
 * Where a payout's events may take it, in whatever order they come: forward only, and out of
 * `failed` or `canceled` never; `paid` may still turn `failed` (the bank returned the money).
 */
export function nextPayoutStatus(current: PayoutStatus | undefined, incoming: PayoutStatus): PayoutStatus {
  if (!current) return incoming;
  if (current === 'failed' || current === 'canceled') return current;
  return PAYOUT_ORDER[incoming] > PAYOUT_ORDER[current] ? incoming : current;
}

/**
 * Getting providers paid: onboarding to the gateway's payout accounts (Stripe Connect Express),
 * the account's readiness (which lets the provider sell paid services), payouts as the gateway
 * reports them, and the provider's earnings from the ledger.
 */
export function createPayouts(deps: {
  db: Db;
  repository: PaymentsRepository;
  gateways: Gateways;
  ledger: Pick<Ledger, 'recordPayout' | 'recordPayoutReturned' | 'providerEarnings'>;
  catalog: Pick<CatalogService, 'providerOfUser' | 'setPayoutsEnabled'>;
  identity: Pick<IdentityService, 'getAccount'>;
  /** Takes in what the simulated gateway reported, the way a webhook would have. */
  relaySimulated: () => Promise<void>;
  clock: Clock;
  ids: IdGenerator;
  publicAppUrl: string;
}) {
  const { db, repository, clock } = deps;

  const ownProvider = async (actor: Actor) => {
    const provider = await deps.catalog.providerOfUser(actor.id);
    if (!provider) throw notFound('Provider profile');
    return provider;
  };

  /** Connect accounts live where Stripe is; without it (development) the simulated gateway plays the part. */
  const payoutGateway = () => {
    const { stripe, simulated } = deps.gateways;
    if (stripe.configured) return stripe;
    if (simulated && !deps.gateways.moyasar.configured) return simulated;
    throw paymentsUnavailable();
  };

  const reactions: Pick<EventReactions, 'account' | 'payout'> = {
    async account(tx: Db, event: Of<'account'>) {
      const account = await repository.payoutAccountById(tx, event.account.id, { forUpdate: true });
      // Events come in any order: an older state never overrides a newer one.
      if (!account || (account.lastEventAt && account.lastEventAt > event.occurredAt)) return;
      await repository.savePayoutAccount(tx, {
        ...account,
        payoutsEnabled: event.account.payoutsEnabled,
        detailsSubmitted: event.account.detailsSubmitted,
        lastEventAt: event.occurredAt,
        updatedAt: clock.now(),
      });
      await deps.catalog.setPayoutsEnabled(tx, account.providerId, event.account.payoutsEnabled);
    },

    async payout(tx: Db, event: Of<'payout'>) {
      const account = await repository.payoutAccountById(tx, event.payout.accountId);
      if (!account) return;
      const now = clock.now();
      const before = await repository.payoutByGatewayId(tx, event.gateway, event.payout.id, { forUpdate: true });
      const status = nextPayoutStatus(before?.status, event.payout.status);
      if (before && status === before.status) return;
      const row = await repository.upsertPayout(tx, {
        id: deps.ids(),
        providerId: account.providerId,
        gateway: event.gateway,
        gatewayPayoutId: event.payout.id,
        amountMinor: event.payout.amountMinor,
        currency: event.payout.currency.toUpperCase(),
        status,
        arrivalAt: event.payout.arrivalAt ?? null,
        createdAt: now,
        updatedAt: now,
      });
      const entry = {
        payoutId: row.id,
        reference: row.gatewayPayoutId,
        gateway: row.gateway,
        providerId: row.providerId,
        currency: row.currency,
        amountMinor: row.amountMinor,
        occurredAt: event.occurredAt,
      };
      // One entry per payout: a repeated `paid` event meets the ledger's unique reference.
      if (row.status === 'paid') await deps.ledger.recordPayout(tx, entry);
      // The bank sent it back after all: we owe the provider that money again.
      else if (row.status === 'failed' && before?.status === 'paid') await deps.ledger.recordPayoutReturned(tx, entry);
    },
  };

  return {
    reactions,

    /** POST /provider/payouts/onboarding: the link where the provider sets up their payout account. */
    async startOnboarding(actor: Actor): Promise<{ url: string }> {
      const provider = await ownProvider(actor);
      const gateway = payoutGateway();
      if (!gateway.createPayoutAccount || !gateway.onboardingLink) throw paymentsUnavailable();
      let account = await repository.payoutAccountOf(db, provider.id);
      try {
        if (!account) {
          const owner = await deps.identity.getAccount(actor.id);
          const created = await gateway.createPayoutAccount({
            providerId: provider.id,
            email: owner?.email ?? '',
            country: provider.country ?? undefined,
          });
          const now = clock.now();
          account = await inTransaction(db, (tx) =>
            repository.savePayoutAccount(tx, {
              providerId: provider.id,
              gateway: gateway.name,
              accountId: created.accountId,
              payoutsEnabled: false,
              detailsSubmitted: false,
              createdAt: now,
              updatedAt: now,
            }),
          );
        }
        const link = await gateway.onboardingLink({
          accountId: account.accountId,
          returnUrl: `${deps.publicAppUrl}/provider/payouts?done=1`,
          refreshUrl: `${deps.publicAppUrl}/provider/payouts?retry=1`,
        });
        // The simulated gateway finishes onboarding at once and says so the way Stripe would.
        await deps.relaySimulated();
        return link;
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw gatewayError(error);
      }
    },

    /** GET /provider/earnings: by currency, and the latest payouts. */
    async earnings(actor: Actor) {
      const provider = await ownProvider(actor);
      const [currencies, payouts] = await Promise.all([
        deps.ledger.providerEarnings(db, provider.id),
        repository.payoutsOf(db, provider.id),
      ]);
      return {
        currencies: currencies.map((row) => ({
          currency: row.currency,
          gross_minor: row.grossMinor,
          commission_minor: row.commissionMinor - row.commissionReversedMinor,
          refunds_minor: row.refundedMinor,
          net_minor: row.netMinor,
          paid_out_minor: row.paidOutMinor,
          pending_minor: row.pendingMinor,
        })),
        payouts: payouts.map((row) => ({
          id: row.id,
          amount_minor: row.amountMinor,
          currency: row.currency,
          status: row.status,
          arrival_at: row.arrivalAt?.toISOString() ?? null,
          created_at: row.createdAt.toISOString(),
        })),
        payouts_enabled: provider.payoutsEnabled,
      };
    },
  };
}
