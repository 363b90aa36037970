import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type Stripe from 'stripe';
import { expect } from 'vitest';
import type { Clock } from '../../src/infra/clock.js';
import { queryRows } from '../../src/infra/db/client.js';
import { type FakeMoyasar, type MoyasarWebhookEvent, startFakeMoyasar } from '../fixtures/fake-moyasar.js';
import { type FakeStripe, startFakeStripe } from '../fixtures/fake-stripe.js';

export const STRIPE_PRICES = {
  monthly: { id: 'price_premium_monthly', unitAmount: 999, currency: 'gbp', interval: 'month' as const },
  yearly: { id: 'price_premium_yearly', unitAmount: 9900, currency: 'gbp', interval: 'year' as const },
};

export interface PaymentFakes {
  stripe: FakeStripe;
  moyasar: FakeMoyasar;
  /** The app's settings that point both gateways at the stand-ins. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A fake Stripe (driven through the official SDK) and a fake Moyasar on 127.0.0.1, on the test's
 * clock, and the environment that points the app at them. `only` leaves the other gateway unset.
 */
export async function startPaymentFakes(
  options: { clock?: Clock; only?: 'stripe' | 'moyasar' } = {},
): Promise<PaymentFakes> {
  const stripe = await startFakeStripe({
    clock: options.clock,
    prices: Object.fromEntries(Object.values(STRIPE_PRICES).map(({ id, ...price }) => [id, price])),
  });
  const moyasar = await startFakeMoyasar({ clock: options.clock });
  const env: Record<string, string> = {};
  if (options.only !== 'moyasar') {
    Object.assign(env, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_PUBLISHABLE_KEY: 'pk_test_fake_stripe',
      STRIPE_API_URL: stripe.url,
      STRIPE_PRICE_MONTHLY: STRIPE_PRICES.monthly.id,
      STRIPE_PRICE_YEARLY: STRIPE_PRICES.yearly.id,
    });
  }
  if (options.only !== 'stripe') {
    Object.assign(env, {
      MOYASAR_SECRET_KEY: moyasar.secretKey,
      MOYASAR_WEBHOOK_SECRET: moyasar.webhookSecret,
      MOYASAR_API_URL: moyasar.url,
    });
  }
  return {
    stripe,
    moyasar,
    env,
    close: async () => {
      await Promise.all([stripe.close(), moyasar.close()]);
    },
  };
}

/**
 * Delivers a Stripe event to the app as Stripe does (pretty-printed JSON, signed by the SDK's
 * test helper), through inject: the signature is checked over exactly these bytes.
 */
export async function deliverStripeEvent(
  app: FastifyInstance,
  fake: FakeStripe,
  event: Stripe.Event,
  options: { secret?: string; timestamp?: number; body?: string; signature?: string | null } = {},
) {
  const payload = JSON.stringify(event, null, 2);
  const signature =
    options.signature === undefined
      ? fake.sign(payload, { secret: options.secret, timestamp: options.timestamp })
      : options.signature;
  return app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/stripe',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...(signature === null ? {} : { 'stripe-signature': signature }),
    },
    payload: options.body ?? payload,
  });
}

/** Delivers a Moyasar webhook to the app (its `secret_token` in the body, or another one, or none). */
export async function deliverMoyasarEvent(
  app: FastifyInstance,
  webhook: MoyasarWebhookEvent,
  options: { secretToken?: string | null } = {},
) {
  const { secret_token: token, ...rest } = webhook;
  const body = options.secretToken === null ? rest : { ...rest, secret_token: options.secretToken ?? token };
  return app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/moyasar',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
}

let signups = 0;

/** A new customer signed up over HTTP; the sign-up's own tokens are used (one password hash). */
export async function signUpCustomer(
  app: FastifyInstance,
  label: string,
): Promise<{ id: string; headers: { authorization: string } }> {
  signups += 1;
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/signup',
    payload: { email: `${label}-${signups}-${randomUUID()}@example.test`, password: `Valid-passphrase-${signups}-xyz` },
  });
  if (response.statusCode !== 201) throw new Error(`signup: ${response.statusCode} ${response.body}`);
  const { user, tokens } = response.json().data;
  return { id: user.id, headers: { authorization: `Bearer ${tokens.access_token}` } };
}

/**
 * Runs the app's outbox until nothing is due and fails on any delivery that failed since the last
 * call (each failed row is reported once, so one failure fails one test, not every later one).
 */
export function outboxDrainer(app: () => FastifyInstance): () => Promise<void> {
  const reported = new Set<string>();
  return async () => {
    for (let pass = 0; pass < 100; pass += 1) {
      if ((await app().platform.dispatcher.runOnce()) === 0) break;
    }
    const failed = (
      await queryRows<{ id: string; type: string; last_error: string }>(
        app().platform.db,
        sql`select id, type, last_error from outbox where last_error is not null`,
      )
    ).filter((row) => !reported.has(row.id));
    for (const row of failed) reported.add(row.id);
    expect(failed).toEqual([]);
  };
}

/** Delivers every outbox message due (events, the booking's change message, refunds); the messages delivered. */
export async function drainOutbox(t: { app: FastifyInstance }, maxPasses = 20): Promise<number> {
  let total = 0;
  for (let pass = 0; pass < maxPasses; pass++) {
    const claimed = await t.app.platform.dispatcher.runOnce();
    if (claimed === 0) return total;
    total += claimed;
  }
  throw new Error(`outbox still busy after ${maxPasses} passes`);
}

/** Signs people in again (their access tokens expire when the test clock moves). */
export async function signInAgain(
  t: { app: FastifyInstance },
  ...people: { email: string; password: string; headers: { authorization: string } }[]
) {
  for (const person of people) {
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: person.email, password: person.password },
    });
    if (login.statusCode !== 200) throw new Error(`login: ${login.statusCode} ${login.body}`);
    person.headers = { authorization: `Bearer ${login.json().data.access_token}` };
  }
}
