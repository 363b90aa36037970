import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { queryRows } from '../../src/infra/db/client.js';
import { runSeeders } from '../../src/infra/db/seed.js';
import { createLogger } from '../../src/infra/logger.js';
import { propertyError } from '../../src/modules/analytics/analytics.catalogue.js';
import { demoPersonLabel, generateDemoHistory } from '../../src/modules/analytics/analytics.seed.js';
import {
  createAnalyticsRepository,
  createDemoHistorySeeder,
  DEMO_HISTORY_META_KEY,
  DEMO_HISTORY_SEEDER,
  demoSubject,
} from '../../src/modules/analytics/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { type DemoAccount, seedDemoData } from '../helpers/demo.js';
import { createUser } from '../helpers/users.js';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-11-23T10:00:00.000Z');
const TO = '2026-11-23';
// The 90 days the history covers, `to` inclusive.
const FROM = new Date(Date.parse(`${TO}T00:00:00Z`) - 89 * DAY_MS).toISOString().slice(0, 10);
const RANGE = `from=${FROM}&to=${TO}`;
const DEMO_SUBJECTS = new Set(Array.from({ length: 300 }, (_, i) => demoSubject(demoPersonLabel(i))));

const silent = createLogger({ level: 'silent' });
const historySeeder = (t: TestApp) =>
  createDemoHistorySeeder({
    repository: createAnalyticsRepository(),
    clock: t.app.platform.clock,
    ids: t.app.platform.ids,
    logger: silent,
    rawRetentionDays: t.app.platform.config.retention.analyticsRawDays,
  });

async function one<T extends Record<string, unknown>>(t: TestApp, query: ReturnType<typeof sql>): Promise<T> {
  const [row] = await queryRows<T>(t.app.platform.db, query);
  return row as T;
}

/** What the history stored: its events, its pseudonyms, their facts, and the marker row. */
async function stored(t: TestApp) {
  const events = await one<{ n: number; subjects: number }>(
    t,
    sql`select count(*)::int as n, count(distinct subject)::int as subjects from product_events
        where properties @> '{"synthetic": true}'`,
  );
  const facts = await one<{ n: number }>(t, sql`select count(*)::int as n from analytics_subject_facts`);
  const [marker] = await queryRows<{ value: Record<string, unknown> }>(
    t.app.platform.db,
    sql`select value from app_meta where key = ${DEMO_HISTORY_META_KEY}`,
  );
  return { events: events.n, subjects: events.subjects, facts: facts.n, marker: marker?.value };
}

