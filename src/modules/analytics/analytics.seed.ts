import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { appMeta } from '../../infra/db/meta.tables.js';
import type { Seeder } from '../../infra/db/seed.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import { bookableServicePrices } from '../catalog/index.js';
import { publishedContentKinds } from '../content/index.js';
import { type EventName, propertyError } from './analytics.catalogue.js';
import { ensurePartitions, rollUp } from './analytics.maintenance.js';
import { type AnalyticsRepository, type BatchEvent, subjectId } from './analytics.repository.js';
import { sanitiseProperties } from './sanitise.js';

/**
 * A synthetic analytics history for the demo: a few hundred made-up people over the last 90 days,
 * so the admin dashboard has something to show on a fresh `npm start` instead of zeros.
 *
 * They are not accounts: no users rows, no `analytics_subject_keys` rows, nothing a person can
 * export or erase. Each made-up person ("demo-person-007") gets a pseudonym the way a real person
 * does (`subjectId`, HMAC under a secret), except that the secret is this file's published demo
 * secret, so anyone can tell a demo pseudonym from a real one. Their events go in through the same
 * batch insert as real ones (`insertBatch`: one statement per batch, the per-pseudonym facts
 * folded in with it), sanitised and checked against the event catalogue, then the raw-retention
 * roll-up runs as the maintenance job would. Every event carries `synthetic: true`, and the
 * `analytics_demo_history` row of `app_meta` says what was made.
 *
 * Deterministic (a seeded PRNG; times relative to the clock) and made once: the app_meta row is
 * claimed first, so a second run, or a concurrent one, adds nothing.
 */

export const DEMO_HISTORY_SEEDER = 'analytics: synthetic demo history';
export const DEMO_HISTORY_META_KEY = 'analytics_demo_history';
/** The property every synthetic event carries. */
export const SYNTHETIC_PROPERTY = 'synthetic';
export const DEMO_HISTORY_DEFAULTS = { people: 300, days: 90, seed: 0x5eed_2026 };

/** The demo pseudonyms' secret: published on purpose (it only ever makes made-up people's pseudonyms). */
const DEMO_SECRET = createHash('sha256').update('care-platform demo analytics history (synthetic)').digest('base64');
/** A made-up person's pseudonym, or a made-up id (a booking), as a version-8 UUID under the demo secret. */
export const demoSubject = (label: string) => subjectId(DEMO_SECRET, label);
export const demoPersonLabel = (index: number) => `demo-person-${String(index + 1).padStart(3, '0')}`;

// ---- The made-up people (pure: the same options give the same history) ----

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

type Plan = 'free' | 'trial' | 'premium';

export interface DemoContent {
  id: string;
  type: string;
  tier: 'free' | 'premium';
}
export interface DemoService {
  id: string;
  providerId: string;
  priceMinor: number;
  currency: string;
}

export interface DemoEvent {
  name: EventName;
  occurredAt: Date;
  properties: Record<string, unknown>;
  plan: Plan;
  country: string | null;
}

export interface DemoPerson {
  label: string;
  subject: string;
  /** The sign-up: when the pseudonym began. */
  cohortAt: Date;
  /** In time order. */
  events: DemoEvent[];
}

/** mulberry32: small, fast, good enough for made-up behaviour, and the same sequence for the same seed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    chance: (p: number) => next() < p,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    weighted: <T>(items: readonly (readonly [T, number])[]): T => {
      const total = items.reduce((sum, [, weight]) => sum + weight, 0);
      let r = next() * total;
      for (const [item, weight] of items) {
        r -= weight;
        if (r < 0) return item;
      }
      return (items.at(-1) as readonly [T, number])[0];
    },
  };
}

/**
 * Three kinds of people: most try the product once or twice, some come back now and then, a
 * quarter stay. The chance of coming back on day d is `base * exp(-d / tau) + floor`, so every
 * weekly cohort's retention decays as real cohorts do.
 */
