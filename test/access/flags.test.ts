import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createLogger } from '../../src/infra/logger.js';
import type { FlagRow } from '../../src/modules/access/access.tables.js';
import { featureFlags } from '../../src/modules/access/access.tables.js';
import {
  bucketOf,
  createAccessRepository,
  createAccessService,
  evaluateFlag,
  type FlagRules,
} from '../../src/modules/access/index.js';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import type { Actor, Role } from '../../src/shared/actor.js';
import { buildTestApp, createTestClock, type TestApp, testRedisUrl } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const FLAGS = '/api/v1/admin/flags';
const MINUTE = 60_000;

async function flagsOf(app: FastifyInstance, user: TestUser): Promise<Record<string, boolean>> {
  const res = await app.inject({ method: 'GET', url: '/api/v1/me/entitlements', headers: user.headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.flags;
}

async function createFlag(app: FastifyInstance, admin: TestUser, body: Record<string, unknown>) {
  const res = await app.inject({ method: 'POST', url: FLAGS, headers: admin.headers, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data;
}

async function patchFlag(app: FastifyInstance, admin: TestUser, key: string, body: Record<string, unknown>) {
  const res = await app.inject({ method: 'PATCH', url: `${FLAGS}/${key}`, headers: admin.headers, payload: body });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function flagRow(app: FastifyInstance, key: string) {
  const [row] = await app.platform.db.select().from(featureFlags).where(eq(featureFlags.key, key));
  return row;
}

function flag(overrides: Partial<FlagRow>): FlagRow {
  const now = new Date('2026-01-01T00:00:00Z');
  return {
    key: 'unit_flag',
    description: '',
    enabled: true,
    rolloutPercentage: 100,
    rules: {},
    enableAt: null,
    disableAt: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

const subject = (userId: string) => ({ userId, role: 'user' as const, plan: 'free' as const, attributes: {} });

describe('feature flags', () => {
  let t: TestApp;
  let admin: TestUser;
  let user: TestUser;
  let provider: TestUser;
  let premium: TestUser;
  let localeUser: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    [admin, user, provider, premium, localeUser] = await Promise.all([
      createUser(t.app, { role: 'admin' }),
      createUser(t.app),
      createUser(t.app, { role: 'provider' }),
      createUser(t.app, { plan: 'premium' }),
      createUser(t.app),
    ]);
  });
  afterAll(() => t.close());

  describe('admin CRUD on /api/v1/admin/flags', () => {
    it('creates (201), refuses a duplicate key (409), updates (200), deletes (204) and then 404s, with audit rows', async () => {
      const created = await createFlag(t.app, admin, { key: 'new_checkout', description: 'New checkout flow' });
      expect(created).toMatchObject({
        key: 'new_checkout',
        description: 'New checkout flow',
        enabled: false,
        rollout_percentage: 0,
        rules: {},
        enable_at: null,
        disable_at: null,
      });
      expect(await flagRow(t.app, 'new_checkout')).toMatchObject({ enabled: false, rolloutPercentage: 0 });

      const duplicate = await t.app.inject({
        method: 'POST',
        url: FLAGS,
        headers: admin.headers,
        payload: { key: 'new_checkout', enabled: true },
      });
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json().code).toBe('FLAG_EXISTS');
      expect(await flagRow(t.app, 'new_checkout')).toMatchObject({ enabled: false });

      const rules: FlagRules = { plans: ['premium'], attributes: [{ attribute: 'locale', op: 'in', values: ['fr'] }] };
      const patched = await patchFlag(t.app, admin, 'new_checkout', { enabled: true, rollout_percentage: 25, rules });
      expect(patched).toMatchObject({ key: 'new_checkout', enabled: true, rollout_percentage: 25, rules });
      expect(await flagRow(t.app, 'new_checkout')).toMatchObject({ enabled: true, rolloutPercentage: 25, rules });

      const list = await t.app.inject({ method: 'GET', url: FLAGS, headers: admin.headers });
      expect(list.statusCode).toBe(200);
      expect(list.json().data.map((f: { key: string }) => f.key)).toContain('new_checkout');

      const deleted = await t.app.inject({ method: 'DELETE', url: `${FLAGS}/new_checkout`, headers: admin.headers });
      expect(deleted.statusCode).toBe(204);
      expect(await flagRow(t.app, 'new_checkout')).toBeUndefined();
      for (const method of ['DELETE', 'PATCH'] as const) {
        const again = await t.app.inject({
          method,
          url: `${FLAGS}/new_checkout`,
          headers: admin.headers,
          payload: method === 'PATCH' ? { enabled: true } : undefined,
        });
        expect(again.statusCode, method).toBe(404);
        expect(again.json().code).toBe('NOT_FOUND');
      }

      const audit = await t.app.platform.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetType, 'feature_flag'), eq(auditLog.targetId, 'new_checkout')));
      expect(audit.map((row) => row.action)).toEqual(['flag.created', 'flag.updated', 'flag.deleted']);
      expect(audit.every((row) => row.actorId === admin.id)).toBe(true);
    });

    it('answers 400 for invalid keys, percentages, rules, dates and unknown fields, and stores nothing', async () => {
      const bad: Record<string, unknown>[] = [
        {},
        { key: 'Upper' },
        { key: 'a' },
        { key: '1starts_with_digit' },
        { key: 'has space' },
        { key: `k${'a'.repeat(64)}` },
        { key: 'bad_flag', rollout_percentage: -1 },
        { key: 'bad_flag', rollout_percentage: 101 },
        { key: 'bad_flag', rollout_percentage: 12.5 },
        { key: 'bad_flag', colour: 'red' },
        { key: 'bad_flag', rules: { countries: ['GB'] } },
        { key: 'bad_flag', rules: { plans: ['gold'] } },
        { key: 'bad_flag', rules: { attributes: [{ attribute: 'locale', op: 'equals', values: ['fr'] }] } },
        { key: 'bad_flag', rules: { attributes: [{ attribute: 'locale', op: 'in', values: [] }] } },
        { key: 'bad_flag', enable_at: 'tomorrow' },
      ];
      for (const payload of bad) {
        const res = await t.app.inject({ method: 'POST', url: FLAGS, headers: admin.headers, payload });
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json().code).toBe('VALIDATION_ERROR');
      }
      await createFlag(t.app, admin, { key: 'valid_flag' });
      const badPatches: [string, Record<string, unknown>][] = [
        ['valid_flag', {}],
        ['valid_flag', { key: 'renamed' }],
        ['valid_flag', { rollout_percentage: 150 }],
        ['valid_flag', { enabled: 'sometimes' }],
        ['valid_flag', { role: 'admin' }],
        ['Not_A_Key', { enabled: true }],
      ];
      for (const [key, payload] of badPatches) {
        const res = await t.app.inject({ method: 'PATCH', url: `${FLAGS}/${key}`, headers: admin.headers, payload });
        expect(res.statusCode, `${key} ${JSON.stringify(payload)}`).toBe(400);
      }
      const rows = await t.app.platform.db.select().from(featureFlags);
      expect(rows.map((row) => row.key)).not.toContain('bad_flag');
      expect(await flagRow(t.app, 'valid_flag')).toMatchObject({ enabled: false, rolloutPercentage: 0 });
      await t.app.inject({ method: 'DELETE', url: `${FLAGS}/valid_flag`, headers: admin.headers });
    });

    it('refuses users and providers (403) and anonymous callers (401); the flag table is unchanged', async () => {
      await createFlag(t.app, admin, { key: 'guarded_flag', enabled: false, rollout_percentage: 10 });
      const before = await t.app.platform.db.select().from(featureFlags);
      const attempts = [
        { method: 'GET' as const, url: FLAGS },
        {
          method: 'POST' as const,
          url: FLAGS,
          payload: { key: 'sneaky_flag', enabled: true, rollout_percentage: 100 },
        },
        { method: 'PATCH' as const, url: `${FLAGS}/guarded_flag`, payload: { enabled: true, rollout_percentage: 100 } },
        { method: 'DELETE' as const, url: `${FLAGS}/guarded_flag` },
      ];
      const callers: [string, Record<string, string>, number, string][] = [
        ['user', user.headers, 403, 'FORBIDDEN'],
        ['provider', provider.headers, 403, 'FORBIDDEN'],
        ['anonymous', {}, 401, 'UNAUTHORIZED'],
      ];
      for (const [who, headers, status, code] of callers) {
        for (const attempt of attempts) {
          const res = await t.app.inject({ ...attempt, headers });
          expect(res.statusCode, `${who} ${attempt.method} ${attempt.url}`).toBe(status);
          expect(res.json().code).toBe(code);
        }
      }
      expect(await t.app.platform.db.select().from(featureFlags)).toEqual(before);
      expect(await flagRow(t.app, 'sneaky_flag')).toBeUndefined();
      const audit = await t.app.platform.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetType, 'feature_flag'), eq(auditLog.targetId, 'guarded_flag')));
      expect(audit.map((row) => row.action)).toEqual(['flag.created']);
    });
  });

  describe('evaluation in GET /api/v1/me/entitlements', () => {
    const everyone = () => [user, provider, admin, premium];

    it('the kill switch turns a flag off for everyone, whatever the rollout', async () => {
      await createFlag(t.app, admin, { key: 'kill_switch', enabled: false, rollout_percentage: 100 });
      for (const who of everyone()) expect((await flagsOf(t.app, who)).kill_switch, who.role).toBe(false);
      await patchFlag(t.app, admin, 'kill_switch', { enabled: true });
      for (const who of everyone()) expect((await flagsOf(t.app, who)).kill_switch, who.role).toBe(true);
      await patchFlag(t.app, admin, 'kill_switch', { enabled: false });
      for (const who of everyone()) expect((await flagsOf(t.app, who)).kill_switch, who.role).toBe(false);
    });

    it('a rollout of 0% is off for everyone and 100% on for everyone', async () => {
      await createFlag(t.app, admin, { key: 'rollout_flag', enabled: true, rollout_percentage: 0 });
      for (const who of everyone()) expect((await flagsOf(t.app, who)).rollout_flag, who.role).toBe(false);
      await patchFlag(t.app, admin, 'rollout_flag', { rollout_percentage: 100 });
      for (const who of everyone()) expect((await flagsOf(t.app, who)).rollout_flag, who.role).toBe(true);
    });

    it('a partial rollout puts each user where their bucket says', async () => {
      await createFlag(t.app, admin, { key: 'half_flag', enabled: true, rollout_percentage: 50 });
      for (const who of everyone()) {
        expect((await flagsOf(t.app, who)).half_flag, who.role).toBe(bucketOf('half_flag', who.id) < 5000);
      }
    });

    it('targets by plan and by role', async () => {
      await createFlag(t.app, admin, {
        key: 'premium_only',
        enabled: true,
        rollout_percentage: 100,
        rules: { plans: ['premium'] },
      });
      await createFlag(t.app, admin, {
        key: 'providers_only',
        enabled: true,
        rollout_percentage: 100,
        rules: { roles: ['provider'] },
      });
      const expected: [TestUser, boolean, boolean][] = [
        [user, false, false],
        [provider, false, true],
        [admin, false, false],
        [premium, true, false],
      ];
      for (const [who, premiumOnly, providersOnly] of expected) {
        const flags = await flagsOf(t.app, who);
        expect(flags.premium_only, `${who.email} premium_only`).toBe(premiumOnly);
        expect(flags.providers_only, `${who.email} providers_only`).toBe(providersOnly);
      }
      await patchFlag(t.app, admin, 'providers_only', { rules: { roles: ['provider', 'admin'] } });
      expect((await flagsOf(t.app, admin)).providers_only).toBe(true);
      expect((await flagsOf(t.app, user)).providers_only).toBe(false);
    });

    it('targets by a user attribute (locale) with in and not_in, following PATCH /me', async () => {
      await createFlag(t.app, admin, {
        key: 'french_in',
        enabled: true,
        rollout_percentage: 100,
        rules: { attributes: [{ attribute: 'locale', op: 'in', values: ['fr', 'fr-CA'] }] },
      });
      await createFlag(t.app, admin, {
        key: 'french_not_in',
        enabled: true,
        rollout_percentage: 100,
        rules: { attributes: [{ attribute: 'locale', op: 'not_in', values: ['fr', 'fr-CA'] }] },
      });
      expect(await flagsOf(t.app, localeUser)).toMatchObject({ french_in: false, french_not_in: true });
      const patch = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/me',
        headers: localeUser.headers,
        payload: { locale: 'fr' },
      });
      expect(patch.statusCode).toBe(200);
      expect(await flagsOf(t.app, localeUser)).toMatchObject({ french_in: true, french_not_in: false });
      // Everyone else is still on the default locale.
      expect(await flagsOf(t.app, user)).toMatchObject({ french_in: false, french_not_in: true });
    });

    it('a deleted flag disappears from entitlements', async () => {
      await createFlag(t.app, admin, { key: 'short_lived', enabled: true, rollout_percentage: 100 });
      expect((await flagsOf(t.app, user)).short_lived).toBe(true);
      await t.app.inject({ method: 'DELETE', url: `${FLAGS}/short_lived`, headers: admin.headers });
      expect(await flagsOf(t.app, user)).not.toHaveProperty('short_lived');
    });

    // A load that started before a change (old rows) must not become the cache when it ends
    // after the change was announced: every change bumps a generation the load checks.
    it('a change announced while another instance is loading flags is visible there within 1 s', async () => {
      await createFlag(t.app, admin, { key: 'race_flag', enabled: false, rollout_percentage: 100 });
      const platform = t.app.platform;
      const real = createAccessRepository();
      let reachedGate!: () => void;
      const reached = new Promise<void>((resolve) => {
        reachedGate = resolve;
      });
      let openGate!: () => void;
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      let first = true;
      // Instance B: the real repository and database, but its first flag load is slow (a slow
      // round trip: the rows were read before the change, the answer arrives after it).
      const instanceB = createAccessService({
        db: platform.db,
        repository: {
          ...real,
          async allFlags(db) {
            const rows = await real.allFlags(db);
            if (first) {
              first = false;
              reachedGate();
              await gate;
            }
            return rows;
          },
        },
        identity: platform.services.identity,
        audit: platform.services.audit,
        track: platform.track,
        kv: platform.kv,
        clock: platform.clock,
        logger: createLogger({ level: 'silent' }),
      });
      const stopListening = await instanceB.listenForChanges();
      try {
        const actor: Actor = { id: user.id, role: 'user', sessionId: 'race', ip: null, correlationId: null };
        const inFlight = instanceB.isEnabled('race_flag', actor);
        await reached;
        // Instance A (the app) turns the flag on and announces it; B's listener (subscribed
        // first) has run once ours has, or after half a second at most.
        let announced!: () => void;
        const heard = new Promise<void>((resolve) => {
          announced = resolve;
        });
        const stopHearing = await platform.kv.subscribe('flags:changed', () => announced());
        await patchFlag(t.app, admin, 'race_flag', { enabled: true });
        await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 500))]);
        await stopHearing();
        openGate();
        expect(await inFlight).toBe(false);
        let seen = false;
        const deadline = Date.now() + 1000;
        while (!seen && Date.now() < deadline) {
          seen = await instanceB.isEnabled('race_flag', actor);
          if (!seen) await new Promise((resolve) => setTimeout(resolve, 25));
        }
        expect(seen).toBe(true);
      } finally {
        openGate();
        await stopListening();
      }
    });
  });
});

