import { type Static, Type } from '@sinclair/typebox';
import { DateOnly, DateTime, literals, Nullable, Uuid } from '../../shared/http-schemas.js';
import { GATEWAYS, PAYMENT_METHODS, PAYMENT_STATUSES, REFUND_SOURCES } from './payments.tables.js';

const Money = Type.Integer({ minimum: 0, description: 'integer minor units of `currency` (ISO 4217 exponent)' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, uppercase' });

/** What a booking or a payer sees of a payment: no card data beyond the brand and last four. */
export const PaymentSchema = Type.Object({
  id: Uuid,
  status: literals(PAYMENT_STATUSES),
  amount_minor: Money,
  currency: Currency,
  commission_minor: Money,
  captured_minor: Money,
  refunded_minor: Money,
  method: Nullable(literals(PAYMENT_METHODS)),
  card_brand: Nullable(Type.String()),
  card_last4: Nullable(Type.String()),
  gateway: literals(GATEWAYS),
  created_at: DateTime,
});
export type PublicPayment = Static<typeof PaymentSchema>;

/** How the client completes a payment the gateway still needs the customer for. */
export const PaymentActionSchema = Type.Object({
  gateway: literals(GATEWAYS),
  client_secret: Nullable(
    Type.String({ description: 'Stripe PaymentIntent client secret for Stripe.js; never stored by us' }),
  ),
  publishable_key: Nullable(Type.String({ description: 'the Stripe publishable key to initialise Stripe.js with' })),
  next_action_url: Nullable(Type.String({ description: 'where to send the customer for 3-D Secure or a wallet step' })),
});
export type PaymentAction = Static<typeof PaymentActionSchema>;

/** The card step of a payment on the simulated gateway (development only). */
export const SimulateBody = Type.Object(
  { outcome: literals(['succeeded', 'failed', 'requires_action'] as const) },
  { additionalProperties: false },
);

export const RefundBody = Type.Object(
  {
    amount_minor: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'at most what is left to refund' }),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
  },
  { additionalProperties: false },
);

export const RefundSchema = Type.Object({
  id: Uuid,
  payment_id: Uuid,
  amount_minor: Money,
  commission_reversed_minor: Money,
  source: literals(REFUND_SOURCES),
  reason: Nullable(Type.String()),
  status: literals(['pending', 'succeeded', 'failed'] as const),
  created_at: DateTime,
});

export const PaymentWithRefundsSchema = Type.Composite([
  PaymentSchema,
  Type.Object({ refunds: Type.Array(RefundSchema) }),
]);

export const WebhookAckSchema = Type.Object({
  received: Type.Literal(true),
  duplicate: Type.Boolean({ description: 'true when this event was received before (nothing was done again)' }),
});

const Limits = Type.Record(
  Type.String({ pattern: '^[A-Z]{3}$' }),
  Type.Object(
    {
      min_minor: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
      max_minor: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
    },
    { additionalProperties: false },
  ),
  {
    maxProperties: 50,
    additionalProperties: false,
    description: 'per currency: the smallest and largest commission in minor units',
  },
);

export const CommissionRuleBody = Type.Object(
  {
    category_id: Uuid,
    rate_bps: Type.Integer({ minimum: 0, maximum: 10_000, description: 'basis points: 1000 = 10%' }),
    limits: Type.Optional({ ...Limits, default: {} }),
  },
  { additionalProperties: false },
);

export const CommissionRuleSchema = Type.Object({
  category_id: Uuid,
  rate_bps: Type.Integer(),
  limits: Limits,
  updated_at: DateTime,
});

export const CommissionRulesSchema = Type.Object({
  default_rate_bps: Type.Integer({ description: 'COMMISSION_RATE_BPS: what a category without a rule pays' }),
  rules: Type.Array(CommissionRuleSchema),
});

const Amounts = {
  gross_minor: Type.Integer(),
  commission_minor: Type.Integer(),
  refunds_minor: Type.Integer(),
  net_minor: Type.Integer(),
};

export const EarningsSchema = Type.Object({
  currencies: Type.Array(
    Type.Object({
      currency: Currency,
      ...Amounts,
      paid_out_minor: Type.Integer(),
      pending_minor: Type.Integer({ description: 'net not paid out yet' }),
    }),
  ),
  payouts: Type.Array(
    Type.Object({
      id: Uuid,
      amount_minor: Money,
      currency: Currency,
      status: Type.String(),
      arrival_at: Nullable(DateTime),
      created_at: DateTime,
    }),
  ),
  payouts_enabled: Type.Boolean(),
});

export const SummaryQuery = Type.Object(
  {
    from: Type.Optional({ ...DateOnly, description: 'first UTC day; default 29 days before `to`' }),
    to: Type.Optional({ ...DateOnly, description: 'last UTC day, inclusive; default today' }),
    format: Type.Optional(literals(['json', 'csv'] as const, 'json or csv')),
  },
  { additionalProperties: false },
);

export const SummarySchema = Type.Object({
  from: DateOnly,
  to: DateOnly,
  days: Type.Array(Type.Object({ day: DateOnly, currency: Currency, ...Amounts })),
  totals: Type.Array(Type.Object({ currency: Currency, ...Amounts })),
});

export const ReconciliationSchema = Type.Array(
  Type.Object({
    day: DateOnly,
    gateway: literals(GATEWAYS),
    status: literals(['matched', 'mismatched', 'failed'] as const),
    checked: Type.Integer(),
    mismatches: Type.Array(Type.Object({ reference: Type.String(), reason: Type.String() })),
    ran_at: DateTime,
  }),
);

export const LinkSchema = Type.Object({ url: Type.String() });

export const CheckoutBody = Type.Object(
  { interval: literals(['month', 'year'] as const, 'month or year') },
  { additionalProperties: false },
);

export const SubscriptionSchema = Type.Object({
  plan: literals(['free', 'trial', 'premium'] as const),
  status: Nullable(Type.String()),
  interval: Nullable(literals(['month', 'year'] as const)),
  current_period_end: Nullable(DateTime),
  cancel_at_period_end: Type.Boolean(),
  grace_until: Nullable(DateTime),
});

export const LedgerVerifySchema = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  lines: Type.Integer(),
  problems: Type.Array(Type.String()),
});
