/**
 * The business counters on /metrics (sign-ups, bookings by event, payments captured and revenue by
 * currency, Premium bought), driven over HTTP on the demo data with the simulated gateway. Each is
 * counted once its transaction commits: a refused sign-up or a rolled-back change counts nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox, signInAgain } from '../helpers/payments.js';
import { createUser } from '../helpers/users.js';

/** Monday 22 March 2027, 06:00 UTC: the demo provider's weekday hours (London) are ahead. */
const START = new Date('2027-03-22T06:00:00Z');
/** The demo's service paid online: 70.00 GBP. */
const PAID_PRICE = 7000;

/** One sample of `name` with exactly these labels from the Prometheus text; 0 when absent. */
function sampleOf(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)="((?:[^"\\]|\\.)*)"/gi)].map((m) => [m[1], m[2]]),
    );
    const wanted = Object.entries(labels);
    if (wanted.length === Object.keys(found).length && wanted.every(([key, value]) => found[key] === value)) {
      return Number(match[3]);
    }
  }
  return 0;
}

describe('business counters on /metrics', () => {
  const clock = createTestClock(START);
  let t: TestApp;
  let demo: Awaited<ReturnType<typeof seedDemoData>>;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    demo = await seedDemoData(t.app);
  });
  afterAll(() => t?.close());

  const scrape = async () => (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
  const bookings = (text: string, event: string) => sampleOf(text, 'care_bookings_total', { event });

  const freeSlot = async (serviceId: string) => {
    const response = await api(t.app).anonymous.get('/api/v1/providers/{id}/slots', {
      params: { id: demo.providerId },
      query: { service_id: serviceId },
    });
    const [first] = response.data.slots;
    if (!first) throw new Error('no free slot');
    return first;
  };

  it('counts a sign-up once, and not a refused one', async () => {
    const before = sampleOf(await scrape(), 'care_signups_total');
    const user = await createUser(t.app);
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: { email: user.email, password: 'Another-valid-passphrase-1' },
    });
    expect(again.statusCode).toBe(409);
    expect(sampleOf(await scrape(), 'care_signups_total')).toBe(before + 1);
  });

  it('counts bookings created, confirmed and cancelled', async () => {
    const text = await scrape();
    // Every event is exported from the start, at zero.
    for (const event of ['created', 'confirmed', 'cancelled', 'completed', 'no_show']) {
      expect(text).toMatch(new RegExp(`care_bookings_total\\{event="${event}"\\} \\d`));
    }
    const customer = await createUser(t.app);
    const created = await api(t.app)
      .as(customer)
      .post('/api/v1/bookings', {
        body: { service_id: demo.serviceId, starts_at: await freeSlot(demo.serviceId) },
      });
    expect(created.status).toBe(201);
    const booking = created.data;
    if (booking.status === 'pending') {
      const confirmed = await t.app.inject({
        method: 'POST',
        url: `/api/v1/bookings/${booking.id}/confirm`,
        headers: demo.provider.headers,
      });
      expect(confirmed.statusCode).toBe(200);
    }
    // A refused transition (confirming it twice) counts nothing.
    const twice = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bookings/${booking.id}/confirm`,
      headers: demo.provider.headers,
    });
    expect(twice.statusCode).toBe(409);
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bookings/${booking.id}/cancel`,
      headers: demo.provider.headers,
      payload: { reason: 'the practice is closed that day' },
    });
    expect(cancelled.statusCode).toBe(200);

    const after = await scrape();
    expect(bookings(after, 'created')).toBe(bookings(text, 'created') + 1);
    expect(bookings(after, 'confirmed')).toBe(bookings(text, 'confirmed') + 1);
    expect(bookings(after, 'cancelled')).toBe(bookings(text, 'cancelled') + 1);
  });

  it('counts a captured booking payment and its revenue by currency, and a Premium plan bought', async () => {
    const before = await scrape();
    const customer = await createUser(t.app);
    const paid = await api(t.app)
      .as(customer)
      .post('/api/v1/bookings', {
        body: {
          service_id: demo.paidServiceId,
          starts_at: await freeSlot(demo.paidServiceId),
          payment_token: 'sim_success',
        },
      });
    expect(paid.status).toBe(201);
    await drainOutbox(t);

    const member = await createUser(t.app);
    const checkout = await api(t.app)
      .as(member)
      .post('/api/v1/me/subscription/checkout', { body: { interval: 'year' } });
    expect(checkout.status).toBe(200);
    await drainOutbox(t);
    // The simulated gateway's events run in no set order; one that failed is retried later.
    clock.advance(5 * 60_000);
    await drainOutbox(t);
    await signInAgain(t, member);
    expect((await api(t.app).as(member).get('/api/v1/me')).data.plan).toBe('premium');

    const after = await scrape();
    const booking = { currency: 'GBP', purpose: 'booking' };
    expect(sampleOf(after, 'care_payments_captured_total', booking)).toBe(
      sampleOf(before, 'care_payments_captured_total', booking) + 1,
    );
    expect(sampleOf(after, 'care_revenue_minor_total', booking)).toBe(
      sampleOf(before, 'care_revenue_minor_total', booking) + PAID_PRICE,
    );
    const subscription = { currency: 'GBP', purpose: 'subscription' };
    expect(sampleOf(after, 'care_payments_captured_total', subscription)).toBe(
      sampleOf(before, 'care_payments_captured_total', subscription) + 1,
    );
    expect(sampleOf(after, 'care_subscriptions_started_total', { interval: 'year' })).toBe(
      sampleOf(before, 'care_subscriptions_started_total', { interval: 'year' }) + 1,
    );
  });

  it('shows the outbox backlog: messages due and the age of the oldest', async () => {
    const { outbox, db } = t.app.platform;
    await drainOutbox(t);
    expect(sampleOf(await scrape(), 'outbox_due_messages')).toBe(0);
    outbox.register('test.backlog', async () => {});
    await outbox.enqueue(db, { type: 'test.backlog', payload: {} });
    // Scheduled for later: not behind.
    await outbox.enqueue(db, {
      type: 'test.backlog',
      payload: {},
      deliverAfter: new Date(START.getTime() + 864e5 * 30),
    });
    clock.advance(90_000);
    const text = await scrape();
    expect(sampleOf(text, 'outbox_due_messages')).toBe(1);
    expect(sampleOf(text, 'outbox_oldest_due_age_seconds')).toBeCloseTo(90, 0);
  });
});