describe('scheduled flags (test clock)', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  it('is off before enable_at, on from enable_at, and off again from disable_at', async () => {
    const [admin, user] = await Promise.all([createUser(t.app, { role: 'admin' }), createUser(t.app)]);
    const start = clock.now().getTime();
    const enableAt = new Date(start + 5 * MINUTE);
    const disableAt = new Date(start + 10 * MINUTE);
    const created = await createFlag(t.app, admin, {
      key: 'scheduled_flag',
      enabled: true,
      rollout_percentage: 100,
      enable_at: enableAt.toISOString(),
      disable_at: disableAt.toISOString(),
    });
    expect(created).toMatchObject({ enable_at: enableAt.toISOString(), disable_at: disableAt.toISOString() });
    expect(await flagRow(t.app, 'scheduled_flag')).toMatchObject({ enableAt, disableAt });

    const at = async (ms: number) => {
      clock.set(new Date(ms));
      return (await flagsOf(t.app, user)).scheduled_flag;
    };
    expect(await at(start)).toBe(false);
    expect(await at(enableAt.getTime() - 1)).toBe(false);
    expect(await at(enableAt.getTime())).toBe(true);
    expect(await at(disableAt.getTime() - 1)).toBe(true);
    expect(await at(disableAt.getTime())).toBe(false);
    expect(await at(disableAt.getTime() + MINUTE)).toBe(false);

    // Clearing the schedule leaves only the kill switch and the rollout.
    await patchFlag(t.app, admin, 'scheduled_flag', { enable_at: null, disable_at: null });
    expect((await flagsOf(t.app, user)).scheduled_flag).toBe(true);
    expect(await flagRow(t.app, 'scheduled_flag')).toMatchObject({ enableAt: null, disableAt: null });
  });
});

