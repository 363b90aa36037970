/**
 * Premium by subscription (Stripe Billing), end to end: the real app pointed at the fake Stripe
 * (the official SDK talks to it), Checkout played by the fake, Stripe's events signed the SDK's
 * way and posted to the webhook route, then applied by the outbox worker. The plan is what the
 * member sees in GET /me and GET /me/subscription; changes are audited and tracked as
 * `plan_changed`. Without keys, in development, the simulated gateway plays Stripe's part.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { productEvents } from '../../src/modules/analytics/analytics.tables.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { signIn } from '../bookings/helpers.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { subjectOf } from '../helpers/events.js';
import { deliverStripeEvent, type PaymentFakes, STRIPE_PRICES, startPaymentFakes } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain } from '../notifications/helpers.js';

const DAY_MS = 86_400_000;
const GRACE_DAYS = 3;
const PUBLIC_APP_URL = 'http://localhost:3000';

describe('Premium subscriptions through Stripe Billing', () => {
  const clock = createTestClock(new Date('2027-01-11T09:00:00.000Z'));
  let fakes: PaymentFakes;
  let t: TestApp;

  const as = (user?: TestUser) => api(t.app).as(user);

  beforeAll(async () => {
    fakes = await startPaymentFakes({ clock, only: 'stripe' });
    t = await buildTestApp({
      clock,
      env: { ...fakes.env, SUBSCRIPTION_GRACE_DAYS: String(GRACE_DAYS), PUBLIC_APP_URL },
    });
  });

  afterAll(async () => {
    await t?.close();
    await fakes?.close();
  });

  /** Delivers Stripe's events one by one (each must be accepted), then runs the outbox worker. */
  const deliver = async (events: Stripe.Event[], options: { drain?: boolean } = {}) => {
    for (const event of events) {
      const response = await deliverStripeEvent(t.app, fakes.stripe, event);
      expect(response.statusCode, `${event.type}: ${response.body}`).toBe(200);
    }
    if (options.drain !== false) await drain(t);
  };

  /** POST /me/subscription/checkout; the Checkout session's id from its URL. */
  const startCheckout = async (member: TestUser, interval: 'month' | 'year' = 'month') => {
    const response = await as(member).post('/api/v1/me/subscription/checkout', { body: { interval } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const sessionId = new URL(response.data.url).pathname.split('/').at(-1) as string;
    return { url: response.data.url, sessionId };
  };

  /**
   * A member who paid at Checkout, with Stripe's events delivered and applied: Checkout's own
   * event first, so that the subscription's events find the member by the customer it recorded.
   * (Stripe's usual order, the subscription's event first, is tested on its own below.)
   */
  const subscribed = async (interval: 'month' | 'year' = 'month') => {
    const member = await createUser(t.app);
    const { sessionId } = await startCheckout(member, interval);
    const checkout = fakes.stripe.completeCheckout(sessionId);
    const [created, paid, completed] = checkout.events as [Stripe.Event, Stripe.Event, Stripe.Event];
    await deliver([completed]);
    await deliver([created, paid]);
    await signIn(t.app, member);
    return { member, ...checkout };
  };

  /** GET /me/subscription, signed in afresh (a plan change refuses the tokens issued before it). */
  const subscriptionOf = async (member: TestUser) => {
    await signIn(t.app, member);
    return (await as(member).get('/api/v1/me/subscription')).data;
  };

  const planOf = async (member: TestUser) => {
    await signIn(t.app, member);
    return (await as(member).get('/api/v1/me')).data.plan;
  };

  const planChanges = async (member: TestUser) =>
    (
      await t.app.platform.db
        .select()
        .from(productEvents)
        .where(
          and(eq(productEvents.subject, await subjectOf(t.app, member.id)), eq(productEvents.name, 'plan_changed')),
        )
        .orderBy(asc(productEvents.occurredAt), asc(productEvents.id))
    ).map((event) => event.properties);

  const planAudits = async (member: TestUser) =>
    (
      await t.app.platform.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'plan.subscription_changed'), eq(auditLog.targetId, member.id)))
        .orderBy(asc(auditLog.seq))
    ).map((row) => ({ actor: row.actorId, details: row.details }));

  describe('POST /me/subscription/checkout', () => {
    it('answers the Checkout URL for the monthly price, naming the member; nothing changes until Stripe says so', async () => {
      const member = await createUser(t.app);
      const { url, sessionId } = await startCheckout(member, 'month');
      expect(url).toBe(`${fakes.stripe.url}/checkout/${sessionId}`);
      expect(fakes.stripe.checkoutSession(sessionId)).toMatchObject({
        mode: 'subscription',
        status: 'open',
        client_reference_id: member.id,
        customer_email: member.email,
        metadata: { user_id: member.id },
        success_url: `${PUBLIC_APP_URL}/premium?checkout=done`,
        cancel_url: `${PUBLIC_APP_URL}/premium?checkout=cancelled`,
      });
      const call = fakes.stripe.lastRequest('/v1/checkout/sessions', 'POST');
      expect(call?.body).toMatchObject({
        line_items: [{ price: STRIPE_PRICES.monthly.id, quantity: '1' }],
        subscription_data: { metadata: { user_id: member.id } },
      });
      expect(call?.idempotencyKey).toBeTruthy();
      expect(await subscriptionOf(member)).toEqual({
        plan: 'free',
        status: null,
        interval: null,
        current_period_end: null,
        cancel_at_period_end: false,
        grace_until: null,
      });
    });

    it('the yearly interval takes the yearly price', async () => {
      const member = await createUser(t.app);
      await startCheckout(member, 'year');
      expect(fakes.stripe.lastRequest('/v1/checkout/sessions', 'POST')?.body).toMatchObject({
        line_items: [{ price: STRIPE_PRICES.yearly.id }],
      });
    });

    it('refuses another interval (400), a stranger (401) and a member who already has Premium (409)', async () => {
      const member = await createUser(t.app);
      for (const interval of ['monthly', 'week', '']) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/me/subscription/checkout',
          headers: member.headers,
          payload: { interval },
        });
        expect(response.statusCode, interval).toBe(400);
        expect(response.json().code).toBe('VALIDATION_ERROR');
      }
      const extra = await t.app.inject({
        method: 'POST',
        url: '/api/v1/me/subscription/checkout',
        headers: member.headers,
        payload: { interval: 'month', plan: 'premium' },
      });
      expect(extra.statusCode).toBe(400);
      expect((await as().post('/api/v1/me/subscription/checkout', { body: { interval: 'month' } })).status).toBe(401);
      expect((await as().get('/api/v1/me/subscription')).status).toBe(401);

      const { member: premium } = await subscribed();
      const again = await as(premium).post('/api/v1/me/subscription/checkout', { body: { interval: 'year' } });
      expect(again.status).toBe(409);
      expect(again.error.code).toBe('CONFLICT');
    });
  });

  describe('Stripe says the subscription is paid', () => {
    it('in the order Stripe sends them (the subscription first, Checkout last), the events give Premium', async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const checkout = fakes.stripe.completeCheckout(sessionId);
      expect(checkout.events.map((event) => event.type)).toEqual([
        'customer.subscription.created',
        'invoice.paid',
        'checkout.session.completed',
      ]);
      // Each applied before the next arrives, as when the worker keeps up with Stripe.
      for (const event of checkout.events) await deliver([event]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active', interval: 'month' });
    });

    it('gives Premium: GET /me, GET /me/subscription, the audit row, the plan_changed event, the invoice as revenue', async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const checkout = fakes.stripe.completeCheckout(sessionId);
      const [created, paid, completed] = checkout.events as [Stripe.Event, Stripe.Event, Stripe.Event];
      // Checkout's event first (see `subscribed`), then the others.
      await deliver([completed]);
      await deliver([created, paid], { drain: false });
      // Received is not applied: the outbox worker applies the events.
      expect(await planOf(member)).toBe('free');
      await drain(t);

      expect(await planOf(member)).toBe('premium');
      const periodEnd = new Date(clock.now());
      periodEnd.setUTCMonth(periodEnd.getUTCMonth() + 1);
      expect(await subscriptionOf(member)).toEqual({
        plan: 'premium',
        status: 'active',
        interval: 'month',
        current_period_end: new Date(Math.floor(periodEnd.getTime() / 1000) * 1000).toISOString(),
        cancel_at_period_end: false,
        grace_until: null,
      });
      expect(await planAudits(member)).toEqual([
        { actor: null, details: { from: 'free', to: 'premium', reason: 'subscription active' } },
      ]);
      expect(await planChanges(member)).toEqual([{ from: 'free', to: 'premium', by: 'subscription' }]);
      const rows = await queryRows<{ customer_id: string; subscription_id: string; gateway: string }>(
        t.app.platform.db,
        sql`select customer_id, subscription_id, gateway from subscriptions where user_id = ${member.id}`,
      );
      expect(rows).toEqual([
        { customer_id: checkout.customerId, subscription_id: checkout.subscriptionId, gateway: 'stripe' },
      ]);
      const payments = await queryRows<{ purpose: string; status: string; amount_minor: unknown; currency: string }>(
        t.app.platform.db,
        sql`select purpose, status, amount_minor, currency from payments where gateway_payment_id = ${checkout.invoiceId}`,
      );
      expect(payments.map((row) => ({ ...row, amount_minor: Number(row.amount_minor) }))).toEqual([
        {
          purpose: 'subscription',
          status: 'succeeded',
          amount_minor: STRIPE_PRICES.monthly.unitAmount,
          currency: 'GBP',
        },
      ]);
      const admin = await createUser(t.app, { role: 'admin' });
      expect((await as(admin).get('/api/v1/admin/ledger/verify')).data).toMatchObject({ ok: true, problems: [] });
    });

    it('a replayed event is acknowledged as a duplicate and applied once', async () => {
      const { member, events, invoiceId } = await subscribed();
      const paid = events.find((event) => event.type === 'invoice.paid') as Stripe.Event;
      const response = await deliverStripeEvent(t.app, fakes.stripe, paid);
      expect(response.json().data).toEqual({ received: true, duplicate: true });
      await drain(t);
      const payments = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from payments where gateway_payment_id = ${invoiceId}`,
      );
      expect(payments[0]?.n).toBe(1);
      expect(await planChanges(member)).toHaveLength(1);
    });

    it('a badly signed event is refused with 400 and changes nothing', async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const { events } = fakes.stripe.completeCheckout(sessionId);
      const created = events[0] as Stripe.Event;
      const wrong = await deliverStripeEvent(t.app, fakes.stripe, created, { secret: 'whsec_someone_else' });
      expect(wrong.statusCode).toBe(400);
      expect(wrong.json().code).toBe('WEBHOOK_SIGNATURE_INVALID');
      const unsigned = await deliverStripeEvent(t.app, fakes.stripe, created, { signature: null });
      expect(unsigned.statusCode).toBe(400);
      const stale = await deliverStripeEvent(t.app, fakes.stripe, created, {
        timestamp: Math.floor(clock.now().getTime() / 1000) - 3600,
      });
      expect(stale.statusCode).toBe(400);
      await drain(t);
      expect(await planOf(member)).toBe('free');
    });
  });

  describe('a renewal that fails', () => {
    it('keeps Premium through the grace period, and a paid retry keeps it for good', async () => {
      const { member, subscriptionId } = await subscribed();
      const failed = fakes.stripe.renewSubscription(subscriptionId, 'failed');
      expect(failed.events.map((event) => event.type)).toEqual([
        'invoice.payment_failed',
        'customer.subscription.updated',
      ]);
      await deliver(failed.events);
      const graceUntil = new Date(clock.now().getTime() + GRACE_DAYS * DAY_MS).toISOString();
      expect(await subscriptionOf(member)).toMatchObject({
        plan: 'premium',
        status: 'past_due',
        grace_until: graceUntil,
      });
      // A day later the grace has not run out: the job leaves the member alone.
      clock.advance(DAY_MS);
      await t.app.platform.jobs.subscriptionGrace.runOnce();
      expect(await planOf(member)).toBe('premium');

      // Stripe's retry goes through.
      const recovered = fakes.stripe.renewSubscription(subscriptionId, 'paid');
      await deliver(recovered.events);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active', grace_until: null });
      // After the grace the member had, nothing is taken away.
      clock.advance(GRACE_DAYS * DAY_MS);
      await t.app.platform.jobs.subscriptionGrace.runOnce();
      expect(await planOf(member)).toBe('premium');
      expect(await planChanges(member)).toEqual([{ from: 'free', to: 'premium', by: 'subscription' }]);
    });

    it('past due beyond the grace: the subscriptionGrace job takes Premium away, once', async () => {
      const { member, subscriptionId } = await subscribed();
      await deliver(fakes.stripe.renewSubscription(subscriptionId, 'failed').events);
      const { grace_until: graceUntil } = await subscriptionOf(member);
      expect(graceUntil).not.toBeNull();

      clock.set(new Date(new Date(graceUntil as string).getTime() - 60_000));
      await t.app.platform.jobs.subscriptionGrace.runOnce();
      expect(await planOf(member)).toBe('premium');

      clock.set(new Date(new Date(graceUntil as string).getTime() + 60_000));
      expect(await t.app.platform.jobs.subscriptionGrace.runOnce()).toBeGreaterThanOrEqual(1);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'free', status: 'past_due' });
      await t.app.platform.jobs.subscriptionGrace.runOnce();
      expect(await planChanges(member)).toEqual([
        { from: 'free', to: 'premium', by: 'subscription' },
        { from: 'premium', to: 'free', by: 'subscription' },
      ]);
      expect((await planAudits(member)).at(-1)).toEqual({
        actor: null,
        details: { from: 'premium', to: 'free', reason: 'grace period over' },
      });

      // Stripe retries once more and the card works: Premium again.
      clock.advance(60_000);
      await deliver(fakes.stripe.renewSubscription(subscriptionId, 'paid').events);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active', grace_until: null });
    });
  });

  describe('cancelling', () => {
    it('cancel at the period end keeps Premium (flagged); deleted ends it', async () => {
      const { member, subscriptionId } = await subscribed();
      clock.advance(60_000);
      await deliver([fakes.stripe.cancelSubscription(subscriptionId, { atPeriodEnd: true })]);
      expect(await subscriptionOf(member)).toMatchObject({
        plan: 'premium',
        status: 'active',
        cancel_at_period_end: true,
      });
      clock.advance(60_000);
      await deliver([fakes.stripe.cancelSubscription(subscriptionId, { atPeriodEnd: false })]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'free', status: 'canceled' });
      expect(await planOf(member)).toBe('free');
      expect(await planChanges(member)).toEqual([
        { from: 'free', to: 'premium', by: 'subscription' },
        { from: 'premium', to: 'free', by: 'subscription' },
      ]);
      expect((await planAudits(member)).at(-1)?.details).toEqual({
        from: 'premium',
        to: 'free',
        reason: 'subscription canceled',
      });
    });
  });

  describe('events out of order', () => {
    it('customer.subscription.updated before checkout.session.completed still gives Premium to the right member', async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const checkout = fakes.stripe.completeCheckout(sessionId);
      const created = checkout.events[0] as Stripe.Event;
      const updated = fakes.stripe.event(
        'customer.subscription.updated',
        created.data.object as unknown as Record<string, unknown>,
      );
      // The update is delivered and applied before Stripe's checkout events arrive at all.
      await deliver([updated]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active', interval: 'month' });
      await deliver([...checkout.events].reverse());
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active', interval: 'month' });
      const rows = await queryRows<{ customer_id: string; subscription_id: string }>(
        t.app.platform.db,
        sql`select customer_id, subscription_id from subscriptions where user_id = ${member.id}`,
      );
      expect(rows).toEqual([{ customer_id: checkout.customerId, subscription_id: checkout.subscriptionId }]);
      expect(await planChanges(member)).toHaveLength(1);
      // The portal finds the customer the events named.
      const portal = await as(member).post('/api/v1/me/subscription/portal');
      expect(portal.status, JSON.stringify(portal.body)).toBe(200);
    });

    it('checkout.session.completed first, on its own: nothing yet; the subscription event then gives Premium', async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const [created, paid, completed] = fakes.stripe.completeCheckout(sessionId).events as [
        Stripe.Event,
        Stripe.Event,
        Stripe.Event,
      ];
      await deliver([completed]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'free', status: 'incomplete' });
      await deliver([paid]);
      expect(await planOf(member)).toBe('free');
      await deliver([created]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active' });
    });

    it("invoice.paid before anything names the member: the payment is still the member's, with a receipt", async () => {
      const member = await createUser(t.app);
      const { sessionId } = await startCheckout(member);
      const { events, invoiceId } = fakes.stripe.completeCheckout(sessionId);
      const [created, paid, completed] = events as [Stripe.Event, Stripe.Event, Stripe.Event];
      // The invoice names its subscription's metadata (our user_id), as Stripe's does.
      expect(JSON.stringify(paid.data.object)).toContain(member.id);
      await deliver([paid]);
      await deliver([completed]);
      await deliver([created]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium', status: 'active' });
      const payments = await queryRows<{ payer_id: string | null }>(
        t.app.platform.db,
        sql`select payer_id from payments where gateway_payment_id = ${invoiceId}`,
      );
      expect(payments).toEqual([{ payer_id: member.id }]);
      const receipts = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from notifications where template = 'payment_receipt' and user_id = ${member.id}`,
      );
      expect(receipts[0]?.n).toBe(1);
    });

    it('an older state arriving after a newer one does not overwrite it', async () => {
      const { member, subscriptionId } = await subscribed();
      clock.advance(60_000);
      const older = fakes.stripe.renewSubscription(subscriptionId, 'paid').events;
      clock.advance(60_000);
      const newer = fakes.stripe.cancelSubscription(subscriptionId, { atPeriodEnd: false });
      await deliver([newer]);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'free', status: 'canceled' });
      await deliver(older);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'free', status: 'canceled' });
    });
  });

  describe('POST /me/subscription/portal', () => {
    it("answers Stripe's portal URL for the member's customer; without a subscription 404", async () => {
      const { member, customerId } = await subscribed();
      const portal = await as(member).post('/api/v1/me/subscription/portal');
      expect(portal.status, JSON.stringify(portal.body)).toBe(200);
      expect(portal.data.url).toMatch(new RegExp(`^${fakes.stripe.url}/portal/bps_`));
      expect(fakes.stripe.lastRequest('/v1/billing_portal/sessions', 'POST')?.body).toEqual({
        customer: customerId,
        return_url: `${PUBLIC_APP_URL}/premium`,
      });

      const stranger = await createUser(t.app);
      const none = await as(stranger).post('/api/v1/me/subscription/portal');
      expect(none.status).toBe(404);
      expect((await as().post('/api/v1/me/subscription/portal')).status).toBe(401);
    });
  });
});