async function report(t: TestApp, admin: DemoAccount, path: string) {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/admin/analytics/${path}`, headers: admin.headers });
  expect(res.statusCode, `${path}: ${res.body}`).toBe(200);
  return res.json().data;
}

describe('the synthetic demo history, seeded as npm start does (SEED_ANALYTICS_HISTORY=true)', () => {
  let t: TestApp;
  let admin: DemoAccount;

  beforeAll(async () => {
    // Off in tests by default: the setting turns it on, as outside tests.
    t = await buildTestApp({ clock: createTestClock(NOW), env: { SEED_ANALYTICS_HISTORY: 'true' } });
    expect(t.app.platform.seeders.map((seeder) => seeder.name)).toContain(DEMO_HISTORY_SEEDER);
    ({ admin } = await seedDemoData(t.app));
  }, 120_000);
  afterAll(() => t?.close());

  it('gives every dashboard report something to show, over the 90 days and the default 30', async () => {
    const wellness = await report(t, admin, `funnel?journey=wellness&${RANGE}`);
    const counts = wellness.steps.map((step: { count: number }) => step.count);
    expect(counts[0]).toBeGreaterThanOrEqual(300);
    for (const [i, count] of counts.entries()) {
      expect(count, wellness.steps[i].step).toBeGreaterThan(0);
      if (i > 0) expect(count).toBeLessThanOrEqual(counts[i - 1]);
    }
    const marketplace = await report(t, admin, `funnel?journey=marketplace&${RANGE}`);
    for (const step of marketplace.steps) expect(step.count, step.step).toBeGreaterThan(0);

    // Weekly cohorts over 13 weeks; day 7 and day 30 measured where due, and people drift away.
    const { cohorts } = await report(t, admin, `retention?${RANGE}`);
    expect(cohorts.length).toBeGreaterThanOrEqual(13);
    type Cohort = {
      day_7: { retained: number; measurable: boolean };
      day_30: { retained: number; measurable: boolean };
    };
    const due = (cohorts as Cohort[]).filter((cohort) => cohort.day_30.measurable);
    expect(due.length).toBeGreaterThan(3);
    const d7 = due.reduce((sum, cohort) => sum + cohort.day_7.retained, 0);
    const d30 = due.reduce((sum, cohort) => sum + cohort.day_30.retained, 0);
    expect(d30).toBeGreaterThan(0);
    expect(d30).toBeLessThan(d7);

    const activation = await report(t, admin, `activation?${RANGE}`);
    expect(activation.signups).toBeGreaterThanOrEqual(300);
    expect(activation.activated).toBeGreaterThan(0);
    const conversion = await report(t, admin, `conversion?${RANGE}`);
    expect(conversion.trials_started).toBeGreaterThan(0);
    expect(conversion.premium).toBeGreaterThan(0);

    const engagement = await report(t, admin, `engagement?${RANGE}`);
    expect(engagement.active_subjects).toBeGreaterThanOrEqual(300);
    const activeDays = engagement.daily.filter((day: { events: number; active_subjects: number }) => day.events > 0);
    expect(activeDays.length).toBeGreaterThanOrEqual(85);

    // The demo's own content items, with their titles.
    const content = await report(t, admin, `content?${RANGE}`);
    expect(content.items.length).toBeGreaterThan(3);
    expect(content.items[0].title).toEqual(expect.any(String));
    expect(content.items[0].views).toBeGreaterThan(0);

    const adoption = await report(t, admin, `adoption?${RANGE}`);
    for (const plan of ['free', 'trial', 'premium']) {
      const used = adoption.features.filter(
        (row: { plan: string; users: number }) => row.plan === plan && row.users > 0,
      );
      expect(used.length, plan).toBeGreaterThan(0);
    }
    expect((await report(t, admin, `support?${RANGE}`)).total).toBeGreaterThan(0);

    // What the dashboard asks for first: the last 30 days.
    const recent = await report(t, admin, 'funnel?journey=wellness');
    expect(recent.steps[0].count).toBeGreaterThan(0);
    expect((await report(t, admin, 'engagement')).daily.length).toBeGreaterThanOrEqual(28);
    expect((await report(t, admin, 'activation')).signups).toBeGreaterThan(0);
  });

  it('is marked: every made-up event says synthetic=true under a demo pseudonym, and no account or secret is made', async () => {
    const history = await stored(t);
    expect(history.marker).toMatchObject({ synthetic: true, people: 300, events: history.events });
    expect(history.events).toBeGreaterThan(5_000);
    expect(history.subjects).toBe(300);
    const subjects = await queryRows<{ subject: string }>(
      t.app.platform.db,
      sql`select distinct subject from product_events where properties @> '{"synthetic": true}'`,
    );
    for (const { subject } of subjects) expect(DEMO_SUBJECTS.has(subject)).toBe(true);
    // Every event of a demo pseudonym is marked; nothing else is.
    const unmarked = await one<{ n: number }>(
      t,
      sql`select count(*)::int as n from product_events
          where subject in (${sql.join(
            [...DEMO_SUBJECTS].map((subject) => sql`${subject}::uuid`),
            sql`, `,
          )}) and not properties @> '{"synthetic": true}'`,
    );
    expect(unmarked.n).toBe(0);
    // Made-up people are not accounts: no users rows, no pseudonym secrets.
    expect((await one<{ n: number }>(t, sql`select count(*)::int as n from users`)).n).toBeLessThan(20);
    expect((await one<{ n: number }>(t, sql`select count(*)::int as n from analytics_subject_keys`)).n).toBeLessThan(
      20,
    );

    // What an admin sees of the stored events says so too.
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/events?limit=100',
      headers: admin.headers,
    });
    expect(res.statusCode).toBe(200);
    const demo = res.json().data.filter((event: { subject: string | null }) => DEMO_SUBJECTS.has(event.subject ?? ''));
    expect(demo.length).toBeGreaterThan(0);
    for (const event of demo) expect(event.properties.synthetic).toBe(true);
  });

  it('does not double when seeded again', async () => {
    const before = await stored(t);
    await seedDemoData(t.app);
    await runSeeders(t.app.platform.db, [historySeeder(t)], {
      clock: t.app.platform.clock,
      logger: silent,
      isProduction: false,
    });
    expect(await stored(t)).toEqual(before);
    // A range not asked before (the reports are cached): still 300 made-up sign-ups, not 600.
    const fresh = await report(t, admin, `activation?from=2026-08-20&to=${TO}`);
    expect(fresh.signups).toBeLessThan(310);
  });

  it("leaves a real person's export and erasure as they were", async () => {
    const person = await createUser(t.app);
    const requested = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: person.headers });
    expect(requested.statusCode).toBe(202);
    await t.app.platform.dispatcher.runOnce();
    const ready = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/data-export/${requested.json().data.id}`,
      headers: person.headers,
    });
    const analytics = ready.json().data.document.sections.analytics.data;
    expect(DEMO_SUBJECTS.has(analytics.subject)).toBe(false);
    expect(analytics.events.map((event: { name: string }) => event.name)).toContain('user_signed_up');
    for (const event of analytics.events) expect(event.properties.synthetic).toBeUndefined();

    const before = await stored(t);
    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: person.headers,
      payload: { password: person.password },
    });
    expect(erased.statusCode).toBe(200);
    expect(erased.json().data.modules.analytics).toMatchObject({ action: 'pseudonymised', rows: 1 });
    // The history is not the person's: erasure leaves it whole.
    expect(await stored(t)).toEqual(before);
  });
});