describe('bucketing', () => {
  it('is deterministic: the same bucket every time, in range, and specific to the flag key', () => {
    const ids = Array.from({ length: 200 }, () => randomUUID());
    for (const id of ids) {
      const bucket = bucketOf('checkout', id);
      expect(bucket).toBe(bucketOf('checkout', id));
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 10_000).toBe(true);
    }
    // A fixed pair always lands in the same bucket (sha256 of "key:user id"), on every instance.
    expect(bucketOf('checkout', '00000000-0000-4000-8000-000000000000')).toBe(
      bucketOf('checkout', '00000000-0000-4000-8000-000000000000'),
    );
    const differs = ids.filter((id) => bucketOf('checkout', id) !== bucketOf('search', id));
    expect(differs.length).toBeGreaterThan(150);
  });

  it('puts about 30% (± 5%) of 2000 users in a 30% rollout, and raising it to 50% only adds users', () => {
    const ids = Array.from({ length: 2000 }, () => randomUUID());
    const now = new Date();
    const at30 = flag({ key: 'gradual', rolloutPercentage: 30 });
    const at50 = flag({ key: 'gradual', rolloutPercentage: 50 });
    const in30 = ids.filter((id) => evaluateFlag(at30, subject(id), now));
    const in50 = new Set(ids.filter((id) => evaluateFlag(at50, subject(id), now)));
    expect(in30.length).toBeGreaterThanOrEqual(500);
    expect(in30.length).toBeLessThanOrEqual(700);
    expect(in50.size).toBeGreaterThanOrEqual(900);
    expect(in50.size).toBeLessThanOrEqual(1100);
    expect(in30.filter((id) => !in50.has(id))).toEqual([]);
    // The same evaluation twice gives the same set.
    expect(ids.filter((id) => evaluateFlag(at30, subject(id), now))).toEqual(in30);
  });

  it('evaluates rules before the rollout: the kill switch, schedule, plans, roles and attributes', () => {
    const id = randomUUID();
    const now = new Date('2026-06-01T12:00:00Z');
    const base = { userId: id, role: 'user' as Role, plan: 'free' as const, attributes: { locale: 'en' } };
    expect(evaluateFlag(flag({ enabled: false }), base, now)).toBe(false);
    expect(evaluateFlag(flag({ enableAt: new Date(now.getTime() + 1) }), base, now)).toBe(false);
    expect(evaluateFlag(flag({ disableAt: now }), base, now)).toBe(false);
    expect(evaluateFlag(flag({ rules: { plans: ['premium', 'trial'] } }), base, now)).toBe(false);
    expect(evaluateFlag(flag({ rules: { plans: ['free'] } }), base, now)).toBe(true);
    expect(evaluateFlag(flag({ rules: { roles: ['admin'] } }), base, now)).toBe(false);
    const notIn = flag({ rules: { attributes: [{ attribute: 'country', op: 'not_in', values: ['GB'] }] } });
    // A user without the attribute is "not in" any list.
    expect(evaluateFlag(notIn, base, now)).toBe(true);
    const inList = flag({ rules: { attributes: [{ attribute: 'country', op: 'in', values: ['GB'] }] } });
    expect(evaluateFlag(inList, base, now)).toBe(false);
    // Anonymous callers only see flags at 100%.
    const anonymous = { userId: null, role: null, plan: null, attributes: {} };
    expect(evaluateFlag(flag({ rolloutPercentage: 99 }), anonymous, now)).toBe(false);
    expect(evaluateFlag(flag({ rolloutPercentage: 100 }), anonymous, now)).toBe(true);
  });
});