const PERSONAS = [
  {
    share: 0.35,
    base: 0.2,
    tau: 3,
    floor: 0,
    profile: 0.45,
    trial: 0.03,
    convert: 0.2,
    whatsapp: 0.08,
    actions: [1, 2],
    shopper: 0.3,
  },
  {
    share: 0.4,
    base: 0.55,
    tau: 9,
    floor: 0.04,
    profile: 0.8,
    trial: 0.15,
    convert: 0.3,
    whatsapp: 0.3,
    actions: [2, 4],
    shopper: 0.45,
  },
  {
    share: 0.25,
    base: 0.85,
    tau: 35,
    floor: 0.15,
    profile: 0.97,
    trial: 0.4,
    convert: 0.5,
    whatsapp: 0.55,
    actions: [3, 6],
    shopper: 0.6,
  },
] as const;
const COUNTRIES = [
  ['GB', 30],
  ['SA', 20],
  ['AE', 15],
  ['US', 15],
  ['DE', 10],
  ['IN', 10],
] as const;
const PREMIUM_FEATURES = ['advanced_analytics', 'premium_content', 'personalised_insights'] as const;

/** The history of `people` made-up people who signed up over the `days` UTC days up to `now` (nothing after it). */
export function generateDemoHistory(options: {
  now: Date;
  people: number;
  days: number;
  seed: number;
  content: DemoContent[];
  services: DemoService[];
}): DemoPerson[] {
  const random = prng(options.seed);
  const end = options.now.getTime() - MINUTE_MS;
  // The first of the `days` UTC days up to today: a report over those days holds every made-up person.
  const start = Math.floor(options.now.getTime() / DAY_MS) * DAY_MS - (options.days - 1) * DAY_MS;
  // Made-up content and services when the database has none (the catalog seeds after analytics).
  const content: DemoContent[] = options.content.length
    ? options.content
    : Array.from({ length: 8 }, (_, i) => ({ id: demoSubject(`demo-content-${i}`), type: 'article', tier: 'free' }));
  const catalogue: DemoService[] = options.services.length
    ? options.services
    : Array.from({ length: 6 }, (_, i) => ({
        id: demoSubject(`demo-service-${i}`),
        providerId: demoSubject(`demo-provider-${i % 3}`),
        priceMinor: 3500 + 1000 * i,
        currency: 'GBP',
      }));
  const freeContent = content.filter((item) => item.tier === 'free');
  let bookings = 0;

  const people: DemoPerson[] = [];
  for (let index = 0; index < options.people; index += 1) {
    const label = demoPersonLabel(index);
    const persona = random.weighted(PERSONAS.map((p) => [p, p.share] as const));
    // More sign-ups lately than 90 days ago: a growing product.
    const cohort = Math.min(end - 30 * MINUTE_MS, start + (1 - random.next() ** 1.25) * (end - start));
    const country = random.weighted(COUNTRIES);
    const profileDay = random.chance(persona.profile) ? (random.chance(0.6) ? 0 : random.int(1, 5)) : Infinity;
    const trialDay = random.chance(persona.trial) ? random.int(1, 13) : Infinity;
    const converts = random.chance(persona.convert);
    const directPremium = random.chance(0.02);
    const whatsappDay = random.chance(persona.whatsapp) ? random.int(0, 7) : Infinity;
    const shopper = random.chance(persona.shopper);

    const events: Omit<DemoEvent, 'plan' | 'country'>[] = [];
    let profileAt = Infinity;
    let trialAt = Infinity;
    let premiumAt = Infinity;
    let whatsappAt = Infinity;
    let shopped = false;
    const usage = new Map<string, number>();
    const planAt = (at: number): Plan =>
      at >= premiumAt ? 'premium' : at >= trialAt && at < trialAt + 14 * DAY_MS ? 'trial' : 'free';
    const add = (name: EventName, at: number, properties: Record<string, unknown> = {}) => {
      if (at <= end) events.push({ name, occurredAt: new Date(at), properties });
    };

    for (let day = 0; cohort + day * DAY_MS <= end; day += 1) {
      const comesBack = day === 0 || random.chance(persona.base * Math.exp(-day / persona.tau) + persona.floor);
      if (!comesBack) continue;
      let at = day === 0 ? cohort : cohort + day * DAY_MS + random.int(-4 * 60, 4 * 60) * MINUTE_MS;
      if (at > end) break;
      const step = () => {
        at += random.int(20, 240) * 1000;
        return at;
      };
      if (day === 0) add('user_signed_up', at);
      else add('last_login', at);
      if (day >= profileDay && profileAt === Infinity) {
        profileAt = step();
        add('profile_completed', profileAt);
      }
      if (day >= whatsappDay && whatsappAt === Infinity) {
        whatsappAt = step();
        add('whatsapp_opt_in', whatsappAt);
      }
      if (day >= trialDay && trialAt === Infinity && premiumAt === Infinity) {
        trialAt = step();
        add('trial_started', trialAt, { days: 14 });
        // Converted at the end of the trial, by the subscription's payment (not a visit of the person's).
        if (converts) {
          premiumAt = trialAt + random.int(10, 14) * DAY_MS + random.int(0, 12) * HOUR_MS;
          add('plan_changed', premiumAt, { from: 'trial', to: 'premium', by: 'subscription' });
        }
      }
      if (day >= 3 && directPremium && premiumAt === Infinity && trialAt === Infinity) {
        premiumAt = step();
        add('plan_changed', premiumAt, { from: 'free', to: 'premium', by: 'subscription' });
      }
      const actions = random.int(persona.actions[0], persona.actions[1]);
      for (let action = 0; action < actions; action += 1) {
        const plan = planAt(at);
        const kind = random.weighted([
          ['content', 45],
          ['diet', profileAt <= at ? 15 : 0],
          ['protection', profileAt <= at ? 12 : 0],
          ['premium', plan === 'free' ? 0 : 10],
        ] as const);
        if (kind === 'content') {
          const pool = plan === 'free' && freeContent.length ? freeContent : content;
          // A few items are read far more than the rest (a long tail, some low performers).
          const item = pool[Math.floor(random.next() ** 1.6 * pool.length)] as DemoContent;
          add('content_viewed', step(), { content_id: item.id, type: item.type, tier: item.tier });
        } else if (kind === 'diet') {
          add('diet_plan_viewed', step(), { personalised: true, items: random.int(4, 9) });
        } else if (kind === 'protection') {
          add('protection_plan_viewed', step(), { personalised: true, items: random.int(3, 7) });
        } else {
          const feature = random.pick(PREMIUM_FEATURES);
          const count = (usage.get(feature) ?? 0) + 1;
          usage.set(feature, count);
          add('premium_feature_used', step(), { feature, usage_count: count });
        }
      }
      if (whatsappAt <= at && random.chance(0.35)) {
        add('reminder_triggered', step(), { channel: 'whatsapp', recurrence: 'weekly', priority: false });
      }
      if (random.chance(0.03)) add('support_request', step(), { priority: planAt(at) === 'premium' });
      if (shopper && random.chance(shopped ? 0.15 : 0.45)) {
        shopped = true;
        add('service_searched', step(), { results: random.int(2, 14), has_query: random.chance(0.7) });
        if (random.chance(0.7)) {
          const service = random.pick(catalogue);
          add('slot_viewed', step(), {
            provider_id: service.providerId,
            service_id: service.id,
            slots: random.int(3, 24),
          });
          if (random.chance(0.45)) {
            const bookingId = demoSubject(`demo-booking-${bookings++}`);
            const ids = { booking_id: bookingId, provider_id: service.providerId, service_id: service.id };
            add('booking_created', step(), {
              ...ids,
              status: 'confirmed',
              price_minor: service.priceMinor,
              currency: service.currency,
            });
            const visitEnd = at + random.int(1, 6) * DAY_MS + random.int(1, 6) * HOUR_MS;
            const outcome = random.weighted([
              ['completed', 85],
              ['cancelled', 15],
            ] as const);
            if (outcome === 'cancelled') {
              add('booking_cancelled', at + random.int(1, 20) * HOUR_MS, { ...ids, cancelled_by: 'customer' });
            } else {
              add('booking_completed', visitEnd, ids);
              if (random.chance(0.5)) {
                add('review_posted', visitEnd + random.int(1, 30) * HOUR_MS, {
                  provider_id: service.providerId,
                  booking_id: bookingId,
                  rating: random.weighted([
                    [5, 55],
                    [4, 30],
                    [3, 10],
                    [2, 5],
                  ] as const),
                });
              }
            }
          }
        }
      }
    }
    events.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
    people.push({
      label,
      subject: demoSubject(label),
      cohortAt: new Date(cohort),
      // The plan and country the person had when each event happened (the country comes with the profile).
      events: events.map((event) => {
        const at = event.occurredAt.getTime();
        return { ...event, plan: planAt(at), country: at >= profileAt ? country : null };
      }),
    });
  }
  return people;
}

