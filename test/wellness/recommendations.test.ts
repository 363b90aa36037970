import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { createContent, patchContent } from '../content/helpers.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const DAY = 86_400_000;

describe('diet and protection plans', () => {
  const clock = createTestClock(new Date('2027-02-01T10:00:00Z'));
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
    const block = (
      type: string,
      slug: string,
      audience: Record<string, unknown>,
      extra: Record<string, unknown> = {},
    ) => createContent(t.app, admin, { type, slug, audience, status: 'published', title: slug, ...extra });
    await block('diet_block', 'diet-general-veg', {});
    await block('diet_block', 'diet-vegan-b12', { diets: ['vegan'] });
    await block('diet_block', 'diet-vegetarian-iron', { diets: ['vegetarian'] });
    await block('diet_block', 'diet-active-energy', {
      activity_levels: ['active', 'moderate'],
      diets: ['vegan', 'omnivore'],
    });
    await block('diet_block', 'diet-premium-recipes', {}, { tier: 'premium' });
    await block('protection_block', 'protect-no-smoking', {});
    await block('protection_block', 'protect-screen-25-49', { min_age: 25, max_age: 49 });
    await block('protection_block', 'protect-screen-50-64', { min_age: 50, max_age: 64 });
    await block('protection_block', 'protect-vaccine-to-26', { max_age: 26 });
    await block('protection_block', 'protect-gb-programme', { min_age: 25, countries: ['GB'] });
    await block('protection_block', 'protect-draft', { min_age: 18 }, { status: 'draft' });
  });
  afterAll(() => t.close());

  const plan = async (u: TestUser, kind: 'diet' | 'protection') => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/recommendations/${kind}-plan`,
      headers: u.headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data as {
      personalised: boolean;
      items: { slug: string; why: string[] }[];
      would_personalise: string[];
      missing_fields: string[];
      profile_completion: number;
    };
  };
  const setProfile = (u: TestUser, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'PATCH', url: '/api/v1/me/profile', headers: u.headers, payload });

  it('gives an incomplete profile a general plan and names the fields that would personalise it', async () => {
    const user = await createUser(t.app);
    const diet = await plan(user, 'diet');
    expect(diet.personalised).toBe(false);
    expect(diet.items.map((i) => i.slug)).toEqual(['diet-general-veg']);
    expect(diet.items[0]?.why).toEqual(['general guidance for everyone']);
    expect(diet.would_personalise).toEqual(['activity_level', 'diet_preference']);
    expect(diet.profile_completion).toBe(0);
    const protection = await plan(user, 'protection');
    expect(protection.items.map((i) => i.slug)).toEqual(['protect-no-smoking']);
    expect(protection.would_personalise).toEqual(['age', 'country']);
  });

  it('chooses blocks whose audience matches the profile, most specific first, saying why', async () => {
    const user = await createUser(t.app);
    await setProfile(user, { age: 34, diet_preference: 'vegan', activity_level: 'moderate', country: 'GB' });
    const diet = await plan(user, 'diet');
    expect(diet.personalised).toBe(true);
    expect(diet.items.map((i) => i.slug)).toEqual(['diet-active-energy', 'diet-vegan-b12', 'diet-general-veg']);
    expect(diet.items[0]?.why).toEqual(['your diet is vegan', 'your activity level is moderate']);
    const protection = await plan(user, 'protection');
    expect(protection.items.map((i) => i.slug)).toEqual([
      'protect-gb-programme',
      'protect-screen-25-49',
      'protect-no-smoking',
    ]);
    expect(protection.items[1]?.why).toEqual(['your age (34) is in 25–49']);
    // The same profile always gets the same plan.
    expect((await plan(user, 'protection')).items).toEqual(protection.items);
  });

  it('emits diet_plan_viewed and protection_plan_viewed on every view', async () => {
    const user = await createUser(t.app);
    await plan(user, 'diet');
    await plan(user, 'diet');
    await plan(user, 'protection');
    const rows = await queryRows<{ name: string; n: number }>(
      t.app.platform.db,
      sql`select name, count(*)::int as n from product_events where subject = ${await subjectOf(t.app, user.id)} and name like '%plan_viewed' group by name order by name`,
    );
    expect(rows).toEqual([
      { name: 'diet_plan_viewed', n: 2 },
      { name: 'protection_plan_viewed', n: 1 },
    ]);
  });

  it('caches per user and invalidates when the user’s profile or matching content changes', async () => {
    const user = await createUser(t.app);
    await setProfile(user, { age: 55 });
    const hits = async () => {
      const text = await t.app.platform.metrics.registry.getSingleMetricAsString('cache_requests_total');
      const line = text.split('\n').find((l) => l.includes('cache="recommendations"') && l.includes('result="hit"'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const first = await plan(user, 'protection');
    expect(first.items.map((i) => i.slug)).toContain('protect-screen-50-64');
    const before = await hits();
    await plan(user, 'protection');
    expect(await hits()).toBe(before + 1);

    await setProfile(user, { age: 30 });
    const afterProfile = await plan(user, 'protection');
    expect(afterProfile.items.map((i) => i.slug)).toContain('protect-screen-25-49');
    expect(afterProfile.items.map((i) => i.slug)).not.toContain('protect-screen-50-64');

    const created = await createContent(t.app, admin, {
      type: 'protection_block',
      slug: 'protect-new-30s',
      title: 'New for your thirties',
      audience: { min_age: 30, max_age: 39 },
      status: 'published',
    });
    const afterContent = await plan(user, 'protection');
    expect(afterContent.items.map((i) => i.slug)).toContain('protect-new-30s');
    await patchContent(t.app, admin, created.id, { status: 'archived' });
    expect((await plan(user, 'protection')).items.map((i) => i.slug)).not.toContain('protect-new-30s');
  });

  it('adds premium blocks for trial and premium users only', async () => {
    const free = await createUser(t.app);
    const premium = await createUser(t.app, { plan: 'premium' });
    expect((await plan(free, 'diet')).items.map((i) => i.slug)).not.toContain('diet-premium-recipes');
    expect((await plan(premium, 'diet')).items.map((i) => i.slug)).toContain('diet-premium-recipes');
  });

  it('needs a signed-in caller', async () => {
    for (const kind of ['diet', 'protection']) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/me/recommendations/${kind}-plan` });
      expect(res.statusCode).toBe(401);
    }
  });
});