describe(`flag changes across instances (${testRedisUrl ? 'Redis pub/sub' : 'shared memory store'})`, () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = { JWT_SECRET: randomBytes(32).toString('hex') };
    const redisPrefix = `test:flags:${randomBytes(4).toString('hex')}:`;
    const kv = testRedisUrl ? undefined : createMemoryStore({ now: () => new Date() });
    a = await buildTestApp({ env, kv, redisPrefix });
    // One database for both; only the first app closes it.
    b = await buildTestApp({ env, kv, redisPrefix, database: { ...a.database, close: async () => {} } });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  /** Polls app B until `check` holds, for at most a second; answers how long it took. */
  async function withinASecond(check: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < 1000) {
      if (await check()) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('not visible on the other instance within 1 s');
  }

  it('evaluates users identically on both instances', async () => {
    const [admin, ...people] = await Promise.all([
      createUser(a.app, { role: 'admin' }),
      ...Array.from({ length: 6 }, () => createUser(a.app)),
    ]);
    await createFlag(a.app, admin, { key: 'split_flag', enabled: true, rollout_percentage: 50 });
    for (const person of people) {
      const expected = bucketOf('split_flag', person.id) < 5000;
      expect((await flagsOf(a.app, person)).split_flag).toBe(expected);
      expect((await flagsOf(b.app, person)).split_flag).toBe(expected);
    }
  });

  it('shows a flag created, changed and deleted on A in the entitlements of B within a second', async () => {
    const [admin, person] = await Promise.all([createUser(a.app, { role: 'admin' }), createUser(a.app)]);
    // B has loaded (and cached) the flags before each change.
    expect(await flagsOf(b.app, person)).not.toHaveProperty('live_flag');
    await createFlag(a.app, admin, { key: 'live_flag', enabled: false, rollout_percentage: 100 });
    await withinASecond(async () => (await flagsOf(b.app, person)).live_flag === false);

    expect((await flagsOf(b.app, person)).live_flag).toBe(false);
    await patchFlag(a.app, admin, 'live_flag', { enabled: true });
    await withinASecond(async () => (await flagsOf(b.app, person)).live_flag === true);

    const deleted = await a.app.inject({ method: 'DELETE', url: `${FLAGS}/live_flag`, headers: admin.headers });
    expect(deleted.statusCode).toBe(204);
    await withinASecond(async () => !('live_flag' in (await flagsOf(b.app, person))));
  });

  it('shows a change made on B to A as well', async () => {
    const [admin, person] = await Promise.all([createUser(a.app, { role: 'admin' }), createUser(a.app)]);
    await createFlag(b.app, admin, { key: 'reverse_flag', enabled: true, rollout_percentage: 100 });
    await withinASecond(async () => (await flagsOf(a.app, person)).reverse_flag === true);
    await patchFlag(b.app, admin, 'reverse_flag', { enabled: false });
    await withinASecond(async () => (await flagsOf(a.app, person)).reverse_flag === false);
  });
});