describe('leaving the history out', () => {
  it('is off in tests and wherever SEED_ANALYTICS_HISTORY says false; a bad value is a config error', () => {
    const config = (env: Record<string, string>) =>
      loadConfig({ NODE_ENV: 'development', ...env }).seedAnalyticsHistory;
    expect(config({})).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).seedAnalyticsHistory).toBe(false);
    expect(config({ SEED_ANALYTICS_HISTORY: 'false' })).toBe(false);
    expect(config({ SEED_ANALYTICS_HISTORY: '0' })).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test', SEED_ANALYTICS_HISTORY: 'true' }).seedAnalyticsHistory).toBe(true);
    expect(() => config({ SEED_ANALYTICS_HISTORY: 'maybe' })).toThrow(ConfigError);
  });

  describe('an app seeded without it', () => {
    let t: TestApp;
    let admin: DemoAccount;

    beforeAll(async () => {
      t = await buildTestApp({ clock: createTestClock(NOW) });
      ({ admin } = await seedDemoData(t.app));
    }, 120_000);
    afterAll(() => t?.close());

    it('has no made-up people, and can take the history later, once, even from two seeds at a time', async () => {
      expect(t.app.platform.seeders.map((seeder) => seeder.name)).not.toContain(DEMO_HISTORY_SEEDER);
      expect(await stored(t)).toMatchObject({ events: 0, subjects: 0, marker: undefined });
      const wellness = await report(t, admin, `funnel?journey=wellness&${RANGE}`);
      expect(wellness.steps[0].count).toBeLessThan(5);
      expect(await report(t, admin, 'demo-history')).toEqual({
        synthetic: false,
        people: null,
        events: null,
        from: null,
        to: null,
      });

      const deps = { clock: t.app.platform.clock, logger: silent, isProduction: false };
      await Promise.all([
        runSeeders(t.app.platform.db, [historySeeder(t)], deps),
        runSeeders(t.app.platform.db, [historySeeder(t)], deps),
      ]);
      const after = await stored(t);
      expect(after.subjects).toBe(300);
      expect(after.marker).toMatchObject({ synthetic: true, events: after.events });
      // The dashboard's badge reads this.
      expect(await report(t, admin, 'demo-history')).toMatchObject({
        synthetic: true,
        people: 300,
        events: after.events,
      });
    });
  });
});

describe('the made-up people', () => {
  const options = { now: NOW, people: 300, days: 90, seed: 7, content: [], services: [] };

  it('are the same for the same seed, within the 90 UTC days up to now, and fit the event catalogue', () => {
    const history = generateDemoHistory(options);
    expect(generateDemoHistory(options)).toEqual(history);
    expect(generateDemoHistory({ ...options, seed: 8 })[0]).not.toEqual(history[0]);
    const first = Date.parse(`${FROM}T00:00:00Z`);
    const wrong: string[] = [];
    for (const person of history) {
      if (
        person.events[0]?.name !== 'user_signed_up' ||
        person.events[0].occurredAt.getTime() !== person.cohortAt.getTime()
      )
        wrong.push(`${person.label} does not begin with its sign-up`);
      for (const event of person.events) {
        const at = event.occurredAt.getTime();
        if (at > NOW.getTime() || at < first)
          wrong.push(`${person.label} ${event.name} at ${event.occurredAt.toISOString()}`);
        const error = propertyError(event.name, event.properties);
        if (error) wrong.push(`${person.label} ${event.name}: ${error}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