describe('premium insights', () => {
  const clock = createTestClock(new Date('2027-02-01T10:00:00Z'));
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  it('refuses free users with PREMIUM_REQUIRED', async () => {
    const free = await createUser(t.app);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me/insights', headers: free.headers });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('PREMIUM_REQUIRED');
  });

  it('shows a trial user their engagement and next steps, counts the use, and stops when the trial ends', async () => {
    const user = await createUser(t.app);
    const trial = await t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers: user.headers });
    expect(trial.statusCode).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const login = async () =>
      ({
        authorization: `Bearer ${(await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } })).json().data.access_token}`,
      }) as const;
    let headers = await login();
    await t.app.inject({ method: 'GET', url: '/api/v1/me/recommendations/diet-plan', headers });
    await t.app.inject({ method: 'GET', url: '/api/v1/me/recommendations/diet-plan', headers });
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me/insights', headers });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data.totals).toEqual({ plans_viewed: 2, content_read: 0, reminders_kept: 0 });
    expect(data.weekly).toEqual([{ week: '2027-02-01', plans_viewed: 2, content_read: 0, reminders_kept: 0 }]);
    expect(data.next_steps.map((s: { action: string }) => s.action)).toEqual([
      'complete_profile',
      'view_protection_plan',
      'set_reminder',
      'read_content',
    ]);
    const [usage] = await queryRows<{ usage_count: number }>(
      t.app.platform.db,
      sql`select usage_count from premium_feature_usage where user_id = ${user.id} and feature_name = 'personalised_insights'`,
    );
    expect(usage?.usage_count).toBe(1);

    clock.advance(15 * DAY);
    headers = await login();
    const expired = await t.app.inject({ method: 'GET', url: '/api/v1/me/insights', headers });
    expect(expired.statusCode).toBe(403);
    expect(expired.json().code).toBe('PREMIUM_REQUIRED');
  });
});