// ---- Storing it ----

/** The demo history's stored events as batches: one per run of events sharing plan and country. */
function batches(person: DemoPerson) {
  const runs: { plan: Plan; country: string | null; events: BatchEvent[] }[] = [];
  for (const event of person.events) {
    const error = propertyError(event.name, event.properties);
    // The generator's own mistake: fail the seed (its transaction) rather than store it.
    if (error) throw new Error(`demo history: ${event.name} properties do not fit the catalogue: ${error}`);
    const stored = {
      name: event.name,
      occurredAt: event.occurredAt,
      // The marker comes after the catalogue check: it is the one property outside the schema.
      properties: sanitiseProperties({ ...event.properties, [SYNTHETIC_PROPERTY]: true }).properties,
    };
    const last = runs.at(-1);
    if (last && last.plan === event.plan && last.country === event.country) last.events.push(stored);
    else runs.push({ plan: event.plan, country: event.country, events: [stored] });
  }
  return runs;
}

export interface DemoHistoryDeps {
  repository: AnalyticsRepository;
  clock: Clock;
  ids: IdGenerator;
  logger: Pick<Logger, 'info'>;
  /** The raw-retention window: events older than it are rolled up at once, as the maintenance job would. */
  rawRetentionDays: number;
  people?: number;
  days?: number;
  seed?: number;
}