describe('Premium on the simulated gateway (development, no keys)', () => {
  let t: TestApp;
  const clock = createTestClock(new Date('2027-01-11T09:00:00.000Z'));

  beforeAll(async () => {
    t = await buildTestApp({ clock, env: { PUBLIC_APP_URL } });
  });
  afterAll(() => t?.close());

  it('checkout is paid at once: the success page, and Premium once the worker has applied its events', async () => {
    const member = await createUser(t.app);
    const response = await api(t.app)
      .as(member)
      .post('/api/v1/me/subscription/checkout', { body: { interval: 'year' } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    // No page to fill in: straight to where a finished Stripe Checkout lands.
    expect(response.data.url).toBe(`${PUBLIC_APP_URL}/premium?checkout=done`);
    // What Stripe would send (checkout completed, subscription active, invoice paid) is queued as events.
    const queued = await queryRows<{ type: string }>(
      t.app.platform.db,
      sql`select payload->>'gatewayType' as type from outbox where type = 'payments.event' order by type`,
    );
    expect(queued.map((row) => row.type).sort()).toEqual([
      'checkout.session.completed',
      'customer.subscription.created',
      'invoice.paid',
    ]);
    await drain(t);
    // The worker runs these together, in no set order; one that failed is retried a minute or so
    // later, as the running server's worker would. (The failure itself is pinned down by the
    // Stripe tests that deliver the subscription's event first.)
    clock.advance(5 * 60_000);
    await drain(t);
    await signIn(t.app, member);
    const periodEnd = new Date('2027-01-11T09:00:00.000Z');
    periodEnd.setUTCFullYear(periodEnd.getUTCFullYear() + 1);
    expect((await api(t.app).as(member).get('/api/v1/me/subscription')).data).toEqual({
      plan: 'premium',
      status: 'active',
      interval: 'year',
      current_period_end: periodEnd.toISOString(),
      cancel_at_period_end: false,
      grace_until: null,
    });
    expect((await api(t.app).as(member).get('/api/v1/me')).data.plan).toBe('premium');
    const payments = await queryRows<{ gateway: string; status: string; amount_minor: unknown; currency: string }>(
      t.app.platform.db,
      sql`select gateway, status, amount_minor, currency from payments where purpose = 'subscription'`,
    );
    expect(payments.map((row) => ({ ...row, amount_minor: Number(row.amount_minor) }))).toEqual([
      { gateway: 'simulated', status: 'succeeded', amount_minor: 999, currency: 'GBP' },
    ]);
    const portal = await api(t.app).as(member).post('/api/v1/me/subscription/portal');
    expect(portal.data.url).toBe(`${PUBLIC_APP_URL}/premium`);
  });
});
