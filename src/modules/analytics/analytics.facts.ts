import { sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';

/**
 * Per-pseudonym facts (`analytics_subject_facts`): the first time of each funnel step, the
 * person's engagement in the first week and whether the person came back on days 7-13 and
 * 30-36, all relative to when the pseudonym began. Each insert of events folds its batch in (one statement with
 * the insert); `REBUILD_FACTS` recomputes them from the raw events.
 */

/** Events that count towards "engaged" (3 or more in the person's first 7 days). */
export const ENGAGEMENT_EVENTS = [
  'content_viewed',
  'diet_plan_viewed',
  'protection_plan_viewed',
  'reminder_triggered',
  'premium_feature_used',
];
const ENGAGEMENT = new Set(ENGAGEMENT_EVENTS);
const DAY_MS = 86_400_000;

// The first-time columns and the event that sets each.
const FIRST_OF: [column: string, test: (name: string, properties: Record<string, unknown>) => boolean][] = [
  ['profile_at', (name) => name === 'profile_completed'],
  ['content_at', (name) => name === 'content_viewed'],
  ['plan_view_at', (name) => name === 'diet_plan_viewed' || name === 'protection_plan_viewed'],
  ['trial_at', (name) => name === 'trial_started'],
  ['premium_at', (name, properties) => name === 'plan_changed' && properties.to === 'premium'],
  ['search_at', (name) => name === 'service_searched'],
  ['slot_at', (name) => name === 'slot_viewed'],
  ['booking_at', (name) => name === 'booking_created'],
  ['completed_at', (name) => name === 'booking_completed'],
];
export const FIRST_COLUMNS = FIRST_OF.map(([column]) => column);

export interface FactsEvent {
  name: string;
  occurredAt: Date;
  properties: Record<string, unknown>;
}

/** What a batch of one subject's events adds to its facts. */
export function factsDelta(cohortAt: Date, events: FactsEvent[]) {
  const since = cohortAt.getTime();
  const first: Record<string, number | null> = Object.fromEntries(FIRST_COLUMNS.map((column) => [column, null]));
  let signedUp = false;
  let engage7d = 0;
  let activeDay7 = false;
  let activeDay30 = false;
  for (const event of events) {
    const at = event.occurredAt.getTime();
    const age = at - since;
    if (event.name === 'user_signed_up') signedUp = true;
    if (ENGAGEMENT.has(event.name) && age < 7 * DAY_MS) engage7d += 1;
    if (age >= 7 * DAY_MS && age < 14 * DAY_MS) activeDay7 = true;
    if (age >= 30 * DAY_MS && age < 37 * DAY_MS) activeDay30 = true;
    for (const [column, test] of FIRST_OF) {
      if (test(event.name, event.properties)) {
        const current = first[column];
        if (current === null || current === undefined || at < current) first[column] = at;
      }
    }
  }
  return { signedUp, engage7d, activeDay7, activeDay30, first };
}

const stamp = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/**
 * `insert … on conflict` folding a delta into the subject's row: first times keep the earliest, counts
 * add up, flags stay once set, plan and country take the newest known.
 */
export function upsertFacts(
  subject: string,
  shared: { cohortAt: Date; plan: string | null; country: string | null },
  delta: ReturnType<typeof factsDelta>,
  now: Date,
) {
  const columns = FIRST_COLUMNS.map((column) => sql.raw(column));
  const values = FIRST_COLUMNS.map((column) => sql`${stamp(delta.first[column])}::timestamptz`);
  const merges = FIRST_COLUMNS.map((column) =>
    sql.raw(`${column} = least(analytics_subject_facts.${column}, excluded.${column})`),
  );
  return sql`insert into analytics_subject_facts (subject, cohort_at, plan, country, signed_up, engage_7d,
      active_day_7, active_day_30, updated_at, ${sql.join(columns, sql`, `)})
    values (${subject}::uuid, ${shared.cohortAt.toISOString()}::timestamptz, ${shared.plan}, ${shared.country},
      ${delta.signedUp}, ${delta.engage7d}, ${delta.activeDay7}, ${delta.activeDay30}, ${now.toISOString()}::timestamptz,
      ${sql.join(values, sql`, `)})
    on conflict (subject) do update set
      plan = coalesce(excluded.plan, analytics_subject_facts.plan),
      country = coalesce(excluded.country, analytics_subject_facts.country),
      signed_up = analytics_subject_facts.signed_up or excluded.signed_up,
      engage_7d = analytics_subject_facts.engage_7d + excluded.engage_7d,
      active_day_7 = analytics_subject_facts.active_day_7 or excluded.active_day_7,
      active_day_30 = analytics_subject_facts.active_day_30 or excluded.active_day_30,
      updated_at = excluded.updated_at,
      ${sql.join(merges, sql`, `)}`;
}

const firstTimes = () =>
  sql.raw(
    [
      "min(occurred_at) filter (where name = 'profile_completed')",
      "min(occurred_at) filter (where name = 'content_viewed')",
      "min(occurred_at) filter (where name in ('diet_plan_viewed', 'protection_plan_viewed'))",
      "min(occurred_at) filter (where name = 'trial_started')",
      "min(occurred_at) filter (where name = 'plan_changed' and properties->>'to' = 'premium')",
      "min(occurred_at) filter (where name = 'service_searched')",
      "min(occurred_at) filter (where name = 'slot_viewed')",
      "min(occurred_at) filter (where name = 'booking_created')",
      "min(occurred_at) filter (where name = 'booking_completed')",
    ].join(', '),
  );

/** Recomputes every pseudonym's facts from the raw events still kept (a repair; the bench's set-up). */
export async function rebuildFacts(db: Db, now: Date): Promise<void> {
  const engagement = sql.join(
    ENGAGEMENT_EVENTS.map((name) => sql`${name}`),
    sql`, `,
  );
  await db.execute(sql`insert into analytics_subject_facts (subject, cohort_at, plan, country, signed_up, engage_7d,
      active_day_7, active_day_30, updated_at, ${sql.raw(FIRST_COLUMNS.join(', '))})
    select subject, min(cohort_at),
      (array_agg(plan order by occurred_at desc) filter (where plan is not null))[1],
      (array_agg(country order by occurred_at desc) filter (where country is not null))[1],
      bool_or(name = 'user_signed_up'),
      count(*) filter (where name in (${engagement}) and occurred_at < cohort_at + interval '168 hours'),
      coalesce(bool_or(occurred_at >= cohort_at + interval '168 hours' and occurred_at < cohort_at + interval '336 hours'), false),
      coalesce(bool_or(occurred_at >= cohort_at + interval '720 hours' and occurred_at < cohort_at + interval '888 hours'), false),
      ${now.toISOString()}::timestamptz, ${firstTimes()}
    from product_events where subject is not null and cohort_at is not null
    group by subject
    on conflict (subject) do update set
      cohort_at = excluded.cohort_at, plan = excluded.plan, country = excluded.country,
      signed_up = excluded.signed_up, engage_7d = excluded.engage_7d, active_day_7 = excluded.active_day_7,
      active_day_30 = excluded.active_day_30, updated_at = excluded.updated_at,
      ${sql.raw(FIRST_COLUMNS.map((column) => `${column} = excluded.${column}`).join(', '))}`);
}
