import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { premiumFeatureUsage } from '../../src/modules/access/access.tables.js';
import { productEvents } from '../../src/modules/analytics/analytics.tables.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { users } from '../../src/modules/identity/identity.tables.js';
import type { Actor, Role } from '../../src/shared/actor.js';
import { PLAN_FEATURES } from '../../src/shared/permissions.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const DAY = 86_400_000;

function actorFor(user: TestUser, role: Role = 'user'): Actor {
  return { id: user.id, role, sessionId: 'plans-test', ip: null, correlationId: null };
}

describe('plans, trial and premium usage', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  /** A new access token (the old one expires 15 minutes after the clock moves). */
  async function signIn(user: TestUser) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(res.statusCode, res.body).toBe(200);
    user.accessToken = res.json().data.access_token;
    user.headers = { authorization: `Bearer ${user.accessToken}` };
  }

  const entitlements = async (app: FastifyInstance, user: TestUser) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/me/entitlements', headers: user.headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };
  const startTrial = (user: TestUser) =>
    t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers: user.headers });
  const userRow = async (id: string) => (await t.app.platform.db.select().from(users).where(eq(users.id, id)))[0];
  const auditRows = (userId: string, action: string) =>
    t.app.platform.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetId, userId), eq(auditLog.action, action)));
  const events = async (userId: string, name: string) =>
    t.app.platform.db
      .select()
      .from(productEvents)
      .where(and(eq(productEvents.subject, await subjectOf(t.app, userId)), eq(productEvents.name, name)));

  it('shows a new account as free, with the trial available', async () => {
    const user = await createUser(t.app);
    expect(await entitlements(t.app, user)).toEqual({
      role: 'user',
      plan: 'free',
      trial_expires_at: null,
      trial_days_left: 0,
      trial_available: true,
      permissions: ['profile:read', 'profile:update', 'recommendations:read'],
      features: [...PLAN_FEATURES.free],
      flags: {},
      premium_usage: {},
    });
  });

  it('starts a 14-day trial once (201, then 409 TRIAL_ALREADY_USED), audited and tracked', async () => {
    const user = await createUser(t.app);
    const now = clock.now();
    const expires = new Date(now.getTime() + 14 * DAY);

    const res = await startTrial(user);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().data).toEqual({ plan: 'trial', trial_expires_at: expires.toISOString() });
    expect(await userRow(user.id)).toMatchObject({ plan: 'trial', trialStartedAt: now, trialExpiresAt: expires });

    const again = await startTrial(user);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('TRIAL_ALREADY_USED');
    expect(await userRow(user.id)).toMatchObject({ plan: 'trial', trialStartedAt: now, trialExpiresAt: expires });

    const audit = await auditRows(user.id, 'plan.trial_started');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorId: user.id, targetType: 'user', details: { days: 14 } });
    const tracked = await events(user.id, 'trial_started');
    expect(tracked).toHaveLength(1);
    expect(tracked[0]?.properties).toEqual({ days: 14 });

    expect(await entitlements(t.app, user)).toMatchObject({
      plan: 'trial',
      trial_expires_at: expires.toISOString(),
      trial_days_left: 14,
      trial_available: false,
      features: [...PLAN_FEATURES.trial],
    });
    const features = (await entitlements(t.app, user)).features;
    expect(features).toEqual(expect.arrayContaining(['premium_content', 'personalised_insights']));
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(me.json().data).toMatchObject({ plan: 'trial', trial_expires_at: expires.toISOString() });
  });

  it('counts an expired trial as free from the moment it ends (entitlements, GET /me, requirePremium)', async () => {
    const user = await createUser(t.app);
    expect((await startTrial(user)).statusCode).toBe(201);
    const expires = (await userRow(user.id))?.trialExpiresAt as Date;
    const access = t.app.platform.services.access;
    expect(await access.requirePremium(actorFor(user))).toBe('trial');

    clock.set(new Date(expires.getTime() - 12 * 3_600_000));
    await signIn(user);
    expect(await entitlements(t.app, user)).toMatchObject({ plan: 'trial', trial_days_left: 1 });

    clock.set(new Date(expires.getTime() - 1));
    await signIn(user);
    expect((await entitlements(t.app, user)).plan).toBe('trial');
    expect(await access.requirePremium(actorFor(user))).toBe('trial');

    clock.set(expires);
    await signIn(user);
    expect((await entitlements(t.app, user)).plan).toBe('free');

    clock.set(new Date(expires.getTime() + DAY));
    await signIn(user);
    expect(await entitlements(t.app, user)).toMatchObject({
      plan: 'free',
      trial_expires_at: expires.toISOString(),
      trial_days_left: 0,
      trial_available: false,
      features: [...PLAN_FEATURES.free],
    });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(me.json().data.plan).toBe('free');
    await expect(access.requirePremium(actorFor(user))).rejects.toMatchObject({ code: 'PREMIUM_REQUIRED' });
    // Still only once per account.
    const again = await startTrial(user);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('TRIAL_ALREADY_USED');
    expect((await userRow(user.id))?.trialExpiresAt).toEqual(expires);
  });

  it('refuses a trial to a premium user (409 CONFLICT) and changes nothing', async () => {
    const user = await createUser(t.app, { plan: 'premium' });
    const res = await startTrial(user);
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('CONFLICT');
    expect(await userRow(user.id)).toMatchObject({ plan: 'premium', trialStartedAt: null, trialExpiresAt: null });
    expect(await auditRows(user.id, 'plan.trial_started')).toEqual([]);
    expect(await events(user.id, 'trial_started')).toEqual([]);
    expect(await entitlements(t.app, user)).toMatchObject({
      plan: 'premium',
      trial_days_left: 0,
      trial_available: false,
      features: [...PLAN_FEATURES.premium],
    });
  });

  it('answers 401 to POST /me/trial without a token or with a bad one, and starts nothing', async () => {
    const trialsStarted = async () =>
      (await t.app.platform.db.select().from(auditLog).where(eq(auditLog.action, 'plan.trial_started'))).length;
    const before = await trialsStarted();
    for (const headers of [{}, { authorization: 'Bearer nonsense' }]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers });
      expect(res.statusCode).toBe(401);
    }
    expect(await trialsStarted()).toBe(before);
  });

  it('starts the trial only once when two requests race', async () => {
    const user = await createUser(t.app);
    const statuses = (await Promise.all([startTrial(user), startTrial(user)])).map((res) => res.statusCode);
    expect(statuses.sort()).toEqual([201, 409]);
    expect(await auditRows(user.id, 'plan.trial_started')).toHaveLength(1);
    expect(await events(user.id, 'trial_started')).toHaveLength(1);
  });

  it('requirePremium rejects free users with PREMIUM_REQUIRED and accepts trial and premium users', async () => {
    const [free, trial, premium] = await Promise.all([
      createUser(t.app),
      createUser(t.app),
      createUser(t.app, { plan: 'premium' }),
    ]);
    expect((await startTrial(trial)).statusCode).toBe(201);
    const access = t.app.platform.services.access;
    await expect(access.requirePremium(actorFor(free))).rejects.toMatchObject({ code: 'PREMIUM_REQUIRED' });
    expect(await access.requirePremium(actorFor(trial))).toBe('trial');
    expect(await access.requirePremium(actorFor(premium))).toBe('premium');
  });

  it('counts each use of a premium feature in the caller transaction, with a product event', async () => {
    const user = await createUser(t.app, { plan: 'premium' });
    const { db, services } = t.app.platform;
    const usedAt = clock.now();
    await db.transaction((tx) => services.access.recordPremiumUse(tx, user.id, 'personalised_insights'));
    clock.advance(60_000);
    await db.transaction((tx) => services.access.recordPremiumUse(tx, user.id, 'personalised_insights'));

    const rows = await db.select().from(premiumFeatureUsage).where(eq(premiumFeatureUsage.userId, user.id));
    expect(rows).toEqual([
      {
        userId: user.id,
        featureName: 'personalised_insights',
        usageCount: 2,
        lastUsedAt: new Date(usedAt.getTime() + 60_000),
      },
    ]);
    expect((await entitlements(t.app, user)).premium_usage).toEqual({ personalised_insights: 2 });
    const tracked = await events(user.id, 'premium_feature_used');
    expect(tracked.map((event) => event.properties)).toEqual([
      { feature: 'personalised_insights', usage_count: 1 },
      { feature: 'personalised_insights', usage_count: 2 },
    ]);

    // A use inside a transaction that rolls back is not counted.
    await expect(
      db.transaction(async (tx) => {
        await services.access.recordPremiumUse(tx, user.id, 'personalised_insights');
        throw new Error('the gated action failed');
      }),
    ).rejects.toThrow('the gated action failed');
    expect((await entitlements(t.app, user)).premium_usage).toEqual({ personalised_insights: 2 });
    expect(await events(user.id, 'premium_feature_used')).toHaveLength(2);
  });
});