/** The demo history seeder (see the top of this file). */
export function createDemoHistorySeeder(deps: DemoHistoryDeps): Seeder {
  const people = deps.people ?? DEMO_HISTORY_DEFAULTS.people;
  const days = deps.days ?? DEMO_HISTORY_DEFAULTS.days;
  const seed = deps.seed ?? DEMO_HISTORY_DEFAULTS.seed;
  return {
    name: DEMO_HISTORY_SEEDER,
    async run(db: Db) {
      const now = deps.clock.now();
      const began = performance.now();
      const [already] = await db
        .select({ key: appMeta.key })
        .from(appMeta)
        .where(eq(appMeta.key, DEMO_HISTORY_META_KEY))
        .limit(1);
      if (already) return;
      const history = generateDemoHistory({
        now,
        people,
        days,
        seed,
        content: await publishedContentKinds(db),
        services: await bookableServicePrices(db),
      });
      const events = history.reduce((sum, person) => sum + person.events.length, 0);
      const generatedMs = Math.round(performance.now() - began);
      // Claimed before anything is written: a concurrent seed waits on this key, then finds it taken.
      const [claimed] = await db
        .insert(appMeta)
        .values({
          key: DEMO_HISTORY_META_KEY,
          value: {
            synthetic: true,
            note: 'Made-up demo people, not accounts: every event carries synthetic=true',
            people,
            events,
            from: new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - (days - 1) * DAY_MS).toISOString(),
            to: now.toISOString(),
            seed,
          },
          updatedAt: now,
        })
        .onConflictDoNothing()
        .returning({ key: appMeta.key });
      if (!claimed) return;
      // The months the history spans that the partition maker covers; older ones go to the default partition.
      await ensurePartitions(db, now);
      for (const person of history) {
        for (const run of batches(person)) {
          await deps.repository.insertBatch(
            db,
            {
              subject: person.subject,
              cohortAt: person.cohortAt,
              source: 'server',
              plan: run.plan,
              country: run.country,
              now,
              batchId: deps.ids(),
            },
            run.events,
          );
        }
      }
      const rolledUp = await rollUp(db, now, deps.rawRetentionDays);
      deps.logger.info(
        {
          people,
          events,
          days,
          rolled_up: rolledUp,
          generated_ms: generatedMs,
          ms: Math.round(performance.now() - began),
        },
        'analytics: synthetic demo history seeded',
      );
    },
  };
}
