/**
 * Getting providers paid, end to end: onboarding to a Stripe Connect Express account (the real
 * app against the fake Stripe, through the official SDK), the `account.updated` event that lets
 * the provider publish paid services, payouts as Stripe reports them, and the provider's
 * earnings by currency after paid bookings and a partial refund, to the minor unit. Without keys,
 * in development, the simulated gateway onboards at once.
 */
import { sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { START, WEEKDAY_SCHEDULE } from '../bookings/helpers.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { deliverStripeEvent, type PaymentFakes, startPaymentFakes } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain } from '../notifications/helpers.js';

const PUBLIC_APP_URL = 'http://localhost:3000';

interface Provider {
  user: TestUser;
  providerId: string;
}

/** An admin, a category and a way to make verified providers, on one app. */
async function setUp(t: TestApp) {
  const as = (user?: TestUser) => api(t.app).as(user);
  const admin = await createUser(t.app, { role: 'admin' });
  const category = await as(admin).post('/api/v1/admin/categories', {
    body: { slug: `physio-${admin.id}`, name: 'Physiotherapy' },
  });
  const categoryId = category.data.id;

  const newProvider = async (): Promise<Provider> => {
    const user = await createUser(t.app, { role: 'provider' });
    const profile = await as(user).patch('/api/v1/provider/profile', {
      body: { display_name: `Physio ${user.id.slice(-4)}`, time_zone: 'Europe/London', auto_confirm: true },
    });
    const providerId = profile.data.id;
    await as(admin)
      .patch('/api/v1/admin/providers/{id}', { params: { id: providerId }, body: { verification: 'verified' } })
      .then((response) => response.data);
    await as(user)
      .put('/api/v1/provider/availability', { body: WEEKDAY_SCHEDULE })
      .then((response) => response.data);
    return { user, providerId };
  };

  const paidService = (provider: Provider, fields: { price_minor: number; currency: string }) =>
    as(provider.user).post('/api/v1/provider/services', {
      body: {
        name: `Physio session (${fields.currency})`,
        category_id: categoryId,
        duration_minutes: 60,
        buffer_minutes: 0,
        payment: 'required',
        ...fields,
      },
    });

  return { as, admin, categoryId, newProvider, paidService };
}

describe('payouts through Stripe Connect', () => {
  const clock = createTestClock(START);
  let fakes: PaymentFakes;
  let t: TestApp;
  let fixture: Awaited<ReturnType<typeof setUp>>;

  beforeAll(async () => {
    fakes = await startPaymentFakes({ clock, only: 'stripe' });
    t = await buildTestApp({ clock, env: { ...fakes.env, PUBLIC_APP_URL } });
    fixture = await setUp(t);
  });

  afterAll(async () => {
    await t?.close();
    await fakes?.close();
  });

  const deliver = async (...events: Stripe.Event[]) => {
    for (const event of events) {
      const response = await deliverStripeEvent(t.app, fakes.stripe, event);
      expect(response.statusCode, `${event.type}: ${response.body}`).toBe(200);
    }
    await drain(t);
  };

  const earningsOf = async (provider: Provider) =>
    (await fixture.as(provider.user).get('/api/v1/provider/earnings')).data;

  /** POST /provider/payouts/onboarding; the Connect account id from its link. */
  const startOnboarding = async (provider: Provider) => {
    const response = await fixture.as(provider.user).post('/api/v1/provider/payouts/onboarding');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const url = new URL(response.data.url);
    return { url, accountId: url.pathname.split('/').at(-1) as string };
  };

  /** A provider whose Connect account Stripe reports ready. */
  const onboarded = async () => {
    const provider = await fixture.newProvider();
    const { accountId } = await startOnboarding(provider);
    await deliver(fakes.stripe.completeOnboarding(accountId));
    return { ...provider, accountId };
  };

  const payoutAccountRow = async (providerId: string) => {
    const [row] = await queryRows<{
      gateway: string;
      account_id: string;
      payouts_enabled: boolean;
      details_submitted: boolean;
    }>(
      t.app.platform.db,
      sql`select gateway, account_id, payouts_enabled, details_submitted from payout_accounts where provider_id = ${providerId}`,
    );
    return row;
  };

  describe('onboarding', () => {
    it('before onboarding a paid service is refused (409 PAYOUTS_NOT_READY); the link opens Stripe’s onboarding', async () => {
      const provider = await fixture.newProvider();
      const refused = await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' });
      expect(refused.status).toBe(409);
      expect(refused.error.code).toBe('PAYOUTS_NOT_READY');
      expect(await earningsOf(provider)).toEqual({ currencies: [], payouts: [], payouts_enabled: false });

      const { url, accountId } = await startOnboarding(provider);
      expect(`${url.origin}${url.pathname}`).toBe(`${fakes.stripe.url}/connect/onboarding/${accountId}`);
      expect(url.searchParams.get('return_url')).toBe(`${PUBLIC_APP_URL}/provider/payouts?done=1`);
      expect(url.searchParams.get('refresh_url')).toBe(`${PUBLIC_APP_URL}/provider/payouts?retry=1`);
      const created = fakes.stripe.lastRequest('/v1/accounts', 'POST');
      expect(created?.body).toMatchObject({
        type: 'express',
        email: provider.user.email,
        metadata: { provider_id: provider.providerId },
        capabilities: { card_payments: { requested: 'true' }, transfers: { requested: 'true' } },
      });
      expect(created?.idempotencyKey).toBe(`payout-account:${provider.providerId}`);
      expect(await payoutAccountRow(provider.providerId)).toEqual({
        gateway: 'stripe',
        account_id: accountId,
        payouts_enabled: false,
        details_submitted: false,
      });

      // Asked again (the provider left half-way): a new link to the same account.
      const accountsBefore = fakes.stripe.requests.filter(
        (request) => request.method === 'POST' && request.path === '/v1/accounts',
      ).length;
      const again = await startOnboarding(provider);
      expect(again.accountId).toBe(accountId);
      expect(
        fakes.stripe.requests.filter((request) => request.method === 'POST' && request.path === '/v1/accounts'),
      ).toHaveLength(accountsBefore);
      // Nothing is ready until Stripe says so.
      expect((await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' })).status).toBe(409);
    });

    it('account.updated with payouts enabled records it; then the provider can publish a paid service', async () => {
      const provider = await fixture.newProvider();
      const atVisit = await fixture.as(provider.user).post('/api/v1/provider/services', {
        body: {
          name: 'Assessment',
          category_id: fixture.categoryId,
          duration_minutes: 30,
          price_minor: 3_000,
          currency: 'GBP',
        },
      });
      expect(atVisit.status).toBe(201);
      const { accountId } = await startOnboarding(provider);
      const event = fakes.stripe.completeOnboarding(accountId);
      const received = await deliverStripeEvent(t.app, fakes.stripe, event);
      expect(received.json().data).toEqual({ received: true, duplicate: false });
      // Received, not yet applied.
      expect((await earningsOf(provider)).payouts_enabled).toBe(false);
      await drain(t);

      expect(await payoutAccountRow(provider.providerId)).toMatchObject({
        payouts_enabled: true,
        details_submitted: true,
      });
      expect((await earningsOf(provider)).payouts_enabled).toBe(true);
      const published = await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' });
      expect(published.status, JSON.stringify(published.body)).toBe(201);
      expect(published.data).toMatchObject({ payment: 'required', is_active: true });
      const switched = await fixture.as(provider.user).patch('/api/v1/provider/services/{id}', {
        params: { id: atVisit.data.id },
        body: { payment: 'required' },
      });
      expect(switched.status, JSON.stringify(switched.body)).toBe(200);
    });

    it('Stripe turning payouts off again closes paid services to new ones', async () => {
      const provider = await onboarded();
      clock.advance(60_000);
      const account = fakes.stripe.account(provider.accountId) as Record<string, unknown>;
      await deliver(
        fakes.stripe.event(
          'account.updated',
          { ...account, payouts_enabled: false },
          { account: provider.accountId, previousAttributes: { payouts_enabled: true } },
        ),
      );
      expect((await earningsOf(provider)).payouts_enabled).toBe(false);
      expect((await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' })).status).toBe(409);
    });

    it('account.updated events out of order: an older "not ready" does not undo a newer "ready"', async () => {
      const provider = await fixture.newProvider();
      const { accountId } = await startOnboarding(provider);
      // Details first (payouts still off), a minute later payouts on: Stripe's two events.
      const account = fakes.stripe.account(accountId) as Record<string, unknown>;
      const older = fakes.stripe.event(
        'account.updated',
        { ...account, details_submitted: true },
        { account: accountId, previousAttributes: { details_submitted: false } },
      );
      clock.advance(60_000);
      const newer = fakes.stripe.completeOnboarding(accountId);
      await deliver(newer);
      await deliver(older);
      expect(await payoutAccountRow(provider.providerId)).toMatchObject({ payouts_enabled: true });
      expect((await earningsOf(provider)).payouts_enabled).toBe(true);
    });

    it('an event for an account that is not ours changes nothing', async () => {
      const provider = await fixture.newProvider();
      await deliver(
        fakes.stripe.event(
          'account.updated',
          { id: 'acct_someone_else', object: 'account', payouts_enabled: true, details_submitted: true },
          { account: 'acct_someone_else' },
        ),
      );
      expect((await earningsOf(provider)).payouts_enabled).toBe(false);
    });

    it('is for providers only (403), signed in (401); a provider without a profile has nothing to onboard (404)', async () => {
      const member = await createUser(t.app);
      expect((await fixture.as(member).post('/api/v1/provider/payouts/onboarding')).status).toBe(403);
      expect((await fixture.as(member).get('/api/v1/provider/earnings')).status).toBe(403);
      expect((await fixture.as().post('/api/v1/provider/payouts/onboarding')).status).toBe(401);
      expect((await fixture.as().get('/api/v1/provider/earnings')).status).toBe(401);
      const bare = await createUser(t.app, { role: 'provider' });
      const none = await fixture.as(bare).post('/api/v1/provider/payouts/onboarding');
      expect(none.status).toBe(404);
    });
  });

  describe('earnings and payouts', () => {
    it('by currency after paid bookings and a partial refund, then payouts as Stripe reports them', async () => {
      const provider = await onboarded();
      const gbp = (await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' })).data.id;
      const eur = (await fixture.paidService(provider, { price_minor: 3_000, currency: 'EUR' })).data.id;
      const customer = await createUser(t.app);
      const book = async (serviceId: string, startsAt: string) => {
        const response = await fixture.as(customer).post('/api/v1/bookings', {
          body: { service_id: serviceId, starts_at: startsAt, payment_token: 'pm_card_visa' },
        });
        expect(response.status, JSON.stringify(response.body)).toBe(201);
        expect(response.data.payment).toMatchObject({ gateway: 'stripe', status: 'succeeded' });
        return response.data;
      };
      const gbpBooking = await book(gbp, '2027-03-23T09:00:00.000Z');
      await book(eur, '2027-03-23T10:00:00.000Z');
      await drain(t);
      expect(gbpBooking.payment?.commission_minor).toBe(500);
      // A destination charge: the provider's account gets the amount less our fee.
      const intent = fakes.stripe.lastRequest('/v1/payment_intents', 'POST');
      expect(intent?.body).toMatchObject({ transfer_data: { destination: provider.accountId } });

      // A partial refund of 10.00 GBP: the commission goes back in proportion (1.00 of 5.00).
      const refund = await fixture.as(fixture.admin).post('/api/v1/admin/payments/{id}/refunds', {
        params: { id: gbpBooking.payment?.id as string },
        body: { amount_minor: 1_000, reason: 'Started late' },
      });
      expect(refund.status, JSON.stringify(refund.body)).toBe(202);
      expect(refund.data).toMatchObject({ amount_minor: 1_000, commission_reversed_minor: 100, status: 'pending' });
      await drain(t);
      expect(fakes.stripe.lastRequest('/v1/refunds', 'POST')?.body).toMatchObject({
        amount: '1000',
        reverse_transfer: 'true',
        refund_application_fee: 'true',
      });

      const earned = await earningsOf(provider);
      expect(earned.currencies).toEqual([
        {
          currency: 'EUR',
          gross_minor: 3_000,
          commission_minor: 300,
          refunds_minor: 0,
          net_minor: 2_700,
          paid_out_minor: 0,
          pending_minor: 2_700,
        },
        {
          currency: 'GBP',
          gross_minor: 5_000,
          commission_minor: 400,
          refunds_minor: 1_000,
          net_minor: 3_600,
          paid_out_minor: 0,
          pending_minor: 3_600,
        },
      ]);
      expect(earned.payouts).toEqual([]);

      // Stripe pays 25.00 GBP out to the provider's bank: created now, paid later.
      const { payoutId, event: createdEvent } = fakes.stripe.payout(provider.accountId, {
        amount: 2_500,
        currency: 'gbp',
      });
      await deliver(createdEvent);
      const pending = await earningsOf(provider);
      expect(pending.payouts).toEqual([
        expect.objectContaining({ amount_minor: 2_500, currency: 'GBP', status: 'pending' }),
      ]);
      expect(pending.payouts[0]?.arrival_at).toBe(new Date(clock.now().getTime() + 2 * 86_400_000).toISOString());
      expect(pending.currencies.find((row) => row.currency === 'GBP')).toMatchObject({
        paid_out_minor: 0,
        pending_minor: 3_600,
      });

      clock.advance(60_000);
      const paidEvent = fakes.stripe.settlePayout(payoutId, 'paid');
      await deliver(paidEvent);
      // The same event again, and Stripe's retry under a new event id: one payout, counted once.
      const replay = await deliverStripeEvent(t.app, fakes.stripe, paidEvent);
      expect(replay.json().data).toEqual({ received: true, duplicate: true });
      await deliver(fakes.stripe.settlePayout(payoutId, 'paid'));

      const paid = await earningsOf(provider);
      expect(paid.payouts).toEqual([expect.objectContaining({ amount_minor: 2_500, currency: 'GBP', status: 'paid' })]);
      expect(paid.currencies).toEqual([
        expect.objectContaining({ currency: 'EUR', net_minor: 2_700, paid_out_minor: 0, pending_minor: 2_700 }),
        expect.objectContaining({ currency: 'GBP', net_minor: 3_600, paid_out_minor: 2_500, pending_minor: 1_100 }),
      ]);
      const entries = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from ledger_entries where kind = 'payout' and reference = ${payoutId}`,
      );
      expect(entries[0]?.n).toBe(1);

      // A payout that fails moves nothing; the platform's own payouts (no account) are not a provider's.
      const failed = fakes.stripe.payout(provider.accountId, { amount: 500, currency: 'gbp' });
      await deliver(failed.event);
      clock.advance(60_000);
      await deliver(fakes.stripe.settlePayout(failed.payoutId, 'failed'));
      await deliver(
        fakes.stripe.event('payout.paid', {
          id: 'po_platform_own',
          object: 'payout',
          amount: 100_000,
          currency: 'gbp',
          arrival_date: Math.floor(clock.now().getTime() / 1000),
          status: 'paid',
        }),
      );
      // Transfers are the destination charges' own (the money already on the provider's account):
      // acknowledged, never counted as payouts.
      await deliver(
        fakes.stripe.event('transfer.created', {
          id: 'tr_destination',
          object: 'transfer',
          amount: 4_500,
          currency: 'gbp',
          destination: provider.accountId,
        }),
      );
      const after = await earningsOf(provider);
      expect(after.payouts.map((payout) => [payout.amount_minor, payout.status])).toEqual(
        expect.arrayContaining([
          [2_500, 'paid'],
          [500, 'failed'],
        ]),
      );
      expect(after.payouts).toHaveLength(2);
      expect(after.currencies.find((row) => row.currency === 'GBP')).toMatchObject({
        paid_out_minor: 2_500,
        pending_minor: 1_100,
      });
      const rows = await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from payouts where gateway_payout_id = 'po_platform_own'`,
      );
      expect(rows[0]?.n).toBe(0);

      expect((await fixture.as(fixture.admin).get('/api/v1/admin/ledger/verify')).data).toMatchObject({
        ok: true,
        problems: [],
      });
      // Another provider sees only their own (nothing).
      const other = await onboarded();
      expect(await earningsOf(other)).toEqual({ currencies: [], payouts: [], payouts_enabled: true });
    });

    it('payout.paid arriving before payout.created: the payout stays paid, counted once', async () => {
      const provider = await onboarded();
      const { payoutId, event: createdEvent } = fakes.stripe.payout(provider.accountId, {
        amount: 700,
        currency: 'gbp',
      });
      clock.advance(60_000);
      const paidEvent = fakes.stripe.settlePayout(payoutId, 'paid');
      await deliver(paidEvent);
      await deliver(createdEvent);
      const earned = await earningsOf(provider);
      expect(earned.payouts).toEqual([expect.objectContaining({ amount_minor: 700, status: 'paid' })]);
      expect(earned.currencies).toEqual([expect.objectContaining({ currency: 'GBP', paid_out_minor: 700 })]);
    });

    it('a paid payout the bank sends back: failed, and the money is owed to the provider again', async () => {
      const provider = await onboarded();
      const { payoutId, event: createdEvent } = fakes.stripe.payout(provider.accountId, {
        amount: 900,
        currency: 'gbp',
      });
      await deliver(createdEvent);
      clock.advance(60_000);
      await deliver(fakes.stripe.settlePayout(payoutId, 'paid'));
      expect((await earningsOf(provider)).currencies).toEqual([
        expect.objectContaining({ currency: 'GBP', paid_out_minor: 900 }),
      ]);
      clock.advance(60_000);
      const returned = fakes.stripe.settlePayout(payoutId, 'failed');
      await deliver(returned);
      await deliver(returned);
      const earned = await earningsOf(provider);
      expect(earned.payouts).toEqual([expect.objectContaining({ amount_minor: 900, status: 'failed' })]);
      expect(earned.currencies).toEqual([expect.objectContaining({ currency: 'GBP', paid_out_minor: 0 })]);
    });
  });
});

describe('payouts on the simulated gateway (development, no keys)', () => {
  let t: TestApp;
  let fixture: Awaited<ReturnType<typeof setUp>>;

  beforeAll(async () => {
    t = await buildTestApp({ clock: createTestClock(START), env: { PUBLIC_APP_URL } });
    fixture = await setUp(t);
  });
  afterAll(() => t?.close());

  it('onboarding completes at once: back to the payouts page, payouts enabled once its event is applied', async () => {
    const provider = await fixture.newProvider();
    expect((await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' })).status).toBe(409);
    const response = await fixture.as(provider.user).post('/api/v1/provider/payouts/onboarding');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    // Nothing to fill in: the link is where a finished onboarding returns.
    expect(response.data.url).toBe(`${PUBLIC_APP_URL}/provider/payouts?done=1`);
    // The account.updated the simulated gateway reports goes the webhooks' way (the outbox).
    await drain(t);
    const earnings = (await fixture.as(provider.user).get('/api/v1/provider/earnings')).data;
    expect(earnings).toEqual({ currencies: [], payouts: [], payouts_enabled: true });
    const [account] = await queryRows<{ gateway: string; payouts_enabled: boolean }>(
      t.app.platform.db,
      sql`select gateway, payouts_enabled from payout_accounts where provider_id = ${provider.providerId}`,
    );
    expect(account).toEqual({ gateway: 'simulated', payouts_enabled: true });
    const published = await fixture.paidService(provider, { price_minor: 5_000, currency: 'GBP' });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  });
});
