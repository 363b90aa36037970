import { randomUUID } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import sharp from 'sharp';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifications } from '../../src/modules/notifications/notifications.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { seedDemoData } from '../helpers/demo.js';
import { multipartFile } from '../helpers/multipart.js';
import { deliverMoyasarEvent, deliverStripeEvent, startPaymentFakes } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

/**
 * Every write route, once, with a request that succeeds, on the embedded database with the
 * transaction guard on: a service that reads through the global handle inside its own
 * transaction fails here at once (on PGlite it would hang the whole app). The walk must name
 * every write operation of the OpenAPI document, so a new route cannot skip it.
 */
describe('every write route succeeds with the transaction guard on', () => {
  const clock = createTestClock(new Date());
  let t: TestApp;
  const walked = new Map<string, number>();
  let demo: Awaited<ReturnType<typeof seedDemoData>>;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    demo = await seedDemoData(t.app);
  });
  afterAll(() => t.close());

  /** Sends one request of operation `operation` ("POST /api/v1/bookings") and checks its status. */
  const call = async (
    operation: string,
    path: string,
    options: {
      as?: TestUser | { headers: Record<string, string> };
      body?: unknown;
      /** A body that is not JSON (an upload), with its content-type. */
      raw?: { payload: Buffer; headers: Record<string, string> };
      status: number;
    },
  ) => {
    const [method] = operation.split(' ');
    const response = await t.app.inject({
      method: method as 'POST',
      url: path,
      headers: { ...options.as?.headers, ...options.raw?.headers },
      ...(options.body === undefined ? {} : { payload: options.body as Record<string, unknown> }),
      ...(options.raw ? { payload: options.raw.payload } : {}),
    });
    expect(response.statusCode, `${operation}: ${response.body}`).toBe(options.status);
    walked.set(operation, (walked.get(operation) ?? 0) + 1);
    return response.statusCode === 204 ? undefined : response.json();
  };

  const walkAccounts = async () => {
    const email = `walker.${randomUUID()}@example.test`;
    const password = 'Walking-passphrase-2026';
    await call('POST /api/v1/auth/signup', '/api/v1/auth/signup', { body: { email, password }, status: 201 });
    const login = await call('POST /api/v1/auth/login', '/api/v1/auth/login', {
      body: { email, password },
      status: 200,
    });
    const refreshed = await call('POST /api/v1/auth/refresh', '/api/v1/auth/refresh', {
      body: { refresh_token: login.data.refresh_token },
      status: 200,
    });
    const walker = { headers: { authorization: `Bearer ${refreshed.data.access_token}` } };
    await call('PATCH /api/v1/me', '/api/v1/me', {
      as: walker,
      body: { name: 'Walker', phone: '+447700900111' },
      status: 200,
    });
    await call('POST /api/v1/me/trial', '/api/v1/me/trial', { as: walker, status: 201 });
    await call('PUT /api/v1/me/consents/{purpose}', '/api/v1/me/consents/whatsapp', {
      as: walker,
      body: { granted: true },
      status: 200,
    });
    const device = await call('POST /api/v1/me/devices', '/api/v1/me/devices', {
      as: walker,
      body: { kind: 'fcm', platform: 'android', token: `walk-token-${randomUUID()}` },
      status: 201,
    });
    await call('DELETE /api/v1/me/devices/{id}', `/api/v1/me/devices/${device.data.id}`, { as: walker, status: 204 });
    await call('PUT /api/v1/me/profile', '/api/v1/me/profile', {
      as: walker,
      body: { age: 34, country: 'GB', diet_preference: 'vegetarian' },
      status: 200,
    });
    await call('PATCH /api/v1/me/profile', '/api/v1/me/profile', {
      as: walker,
      body: { activity_level: 'active' },
      status: 200,
    });
    await call('POST /api/v1/me/support-requests', '/api/v1/me/support-requests', {
      as: walker,
      body: { subject: 'Reminder times', message: 'Can reminders follow my time zone?' },
      status: 201,
    });
    await call('POST /api/v1/me/calendar-feed', '/api/v1/me/calendar-feed', { as: walker, status: 201 });
    await call('POST /api/v1/me/calendar-feed', '/api/v1/me/calendar-feed', { as: walker, status: 200 });
    await call('DELETE /api/v1/me/calendar-feed', '/api/v1/me/calendar-feed', { as: walker, status: 204 });
    await call('POST /api/v1/me/data-export', '/api/v1/me/data-export', { as: walker, status: 202 });
    await call('POST /api/v1/events', '/api/v1/events', {
      as: walker,
      body: {
        events: [{ name: 'diet_plan_viewed', time: clock.now().toISOString(), device_id: 'walk-1', properties: {} }],
      },
      status: 202,
    });

    // Reminders: switching one to WhatsApp checks the consent inside the update's transaction.
    const reminder = await call('POST /api/v1/me/reminders', '/api/v1/me/reminders', {
      as: walker,
      body: {
        title: 'Screening',
        starts_at: new Date(clock.now().getTime() + 7 * 86_400_000).toISOString(),
        time_zone: 'Europe/London',
        channel: 'email',
      },
      status: 201,
    });
    const reminderUrl = `/api/v1/me/reminders/${reminder.data.id}`;
    await call('PATCH /api/v1/me/reminders/{id}', reminderUrl, {
      as: walker,
      body: { channel: 'whatsapp' },
      status: 200,
    });
    await call('DELETE /api/v1/me/reminders/{id}', reminderUrl, { as: walker, status: 204 });
    const image = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3a6' } })
      .png()
      .toBuffer();
    const uploaded = await call('POST /api/v1/media', '/api/v1/media?purpose=avatar', {
      as: walker,
      raw: multipartFile(image, 'avatar.png', 'image/png'),
      status: 201,
    });
    await call('DELETE /api/v1/media/{id}', `/api/v1/media/${uploaded.data.id}`, { as: walker, status: 204 });
    // A separate applicant: approval changes the role, which ends that account's tokens.
    const applicant = await createUser(t.app);
    const application = {
      business_name: 'Walker Wellness',
      bio: 'Applying from the write-route walk.',
      city: 'Bristol',
      country: 'GB',
      languages: ['en'],
      category_ids: [demo.categoryId],
    };
    const applied = await call('POST /api/v1/me/provider-application', '/api/v1/me/provider-application', {
      as: applicant,
      body: application,
      status: 201,
    });
    await call(
      'POST /api/v1/admin/provider-applications/{id}/reject',
      `/api/v1/admin/provider-applications/${applied.data.id}/reject`,
      { as: demo.admin, body: { reason: 'A licence is missing' }, status: 200 },
    );
    const again = await call('POST /api/v1/me/provider-application', '/api/v1/me/provider-application', {
      as: applicant,
      body: application,
      status: 201,
    });
    await call(
      'POST /api/v1/admin/provider-applications/{id}/approve',
      `/api/v1/admin/provider-applications/${again.data.id}/approve`,
      { as: demo.admin, status: 200 },
    );

    const other = await createUser(t.app);
    const sessions = await call('GET', '/api/v1/auth/sessions', { as: other, status: 200 });
    await call('DELETE /api/v1/auth/sessions/{id}', `/api/v1/auth/sessions/${sessions.data[0].id}`, {
      as: await signIn(other),
      status: 200,
    });
    await call('POST /api/v1/auth/password', '/api/v1/auth/password', {
      as: await signIn(other),
      body: { current_password: other.password, new_password: 'Another-passphrase-2026' },
      status: 200,
    });
    await call('POST /api/v1/auth/password-reset/request', '/api/v1/auth/password-reset/request', {
      body: { email: other.email },
      status: 202,
    });
    // The request only queues a message: the worker looks the account up and queues the email.
    await t.app.platform.dispatcher.runOnce();
    // The token travels by email only: read it from the message queued for the account holder.
    const [reset] = await t.app.platform.db
      .select()
      .from(notifications)
      .where(and(eq(notifications.userId, other.id), eq(notifications.template, 'password_reset')))
      .orderBy(desc(notifications.createdAt))
      .limit(1);
    const token = (reset?.data as { token?: string } | null)?.token;
    await call('POST /api/v1/auth/password-reset/confirm', '/api/v1/auth/password-reset/confirm', {
      body: { token, password: 'Reset-passphrase-2026' },
      status: 200,
    });
    const third = await createUser(t.app);
    await call('POST /api/v1/auth/logout', '/api/v1/auth/logout', { as: third, status: 200 });
    await call('POST /api/v1/auth/logout-all', '/api/v1/auth/logout-all', { as: await signIn(third), status: 200 });
    await call('DELETE /api/v1/me', '/api/v1/me', {
      as: await signIn(third),
      body: { password: third.password },
      status: 200,
    });

    const managed = await createUser(t.app);
    await call('PATCH /api/v1/admin/users/{id}', `/api/v1/admin/users/${managed.id}`, {
      as: demo.admin,
      body: { plan: 'premium' },
      status: 200,
    });
    await call('POST /api/v1/admin/users/{id}/erase', `/api/v1/admin/users/${managed.id}/erase`, {
      as: demo.admin,
      body: { reason: 'asked by email' },
      status: 200,
    });
    await call('POST /api/v1/admin/consent-notices', '/api/v1/admin/consent-notices', {
      as: demo.admin,
      body: { purpose: 'analytics', title: 'Analytics, version 2', body: 'We count page views without names.' },
      status: 201,
    });
    const key = `walk-${randomUUID().slice(0, 8)}`;
    await call('POST /api/v1/admin/flags', '/api/v1/admin/flags', {
      as: demo.admin,
      body: { key, description: 'walk', enabled: true, rollout_percentage: 50 },
      status: 201,
    });
    await call('PATCH /api/v1/admin/flags/{key}', `/api/v1/admin/flags/${key}`, {
      as: demo.admin,
      body: { description: 'walked', rules: { plans: ['premium'] } },
      status: 200,
    });
    await call('DELETE /api/v1/admin/flags/{key}', `/api/v1/admin/flags/${key}`, { as: demo.admin, status: 204 });
  };

  const walkContentAndCatalogue = async () => {
    const slug = `walk-${randomUUID().slice(0, 8)}`;
    const item = await call('POST /api/v1/admin/content', '/api/v1/admin/content', {
      as: demo.admin,
      body: {
        type: 'article',
        slug,
        title: 'Walking',
        summary: 'Why walking helps',
        body: 'Walk daily.',
        status: 'published',
      },
      status: 201,
    });
    const itemUrl = `/api/v1/admin/content/${item.data.id}`;
    await call('PATCH /api/v1/admin/content/{id}', itemUrl, {
      as: demo.admin,
      body: { title: 'Walking more' },
      status: 200,
    });
    await call('DELETE /api/v1/admin/content/{id}', itemUrl, { as: demo.admin, status: 204 });

    const category = await call('POST /api/v1/admin/categories', '/api/v1/admin/categories', {
      as: demo.admin,
      body: { slug, name: 'Walking groups' },
      status: 201,
    });
    const categoryUrl = `/api/v1/admin/categories/${category.data.id}`;
    await call('PATCH /api/v1/admin/categories/{id}', categoryUrl, {
      as: demo.admin,
      body: { name: 'Walks' },
      status: 200,
    });
    await call('DELETE /api/v1/admin/categories/{id}', categoryUrl, { as: demo.admin, status: 204 });
    await call('PATCH /api/v1/admin/providers/{id}', `/api/v1/admin/providers/${demo.pendingProviderId}`, {
      as: demo.admin,
      body: { verification: 'verified' },
      status: 200,
    });

    await call('PATCH /api/v1/provider/profile', '/api/v1/provider/profile', {
      as: demo.provider,
      body: { bio: 'Sports massage in central London.', auto_confirm: false },
      status: 200,
    });
    await call('PUT /api/v1/provider/gallery', '/api/v1/provider/gallery', {
      as: demo.provider,
      body: { media_ids: [] },
      status: 200,
    });
    const service = await call('POST /api/v1/provider/services', '/api/v1/provider/services', {
      as: demo.provider,
      body: {
        name: 'Walking consult',
        category_id: demo.categoryId,
        duration_minutes: 30,
        price_minor: 2500,
        currency: 'GBP',
      },
      status: 201,
    });
    const serviceUrl = `/api/v1/provider/services/${service.data.id}`;
    await call('PATCH /api/v1/provider/services/{id}', serviceUrl, {
      as: demo.provider,
      body: { price_minor: 3000 },
      status: 200,
    });
    await call('DELETE /api/v1/provider/services/{id}', serviceUrl, { as: demo.provider, status: 204 });
    const schedule = await call('GET', '/api/v1/provider/availability', { as: demo.provider, status: 200 });
    const { time_zone, weekly, breaks, exceptions } = schedule.data;
    await call('PUT /api/v1/provider/availability', '/api/v1/provider/availability', {
      as: demo.provider,
      body: { time_zone, weekly, breaks, exceptions },
      status: 200,
    });
  };

  const walkBookingLife = async () => {
    const customer = await createUser(t.app);
    // Email off for the customer: the booking's email to the customer is cancelled on delivery, and an admin retries it.
    await call('PUT /api/v1/me/notification-preferences', '/api/v1/me/notification-preferences', {
      as: customer,
      body: { channels: { whatsapp: false, email: false }, quiet_hours: { start: '22:00', end: '07:00' } },
      status: 200,
    });
    const book = async (slotIndex: number) => {
      const slots = await call('GET', `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.serviceId}`, {
        status: 200,
      });
      const booking = await call('POST /api/v1/bookings', '/api/v1/bookings', {
        as: customer,
        body: { service_id: demo.serviceId, starts_at: slots.data.slots[slotIndex], note: 'First visit' },
        status: 201,
      });
      return booking.data as { id: string; starts_at: string };
    };
    const visited = await book(0);
    const missed = await book(1);
    const cancelled = await book(2);
    for (const booking of [visited, missed]) {
      await call('POST /api/v1/bookings/{id}/confirm', `/api/v1/bookings/${booking.id}/confirm`, {
        as: demo.provider,
        status: 200,
      });
    }
    // The first slots are within a day: only the provider may still move or cancel them.
    const later = await call('GET', `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.serviceId}`, {
      status: 200,
    });
    await call('POST /api/v1/bookings/{id}/reschedule', `/api/v1/bookings/${cancelled.id}/reschedule`, {
      as: demo.provider,
      body: { starts_at: later.data.slots.at(-1) },
      status: 200,
    });
    await call('POST /api/v1/bookings/series', '/api/v1/bookings/series', {
      as: customer,
      body: { service_id: demo.serviceId, starts_at: later.data.slots[3], weeks: 2 },
      status: 201,
    });
    // A waiting place for that day: nothing is offered yet, so accepting is refused; leaving works.
    const waiting = await call('POST /api/v1/waitlist', '/api/v1/waitlist', {
      as: customer,
      body: { provider_id: demo.providerId, service_id: demo.serviceId, day: later.data.slots.at(-1).slice(0, 10) },
      status: 201,
    });
    await call('POST /api/v1/waitlist/{id}/accept', `/api/v1/waitlist/${waiting.data.id}/accept`, {
      as: customer,
      status: 409,
    });
    await call('DELETE /api/v1/waitlist/{id}', `/api/v1/waitlist/${waiting.data.id}`, { as: customer, status: 200 });
    await call('POST /api/v1/bookings/{id}/cancel', `/api/v1/bookings/${cancelled.id}/cancel`, {
      as: demo.provider,
      body: { reason: 'Called in sick' },
      status: 200,
    });
    // Both visits are over; access tokens from before have expired on the way.
    clock.set(new Date(new Date(missed.starts_at).getTime() + 3_600_000));
    const provider = await signIn(demo.provider);
    await call('POST /api/v1/bookings/{id}/complete', `/api/v1/bookings/${visited.id}/complete`, {
      as: provider,
      status: 200,
    });
    await call('POST /api/v1/bookings/{id}/no-show', `/api/v1/bookings/${missed.id}/no-show`, {
      as: provider,
      status: 200,
    });
    const review = await call('POST /api/v1/bookings/{id}/review', `/api/v1/bookings/${visited.id}/review`, {
      as: await signIn(customer),
      body: { rating: 5, text: 'Kind and on time.' },
      status: 201,
    });
    await call('POST /api/v1/provider/reviews/{id}/reply', `/api/v1/provider/reviews/${review.data.id}/reply`, {
      as: provider,
      body: { text: 'Thank you!' },
      status: 200,
    });
    const message = await call('POST /api/v1/bookings/{id}/messages', `/api/v1/bookings/${visited.id}/messages`, {
      as: await signIn(customer),
      body: { text: 'Thank you for today.' },
      status: 201,
    });
    await call('POST /api/v1/bookings/{id}/messages/read', `/api/v1/bookings/${visited.id}/messages/read`, {
      as: provider,
      body: { up_to_id: message.data.id },
      status: 200,
    });
    await call('PATCH /api/v1/admin/reviews/{id}', `/api/v1/admin/reviews/${review.data.id}`, {
      as: await signIn(demo.admin),
      body: { visible: false, reason: 'checking a complaint' },
      status: 200,
    });

    await t.app.platform.dispatcher.runOnce();
    const admin = await signIn(demo.admin);
    const list = await call('GET', '/api/v1/admin/notifications?status=cancelled&limit=100', {
      as: admin,
      status: 200,
    });
    const hers = (list.data as { id: string; user_id: string }[]).find((row) => row.user_id === customer.id);
    expect(hers).toBeDefined();
    await call('POST /api/v1/admin/notifications/{id}/retry', `/api/v1/admin/notifications/${hers?.id}/retry`, {
      as: admin,
      status: 200,
    });

    const block = await call('POST /api/v1/admin/security/blocks', '/api/v1/admin/security/blocks', {
      as: admin,
      body: { ip: '203.0.113.77', minutes: 30, reason: 'walking the write routes' },
      status: 201,
    });
    await call('DELETE /api/v1/admin/security/blocks/{id}', `/api/v1/admin/security/blocks/${block.data.id}`, {
      as: admin,
      status: 200,
    });
  };

  /** A paid booking on the simulated gateway, its refunds, commission rules, payouts and Premium. */
  const walkPayments = async () => {
    const customer = await signIn(demo.user);
    const admin = await signIn(demo.admin);
    const provider = await signIn(demo.provider);
    const slots = await call('GET', `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.paidServiceId}`, {
      status: 200,
    });
    const booking = await call('POST /api/v1/bookings', '/api/v1/bookings', {
      as: customer,
      body: { service_id: demo.paidServiceId, starts_at: slots.data.slots[0] },
      status: 201,
    });
    expect(booking.data).toMatchObject({ status: 'pending_payment', payment: { status: 'requires_payment_method' } });
    const paymentId = booking.data.payment.id as string;
    await call('POST /api/v1/payments/{id}/simulate', `/api/v1/payments/${paymentId}/simulate`, {
      as: customer,
      body: { outcome: 'succeeded' },
      status: 200,
    });
    await t.app.platform.dispatcher.runOnce();
    await call('POST /api/v1/admin/payments/{id}/refunds', `/api/v1/admin/payments/${paymentId}/refunds`, {
      as: admin,
      body: { amount_minor: 1000, reason: 'goodwill' },
      status: 202,
    });
    await t.app.platform.dispatcher.runOnce();
    await call('POST /api/v1/admin/bookings/{id}/cancel', `/api/v1/admin/bookings/${booking.data.id}/cancel`, {
      as: admin,
      body: { reason: 'The provider did not come', provider_no_show: true },
      status: 200,
    });
    await call('PUT /api/v1/admin/commission-rules', '/api/v1/admin/commission-rules', {
      as: admin,
      body: { category_id: demo.categoryId, rate_bps: 1500, limits: { GBP: { min_minor: 100 } } },
      status: 200,
    });
    await call('DELETE /api/v1/admin/commission-rules/{id}', `/api/v1/admin/commission-rules/${demo.categoryId}`, {
      as: admin,
      status: 204,
    });
    await call('POST /api/v1/provider/payouts/onboarding', '/api/v1/provider/payouts/onboarding', {
      as: provider,
      status: 200,
    });
    const member = await createUser(t.app);
    await call('POST /api/v1/me/subscription/checkout', '/api/v1/me/subscription/checkout', {
      as: member,
      body: { interval: 'month' },
      status: 200,
    });
    await t.app.platform.dispatcher.runOnce();
    await call('POST /api/v1/me/subscription/portal', '/api/v1/me/subscription/portal', { as: member, status: 200 });
  };

  /** The webhooks, on an app whose gateways have keys (the stand-ins), with the guard on too. */
  const walkWebhooks = async () => {
    const fakes = await startPaymentFakes({ clock });
    const configured = await buildTestApp({ clock, env: fakes.env });
    try {
      const event = fakes.stripe.event('customer.created', { id: 'cus_walk', object: 'customer' });
      const stripe = await deliverStripeEvent(configured.app, fakes.stripe, event);
      expect(stripe.statusCode, stripe.body).toBe(200);
      walked.set('POST /api/v1/webhooks/stripe', 1);
      const moyasar = await deliverMoyasarEvent(configured.app, {
        id: randomUUID(),
        type: 'balance_transferred',
        created_at: clock.now().toISOString(),
        secret_token: fakes.moyasar.webhookSecret,
        account_name: 'Walk',
        live: false,
        data: {} as never,
      });
      expect(moyasar.statusCode, moyasar.body).toBe(200);
      walked.set('POST /api/v1/webhooks/moyasar', 1);
    } finally {
      await configured.close();
      await fakes.close();
    }
    const authToken = 'walk-twilio-auth-token-0123456789';
    const sms = await buildTestApp({
      clock,
      env: {
        TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
        TWILIO_AUTH_TOKEN: authToken,
        TWILIO_FROM: '+15005550006',
        PUBLIC_API_URL: 'https://api.care.test',
      },
    });
    try {
      const params = { MessageSid: `SM${'1'.repeat(32)}`, MessageStatus: 'delivered' };
      const signature = twilio.getExpectedTwilioSignature(
        authToken,
        'https://api.care.test/api/v1/webhooks/twilio/status',
        params,
      );
      const status = await sms.app.inject({
        method: 'POST',
        url: '/api/v1/webhooks/twilio/status',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        payload: new URLSearchParams(params).toString(),
      });
      expect(status.statusCode, status.body).toBe(200);
      walked.set('POST /api/v1/webhooks/twilio/status', 1);
    } finally {
      await sms.close();
    }
  };

  it('walks accounts, content, the catalogue and a booking life, and no write operation of the document is left', async () => {
    await walkAccounts();
    await walkContentAndCatalogue();
    await walkBookingLife();
    await walkPayments();
    await walkWebhooks();
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const writes = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((method) => ['post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(writes.length).toBeGreaterThan(40);
    expect(writes.filter((operation) => !walked.has(operation))).toEqual([]);
  });

  /** A fresh access token for someone whose earlier one a walked route may have ended. */
  async function signIn(user: { email: string; password: string }) {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(response.statusCode, response.body).toBe(200);
    return { ...user, headers: { authorization: `Bearer ${response.json().data.access_token}` } };
  }
});
