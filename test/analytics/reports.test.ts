import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import type { EventName } from '../../src/modules/analytics/index.js';
import { buildTestApp, createTestClock, type TestApp, testRedisUrl } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const DAY = 86_400_000;
// A Monday, so the weekly cohorts start on the days the people signed up.
const WEEK_1 = Date.parse('2026-09-07T10:00:00.000Z');
const WEEK_2 = Date.parse('2026-09-14T10:00:00.000Z');
const REPORT_NOW = new Date('2026-11-20T12:00:00.000Z');
const X = '0193a5b0-0000-7000-8000-00000000000a';
const Y = '0193a5b0-0000-7000-8000-00000000000b';
const P = '0193a5b0-0000-7000-8000-0000000000f1';
const RANGE = 'from=2026-09-07&to=2026-09-20';

/**
 * A small, known world, built through the real server paths (sign-up over HTTP, `track`):
 * five people in two weekly cohorts, each doing a known set of things on known days.
 */
describe('admin analytics reports', () => {
  const clock = createTestClock(new Date(WEEK_1));
  let t: TestApp;
  let admin: TestUser;
  const people: Record<string, TestUser> = {};

  const emit = async (who: string, at: number, name: EventName, properties: Record<string, unknown> = {}) => {
    clock.set(new Date(at));
    await t.app.platform.database.db.transaction((tx) =>
      t.app.platform.track(tx, name, (people[who] as TestUser).id, properties),
    );
  };
  const booking = { booking_id: P, provider_id: P, service_id: P };

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    clock.set(new Date(WEEK_1 - 30 * DAY));
    admin = await createUser(t.app, { role: 'admin' });
    for (const who of ['A', 'B', 'C', 'D']) {
      clock.set(new Date(WEEK_1));
      people[who] = await createUser(t.app);
    }
    clock.set(new Date(WEEK_2));
    people.E = await createUser(t.app);

    // A: the whole wellness journey, a booking, and back on day 8 and day 31.
    await emit('A', WEEK_1 + DAY, 'profile_completed');
    await emit('A', WEEK_1 + DAY + 1000, 'content_viewed', { content_id: X });
    await emit('A', WEEK_1 + 2 * DAY, 'content_viewed', { content_id: X });
    await emit('A', WEEK_1 + 2 * DAY + 1000, 'diet_plan_viewed', { personalised: true, items: 4 });
    await emit('A', WEEK_1 + 3 * DAY, 'content_viewed', { content_id: X });
    await emit('A', WEEK_1 + 3 * DAY + 1000, 'service_searched', { results: 3, has_query: true });
    await emit('A', WEEK_1 + 3 * DAY + 2000, 'slot_viewed', { provider_id: P, service_id: P, slots: 5 });
    await emit('A', WEEK_1 + 4 * DAY, 'booking_created', {
      ...booking,
      status: 'confirmed',
      price_minor: 5000,
      currency: 'EUR',
    });
    await emit('A', WEEK_1 + 8 * DAY, 'last_login');
    await emit('A', WEEK_1 + 10 * DAY, 'booking_completed', booking);
    await emit('A', WEEK_1 + 31 * DAY, 'last_login');
    // B: profile, a trial that turns premium, a support request on a Thursday.
    await emit('B', WEEK_1 + DAY, 'profile_completed');
    await emit('B', WEEK_1 + 2 * DAY, 'trial_started', { days: 14 });
    await emit('B', WEEK_1 + 3 * DAY, 'support_request', { priority: true });
    await emit('B', WEEK_1 + 20 * DAY, 'plan_changed', { from: 'trial', to: 'premium', by: 'checkout' });
    // C signs up and does nothing. D: profile, one read, a search and a look at slots.
    await emit('D', WEEK_1 + 2 * DAY, 'profile_completed');
    await emit('D', WEEK_1 + 2 * DAY + 1000, 'content_viewed', { content_id: Y });
    await emit('D', WEEK_1 + 3 * DAY, 'service_searched', { results: 0, has_query: false });
    await emit('D', WEEK_1 + 3 * DAY + 1000, 'slot_viewed', { provider_id: P });
    // E (week 2, in GB): profile, a protection plan, a search, straight to premium, a support request.
    clock.set(new Date(WEEK_2 + 1000));
    const profile = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me/profile',
      headers: (people.E as TestUser).headers,
      payload: { country: 'GB' },
    });
    expect(profile.statusCode).toBe(200);
    await emit('E', WEEK_2 + DAY, 'profile_completed');
    await emit('E', WEEK_2 + DAY + 1000, 'protection_plan_viewed', { personalised: false, items: 3 });
    await emit('E', WEEK_2 + DAY + 2000, 'service_searched', {});
    await emit('E', WEEK_2 + DAY + 3000, 'support_request', { priority: false });
    await emit('E', WEEK_2 + 5 * DAY, 'plan_changed', { from: 'free', to: 'premium', by: 'checkout' });
    clock.set(REPORT_NOW);
    // Tokens last 15 minutes of the app's clock: sign in again at report time.
    admin = await signIn(admin);
    people.C = await signIn(people.C as TestUser);
  });
  afterAll(() => t.close());

  const signIn = async (user: TestUser): Promise<TestUser> => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    return { ...user, headers: { authorization: `Bearer ${res.json().data.access_token}` } };
  };

  const report = async (path: string, query = RANGE) => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/analytics/${path}${path.includes('?') ? '&' : '?'}${query}`,
      headers: admin.headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };
  const counts = (steps: { step: string; count: number }[]) => Object.fromEntries(steps.map((s) => [s.step, s.count]));

  it('answers the wellness funnel with per-step conversion', async () => {
    const data = await report('funnel?journey=wellness');
    expect(data).toMatchObject({ journey: 'wellness', from: '2026-09-07', to: '2026-09-20' });
    expect(counts(data.steps)).toEqual({
      signed_up: 5,
      profile_completed: 4,
      content_viewed: 2,
      engaged: 1,
      retained_day_7: 1,
    });
    expect(data.steps[1]).toMatchObject({ conversion_from_previous: 0.8, conversion_from_start: 0.8 });
    expect(data.steps[2]).toMatchObject({ conversion_from_previous: 0.5, conversion_from_start: 0.4 });
    expect(data.steps[0].conversion_from_previous).toBeNull();
  });

  it('answers the marketplace funnel', async () => {
    const data = await report('funnel?journey=marketplace');
    expect(counts(data.steps)).toEqual({ searched: 3, slot_viewed: 2, booking_created: 1, booking_completed: 1 });
    expect(data.steps[1].conversion_from_previous).toBeCloseTo(0.6667, 4);
  });

  it('filters cohorts by country and plan', async () => {
    expect(counts((await report('funnel?journey=wellness', `${RANGE}&country=gb`)).steps)).toMatchObject({
      signed_up: 1,
      profile_completed: 1,
    });
    expect(counts((await report('funnel?journey=wellness', `${RANGE}&plan=premium`)).steps).signed_up).toBe(0);
    expect(counts((await report('funnel?journey=wellness', `${RANGE}&plan=free`)).steps).signed_up).toBe(5);
  });

  it('answers weekly retention cohorts with the counts behind each rate', async () => {
    const data = await report('retention');
    expect(data.cohorts).toEqual([
      {
        cohort_week: '2026-09-07',
        size: 4,
        day_7: { retained: 1, rate: 0.25, measurable: true },
        day_30: { retained: 1, rate: 0.25, measurable: true },
      },
      {
        cohort_week: '2026-09-14',
        size: 1,
        day_7: { retained: 0, rate: 0, measurable: true },
        day_30: { retained: 0, rate: 0, measurable: true },
      },
    ]);
  });

  it('says when a cohort is too young to measure', async () => {
    clock.set(new Date(WEEK_2 + 15 * DAY));
    try {
      const data = await report('retention', 'from=2026-09-14&to=2026-09-14');
      expect(data.cohorts[0]).toMatchObject({
        day_7: { rate: 0, measurable: true },
        day_30: { rate: null, measurable: false },
      });
    } finally {
      clock.set(REPORT_NOW);
    }
  });

  it('answers activation, conversion, adoption, engagement, content and support', async () => {
    expect(await report('activation')).toMatchObject({ signups: 5, activated: 2, rate: 0.4 });
    expect(await report('conversion')).toMatchObject({
      signups: 5,
      trials_started: 1,
      premium: 2,
      free_to_trial_rate: 0.2,
      trial_to_premium_rate: 1,
      free_to_premium_rate: 0.4,
    });
    const adoption = await report('adoption');
    expect(adoption.features).toContainEqual({
      feature: 'content_viewed',
      plan: 'free',
      users: 2,
      active_users: 5,
      rate: 0.4,
    });
    expect(adoption.features).toContainEqual({
      feature: 'content_viewed',
      plan: 'premium',
      users: 0,
      active_users: 0,
      rate: null,
    });
    const engagement = await report('engagement');
    expect(engagement.active_subjects).toBe(5);
    expect(engagement.buckets).toEqual([
      { bucket: 'low', subjects: 1 },
      { bucket: 'medium', subjects: 3 },
      { bucket: 'high', subjects: 1 },
    ]);
    expect(engagement.daily.find((d: { day: string }) => d.day === '2026-09-07')).toEqual({
      day: '2026-09-07',
      events: 8,
      active_subjects: 4,
    });
    const content = await report('content');
    expect(content.items).toEqual([
      {
        content_id: X,
        title: null,
        views: 3,
        anonymous_views: 0,
        unique_viewers: 1,
        plan_view_conversion: 1,
        rank: 1,
        low_performer: false,
      },
      {
        content_id: Y,
        title: null,
        views: 1,
        anonymous_views: 0,
        unique_viewers: 1,
        plan_view_conversion: 0,
        rank: 2,
        low_performer: false,
      },
    ]);
    expect(await report('support')).toMatchObject({
      total: 2,
      by_priority: [
        { priority: 'standard', requests: 1 },
        { priority: 'priority', requests: 1 },
      ],
      by_plan: [{ plan: 'free', requests: 2 }],
      weekly: [
        { week: '2026-09-07', requests: 1 },
        { week: '2026-09-14', requests: 1 },
      ],
      by_weekday: [
        { weekday: 2, requests: 1 },
        { weekday: 4, requests: 1 },
      ],
    });
  });

  it('answers each report as CSV', async () => {
    for (const path of [
      'funnel?journey=wellness',
      'retention',
      'activation',
      'engagement',
      'adoption',
      'conversion',
      'content',
      'support',
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/analytics/${path}${path.includes('?') ? '&' : '?'}${RANGE}&format=csv`,
        headers: admin.headers,
      });
      expect(res.statusCode, path).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename=".+-2026-09-07-2026-09-20\.csv"$/);
      expect(res.body.split('\r\n')[0]?.length, path).toBeGreaterThan(0);
    }
    const funnel = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/analytics/funnel?journey=marketplace&${RANGE}&format=csv`,
      headers: admin.headers,
    });
    expect(funnel.body.split('\r\n')).toEqual([
      'journey,step,event,count,conversion_from_previous,conversion_from_start',
      'marketplace,searched,service_searched,3,,',
      'marketplace,slot_viewed,slot_viewed,2,0.6667,0.6667',
      'marketplace,booking_created,booking_created,1,0.5,0.3333',
      'marketplace,booking_completed,booking_completed,1,1,0.3333',
      '',
    ]);
  });

  it('caches each report for 5 minutes', async () => {
    const query = 'from=2026-09-14&to=2026-09-14';
    expect((await report('activation', query)).signups).toBe(1);
    clock.set(new Date(WEEK_2 + 3600_000));
    await createUser(t.app);
    clock.set(REPORT_NOW);
    expect((await report('activation', query)).signups).toBe(1);
    // The memory store expires by the app's clock; Redis by its own, so only there can we wait.
    if (!testRedisUrl) {
      clock.advance(5 * 60_000 + 1000);
      expect((await report('activation', query)).signups).toBe(2);
    }
  });

  it('keeps each person’s facts equal to what the person’s raw events say', async () => {
    const facts = () =>
      queryRows<Record<string, unknown>>(
        t.app.platform.db,
        sql`select * from analytics_subject_facts order by subject`,
      ).then((rows) => rows.map(({ updated_at: _, ...row }) => row));
    const kept = await facts();
    expect(kept.length).toBeGreaterThanOrEqual(6);
    await t.app.platform.services.analytics.rebuildFacts();
    expect(await facts()).toEqual(kept);
  });

  it('gives one UTC day’s metrics for the Sheets row', async () => {
    expect(await t.app.platform.services.analytics.dailyMetrics('2026-09-07')).toMatchObject({
      day: '2026-09-07',
      signups: 4,
      active_users: 4,
      events: 8,
      profiles_completed: 0,
    });
    expect(await t.app.platform.services.analytics.dailyMetrics('2026-09-19')).toMatchObject({
      events: 1,
      premium_upgrades: 1,
    });
  });

  it('refuses bad ranges and non-admins', async () => {
    for (const query of [
      'from=2026-09-20&to=2026-09-01',
      'from=2025-01-01&to=2026-09-01',
      'from=yesterday',
      'plan=gold',
      'country=GBR',
      'extra=1',
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/analytics/retention?${query}`,
        headers: admin.headers,
      });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
    const missingJourney = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/funnel',
      headers: admin.headers,
    });
    expect(missingJourney.statusCode).toBe(400);
    const user = people.C as TestUser;
    for (const path of [
      'funnel?journey=wellness',
      'retention',
      'activation',
      'engagement',
      'adoption',
      'conversion',
      'content',
      'support',
      'events',
    ]) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/admin/analytics/${path}`, headers: user.headers });
      expect(res.statusCode, path).toBe(403);
    }
  });

  it('gives premium people their own engagement dashboard, and no one else', async () => {
    const free = await t.app.inject({
      method: 'GET',
      url: '/api/v1/analytics/advanced',
      headers: (people.C as TestUser).headers,
    });
    expect(free.statusCode).toBe(403);
    expect(free.json().code).toBe('PREMIUM_REQUIRED');
    const premium = await createUser(t.app, { plan: 'premium' });
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/analytics/advanced', headers: premium.headers });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data).toMatchObject({ linked: true, weeks: 12, active_days: 1 });
    expect(data.by_event.map((e: { name: string }) => e.name)).toEqual(
      expect.arrayContaining(['user_signed_up', 'last_login', 'plan_changed']),
    );
    expect(data.weekly).toHaveLength(1);
    expect(data.score).toBeGreaterThan(0);
    expect(data.platform_median_score).toEqual(expect.any(Number));
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: premium.headers,
      payload: { granted: true },
    });
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: premium.headers,
      payload: { granted: false },
    });
    const unlinked = await t.app.inject({ method: 'GET', url: '/api/v1/analytics/advanced', headers: premium.headers });
    expect(unlinked.json().data).toMatchObject({ linked: false, weekly: [], score: 0 });
  });
});
