import type { PaymentsConfig } from '../../../config.js';
import type { Clock } from '../../../infra/clock.js';
import type { IdGenerator } from '../../../infra/ids.js';
import type { HealthCheck } from '../../../shared/health.js';
import { GatewayUnavailableError, type PaymentGateway, WebhookSignatureError } from '../payments.gateway.js';
import type { GatewayName, PaymentMethod } from '../payments.tables.js';
import { createMoyasarGateway } from './moyasar.js';
import { createSimulatedGateway, type SimulatedGateway } from './simulated.js';
import { createStripeGateway } from './stripe.js';

export { createMoyasarGateway, type MoyasarGatewayDeps, type MoyasarSettings, uuidOfKey } from './moyasar.js';
export {
  createSimulatedGateway,
  SIMULATED_TOKENS,
  type SimulatedGateway,
  type SimulatedGatewayDeps,
  type SimulatedOutcome,
  simulatedCard,
  simulatedCardToken,
} from './simulated.js';
export {
  createStripeGateway,
  STRIPE_API_VERSION,
  STRIPE_WEBHOOK_TOLERANCE_SECONDS,
  type StripeGatewayDeps,
  type StripeSettings,
} from './stripe.js';

export interface GatewaysDeps {
  isProduction: boolean;
  clock: Clock;
  ids: IdGenerator;
  publicAppUrl: string;
  /** Tuning for tests; production uses the defaults. */
  stripe?: { maxNetworkRetries?: number; timeoutMs?: number };
  moyasar?: { timeoutMs?: number };
  simulated?: { subscriptionPrice?: { amountMinor: number; currency: string } };
}

export interface Gateways {
  stripe: PaymentGateway;
  moyasar: PaymentGateway;
  /** Only outside production: the in-memory gateway of development. */
  simulated?: SimulatedGateway;
  /** The gateway that takes a new payment in this currency and method. */
  pick(input: { currency: string; method?: PaymentMethod }): PaymentGateway;
  /**
   * The gateway a stored payment belongs to (refunds, retrieves and webhooks go back to it); one
   * without keys (or the simulated gateway in production) answers every call with a clear refusal.
   */
  of(name: GatewayName): PaymentGateway;
  /** Never required: the platform works without payments. */
  health(): HealthCheck[];
}

/** Thrown by every call to a gateway whose keys are not set; the service answers 503 PAYMENTS_UNAVAILABLE. */
export class GatewayNotConfiguredError extends GatewayUnavailableError {
  override name = 'GatewayNotConfiguredError';
}

const SETTINGS: Record<GatewayName, string> = {
  stripe: 'STRIPE_SECRET_KEY is not set',
  moyasar: 'MOYASAR_SECRET_KEY is not set',
  simulated: 'the simulated gateway exists only outside production',
};

/**
 * A gateway without keys: `configured: false`, and every call fails with a message naming the
 * setting, so a missing check in a caller shows up as a clear 503, never as a payment taken nowhere.
 */
export function createUnconfiguredGateway(name: GatewayName): PaymentGateway {
  const fail = async (): Promise<never> => {
    throw new GatewayNotConfiguredError(`${name} is not configured (${SETTINGS[name]})`);
  };
  return {
    name,
    configured: false,
    createIntent: fail,
    retrieveIntent: fail,
    cancelIntent: fail,
    refund: fail,
    parseWebhook() {
      throw new WebhookSignatureError(`${name} is not configured: its webhooks cannot be verified`);
    },
    check: fail,
  };
}

/** Methods only Moyasar offers. */
const MOYASAR_ONLY: ReadonlySet<PaymentMethod | undefined> = new Set(['mada', 'stcpay']);

/**
 * The one place a payment's gateway is chosen. Moyasar takes SAR and its own methods (mada, STC
 * Pay) when configured; Stripe takes everything else, SAR cards too when Moyasar is not set.
 * Outside production with neither gateway's keys, the simulated gateway takes everything;
 * otherwise what no configured gateway can take goes to an unconfigured one, which refuses (503).
 */
export function createGateways(config: PaymentsConfig, deps: GatewaysDeps): Gateways {
  const stripe = config.stripe
    ? createStripeGateway(config.stripe, { clock: deps.clock, ...deps.stripe })
    : createUnconfiguredGateway('stripe');
  const moyasar = config.moyasar
    ? createMoyasarGateway(config.moyasar, { clock: deps.clock, ...deps.moyasar })
    : createUnconfiguredGateway('moyasar');
  const simulated = deps.isProduction
    ? undefined
    : createSimulatedGateway({
        clock: deps.clock,
        ids: deps.ids,
        publicAppUrl: deps.publicAppUrl,
        ...deps.simulated,
      });

  const unconfiguredSimulated = createUnconfiguredGateway('simulated');

  return {
    stripe,
    moyasar,
    ...(simulated ? { simulated } : {}),

    pick({ currency, method }) {
      const moyasarOnly = MOYASAR_ONLY.has(method);
      if ((moyasarOnly || currency.toUpperCase() === 'SAR') && moyasar.configured) return moyasar;
      if (!moyasarOnly && stripe.configured) return stripe;
      // Simulated money never mixes with real: with any gateway's keys set, what it cannot take is refused.
      if (simulated && !stripe.configured && !moyasar.configured) return simulated;
      return moyasarOnly ? moyasar : stripe;
    },

    of(name) {
      if (name === 'stripe') return stripe;
      if (name === 'moyasar') return moyasar;
      return simulated ?? unconfiguredSimulated;
    },

    health() {
      return [stripe, moyasar].map((gateway) => ({
        name: gateway.name,
        kind: 'payments',
        required: false,
        configured: gateway.configured,
        check: () => gateway.check(),
      }));
    },
  };
}
