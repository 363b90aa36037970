import { type SQL, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { ENGAGEMENT_EVENTS } from './analytics.facts.js';

/**
 * The admin reports, each one SQL statement (or a few small ones) over `product_events`.
 * Everything is counted per pseudonymous subject; events without one (anonymous, or of
 * people who objected) count in totals but cannot take part in funnels or cohorts.
 * Time windows are measured from each person's first event of the journey (`t0`).
 */

export interface ReportRange {
  /** Inclusive start (UTC midnight). */
  from: Date;
  /** Exclusive end (the UTC midnight after the last day). */
  to: Date;
  plan?: string;
  country?: string;
}

const DAY_MS = 86_400_000;
/** How long after her first step later steps still count. */
export const FUNNEL_WINDOW_DAYS = 30;
/** Engaged: this many engagement events in her first 7 days. */
export const ENGAGED_MIN_EVENTS = 3;
/** Weights of the engagement score: deliberate actions weigh more than views. */
export const SCORE_WEIGHTS: Record<string, number> = {
  last_login: 1,
  content_viewed: 1,
  diet_plan_viewed: 2,
  protection_plan_viewed: 2,
  reminder_triggered: 1,
  premium_feature_used: 2,
  whatsapp_opt_in: 3,
  profile_completed: 3,
  support_request: 1,
  service_searched: 1,
  slot_viewed: 1,
  booking_created: 5,
  booking_completed: 5,
  review_posted: 3,
};
export const SCORE_BUCKETS = { medium: 5, high: 20 };
export const ADOPTION_FEATURES = [
  'diet_plan_viewed',
  'protection_plan_viewed',
  'content_viewed',
  'whatsapp_opt_in',
  'reminder_triggered',
  'premium_feature_used',
  'support_request',
  'service_searched',
  'booking_created',
  'review_posted',
];

const rate = (part: number, whole: number): number | null =>
  whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;

const list = (names: string[]) =>
  sql.join(
    names.map((name) => sql`${name}`),
    sql`, `,
  );

/** The plan and country filters on an events alias. */
function filters(alias: string, range: ReportRange): SQL {
  const parts: SQL[] = [];
  if (range.plan) parts.push(sql`and ${sql.raw(alias)}.plan = ${range.plan}`);
  if (range.country) parts.push(sql`and ${sql.raw(alias)}.country = ${range.country}`);
  return sql.join(parts, sql` `);
}

const iso = (date: Date) => date.toISOString();

/**
 * People whose pseudonym began with a sign-up in the range, from their facts (one row each):
 * the plan and country filters take her latest known plan and country.
 */
function signups(range: ReportRange): SQL {
  return sql`from analytics_subject_facts f
    where f.signed_up and f.cohort_at >= ${iso(range.from)} and f.cohort_at < ${iso(range.to)} ${filters('f', range)}`;
}

const within = (column: string, days: number, from = 'cohort_at') =>
  sql.raw(`f.${column} < f.${from} + interval '${days * 24} hours'`);

type Num = number | string;
const n = (value: Num | null | undefined) => Number(value ?? 0);

export interface FunnelStep {
  step: string;
  event: string;
  count: number;
  conversion_from_previous: number | null;
  conversion_from_start: number | null;
}

function steps(definitions: { step: string; event: string }[], counts: number[]): FunnelStep[] {
  const start = counts[0] ?? 0;
  return definitions.map((definition, i) => ({
    ...definition,
    count: counts[i] ?? 0,
    conversion_from_previous: i === 0 ? null : rate(counts[i] ?? 0, counts[i - 1] ?? 0),
    conversion_from_start: i === 0 ? null : rate(counts[i] ?? 0, start),
  }));
}

export const WELLNESS_STEPS = [
  { step: 'signed_up', event: 'user_signed_up' },
  { step: 'profile_completed', event: 'profile_completed' },
  { step: 'content_viewed', event: 'content_viewed' },
  { step: 'engaged', event: `${ENGAGED_MIN_EVENTS}+ of ${ENGAGEMENT_EVENTS.join('|')} in 7 days` },
  { step: 'retained_day_7', event: 'any event on days 7-13' },
];
export const MARKETPLACE_STEPS = [
  { step: 'searched', event: 'service_searched' },
  { step: 'slot_viewed', event: 'slot_viewed' },
  { step: 'booking_created', event: 'booking_created' },
  { step: 'booking_completed', event: 'booking_completed' },
];

export async function wellnessFunnel(db: Db, range: ReportRange): Promise<FunnelStep[]> {
  const profile = within('profile_at', FUNNEL_WINDOW_DAYS);
  const content = sql`${profile} and ${within('content_at', FUNNEL_WINDOW_DAYS)}`;
  const engaged = sql`${content} and f.engage_7d >= ${ENGAGED_MIN_EVENTS}`;
  const [row] = await queryRows<Record<string, Num>>(
    db,
    sql`select count(*) as signed_up, count(*) filter (where ${profile}) as profile_completed,
      count(*) filter (where ${content}) as content_viewed, count(*) filter (where ${engaged}) as engaged,
      count(*) filter (where ${engaged} and f.active_day_7) as retained
    ${signups(range)}`,
  );
  return steps(WELLNESS_STEPS, [
    n(row?.signed_up),
    n(row?.profile_completed),
    n(row?.content_viewed),
    n(row?.engaged),
    n(row?.retained),
  ]);
}

/** People whose first search falls in the range; later steps within 30 days of it (in any order). */
export async function marketplaceFunnel(db: Db, range: ReportRange): Promise<FunnelStep[]> {
  const slot = within('slot_at', FUNNEL_WINDOW_DAYS, 'search_at');
  const booked = sql`${slot} and ${within('booking_at', FUNNEL_WINDOW_DAYS, 'search_at')}`;
  const completed = sql`${booked} and ${within('completed_at', FUNNEL_WINDOW_DAYS, 'search_at')}`;
  const [row] = await queryRows<Record<string, Num>>(
    db,
    sql`select count(*) as searched, count(*) filter (where ${slot}) as slot_viewed,
      count(*) filter (where ${booked}) as booking_created, count(*) filter (where ${completed}) as booking_completed
    from analytics_subject_facts f
    where f.search_at >= ${iso(range.from)} and f.search_at < ${iso(range.to)} ${filters('f', range)}`,
  );
  return steps(MARKETPLACE_STEPS, [
    n(row?.searched),
    n(row?.slot_viewed),
    n(row?.booking_created),
    n(row?.booking_completed),
  ]);
}

export interface RetentionCohort {
  cohort_week: string;
  size: number;
  day_7: { retained: number; rate: number | null; measurable: boolean };
  day_30: { retained: number; rate: number | null; measurable: boolean };
}

/**
 * Weekly sign-up cohorts. Day-N retained: any event in the 7 days from day N after her
 * sign-up. A rate is measurable once every member of the cohort has had that window.
 */
export async function retention(db: Db, range: ReportRange, now: Date): Promise<RetentionCohort[]> {
  const rows = await queryRows<{ week: string; size: Num; d7: Num; d30: Num; last: Date | string }>(
    db,
    sql`select to_char(date_trunc('week', f.cohort_at at time zone 'UTC'), 'YYYY-MM-DD') as week, count(*) as size,
      count(*) filter (where f.active_day_7) as d7, count(*) filter (where f.active_day_30) as d30,
      max(f.cohort_at) as last
    ${signups(range)}
    group by 1 order by 1`,
  );
  return rows.map((row) => {
    const last = new Date(row.last).getTime();
    const size = n(row.size);
    const window = (retained: number, days: number) => {
      const measurable = last + days * DAY_MS <= now.getTime();
      return { retained, rate: measurable ? rate(retained, size) : null, measurable };
    };
    return { cohort_week: row.week, size, day_7: window(n(row.d7), 14), day_30: window(n(row.d30), 37) };
  });
}

export const ACTIVATION_DEFINITION =
  'signed up in the range, then completed her profile and viewed a diet or protection plan within 7 days';

export async function activation(db: Db, range: ReportRange) {
  const [row] = await queryRows<{ signups: Num; activated: Num }>(
    db,
    sql`select count(*) as signups,
      count(*) filter (where ${within('profile_at', 7)} and ${within('plan_view_at', 7)}) as activated
    ${signups(range)}`,
  );
  const signupCount = n(row?.signups);
  const activated = n(row?.activated);
  return { signups: signupCount, activated, rate: rate(activated, signupCount), definition: ACTIVATION_DEFINITION };
}

const scoreCase = () =>
  sql.join(
    [
      sql`case e.name`,
      ...Object.entries(SCORE_WEIGHTS).map(([name, weight]) => sql`when ${name} then ${sql.raw(String(weight))}`),
      sql`else 0 end`,
    ],
    sql` `,
  );

/** Engagement score per person over the range (weighted events), its spread, and the daily series. */
export async function engagement(db: Db, range: ReportRange, rollupBefore: Date) {
  const [summary] = await queryRows<Record<string, Num | null>>(
    db,
    sql`with scores as (
      select e.subject, sum(${scoreCase()}) as score
      from product_events e
      where e.subject is not null and e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)}
        ${filters('e', range)}
      group by e.subject
    )
    select count(*) as active, avg(score) as average, percentile_cont(0.5) within group (order by score) as median,
      count(*) filter (where score < ${SCORE_BUCKETS.medium}) as low,
      count(*) filter (where score >= ${SCORE_BUCKETS.medium} and score < ${SCORE_BUCKETS.high}) as medium,
      count(*) filter (where score >= ${SCORE_BUCKETS.high}) as high
    from scores`,
  );
  const daily = await dailySeries(db, range, rollupBefore);
  const round = (value: Num | null | undefined) => Math.round(n(value) * 100) / 100;
  return {
    active_subjects: n(summary?.active),
    average_score: round(summary?.average),
    median_score: round(summary?.median),
    buckets: [
      { bucket: 'low' as const, subjects: n(summary?.low) },
      { bucket: 'medium' as const, subjects: n(summary?.medium) },
      { bucket: 'high' as const, subjects: n(summary?.high) },
    ],
    daily,
  };
}

/** Events and active people per day: raw events, and the daily roll-up for days already rolled up. */
async function dailySeries(db: Db, range: ReportRange, rollupBefore: Date) {
  const rows = await queryRows<{ day: string; events: Num; active: Num }>(
    db,
    sql`select to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*) as events,
        count(distinct e.subject) as active
      from product_events e
      where e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)} ${filters('e', range)}
      group by 1
      union all
      select to_char(d.day, 'YYYY-MM-DD'), sum(d.events), sum(d.subjects)
      from product_event_daily d
      where d.name = '*' and d.day >= ${iso(range.from).slice(0, 10)}::date and d.day < ${iso(range.to).slice(0, 10)}::date
        and d.day < ${iso(rollupBefore).slice(0, 10)}::date ${filters('d', range)}
      group by 1
      order by 1`,
  );
  // A day half rolled up (the job mid-way) appears twice: add the parts.
  const byDay = new Map<string, { day: string; events: number; active_subjects: number }>();
  for (const row of rows) {
    const entry = byDay.get(row.day) ?? { day: row.day, events: 0, active_subjects: 0 };
    entry.events += n(row.events);
    entry.active_subjects += n(row.active);
    byDay.set(row.day, entry);
  }
  return [...byDay.values()];
}

/** Of the people active on each plan in the range, how many used each feature. */
export async function adoption(db: Db, range: ReportRange) {
  const rows = await queryRows<{ name: string; plan: string; users: Num; active: Num }>(
    db,
    sql`with active as (
      select e.plan, count(distinct e.subject) as active from product_events e
      where e.subject is not null and e.plan is not null
        and e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)} ${filters('e', range)}
      group by e.plan
    ), used as (
      select e.name, e.plan, count(distinct e.subject) as users from product_events e
      where e.subject is not null and e.plan is not null and e.name in (${list(ADOPTION_FEATURES)})
        and e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)} ${filters('e', range)}
      group by e.name, e.plan
    )
    select u.name, u.plan, u.users, a.active from used u join active a on a.plan = u.plan`,
  );
  const used = new Map(rows.map((row) => [`${row.name}|${row.plan}`, row]));
  const activeByPlan = new Map(rows.map((row) => [row.plan, n(row.active)]));
  const features: { feature: string; plan: string; users: number; active_users: number; rate: number | null }[] = [];
  for (const feature of ADOPTION_FEATURES) {
    for (const plan of ['free', 'trial', 'premium']) {
      if (range.plan && plan !== range.plan) continue;
      const users = n(used.get(`${feature}|${plan}`)?.users);
      const active = activeByPlan.get(plan) ?? 0;
      features.push({ feature, plan, users, active_users: active, rate: rate(users, active) });
    }
  }
  return { features };
}

/** Of the people who signed up in the range: how many started a trial, and how many went premium. */
export async function conversion(db: Db, range: ReportRange) {
  const [row] = await queryRows<Record<string, Num>>(
    db,
    sql`select count(*) as signups, count(f.trial_at) as trials, count(f.premium_at) as premium,
      count(*) filter (where f.trial_at is not null and f.premium_at is not null) as trial_premium
    ${signups(range)}`,
  );
  const signupCount = n(row?.signups);
  const trials = n(row?.trials);
  const premium = n(row?.premium);
  return {
    signups: signupCount,
    trials_started: trials,
    premium,
    free_to_trial_rate: rate(trials, signupCount),
    trial_to_premium_rate: rate(n(row?.trial_premium), trials),
    free_to_premium_rate: rate(premium, signupCount),
  };
}

/** Content items by views; conversion = viewers who opened a plan within 7 days of a view. */
export async function contentPerformance(db: Db, range: ReportRange, limit = 100) {
  const rows = await queryRows<{ content_id: string; views: Num; viewers: Num; linked: Num; converted: Num }>(
    db,
    sql`with views as (
      select e.properties->>'content_id' as content_id, e.subject, e.occurred_at
      from product_events e
      where e.name = 'content_viewed' and e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)}
        ${filters('e', range)}
    ), converted as (
      select distinct v.content_id, v.subject from views v
      where v.subject is not null and exists (
        select 1 from product_events p
        where p.subject = v.subject and p.name in ('diet_plan_viewed', 'protection_plan_viewed')
          and p.occurred_at > v.occurred_at and p.occurred_at < v.occurred_at + interval '7 days'
      )
    )
    select v.content_id, count(*) as views, count(distinct v.subject) as viewers,
      count(distinct v.subject) filter (where v.subject is not null) as linked,
      (select count(*) from converted c where c.content_id = v.content_id) as converted
    from views v where v.content_id is not null
    group by v.content_id order by views desc, v.content_id limit ${limit}`,
  );
  const views = rows.map((row) => n(row.views)).sort((a, b) => a - b);
  const median = views.length === 0 ? 0 : (views[Math.floor((views.length - 1) / 2)] as number);
  return rows.map((row, i) => ({
    content_id: row.content_id,
    views: n(row.views),
    unique_viewers: n(row.viewers),
    plan_view_conversion: rate(n(row.converted), n(row.linked)),
    rank: i + 1,
    // Under a quarter of the median item's views.
    low_performer: views.length >= 4 && n(row.views) < median / 4,
  }));
}

/** Support requests in the range: by priority, plan, ISO week and weekday. */
export async function support(db: Db, range: ReportRange) {
  const base = sql`from product_events e where e.name = 'support_request'
    and e.occurred_at >= ${iso(range.from)} and e.occurred_at < ${iso(range.to)} ${filters('e', range)}`;
  const [priority, plan, weekly, weekday] = await Promise.all([
    queryRows<{ key: string; requests: Num }>(
      db,
      sql`select coalesce(e.properties->>'priority', 'unknown') as key, count(*) as requests ${base} group by 1 order by 1`,
    ),
    queryRows<{ key: string; requests: Num }>(
      db,
      sql`select coalesce(e.plan, 'unknown') as key, count(*) as requests ${base} group by 1 order by 1`,
    ),
    queryRows<{ key: string; requests: Num }>(
      db,
      sql`select to_char(date_trunc('week', e.occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as key, count(*) as requests
        ${base} group by 1 order by 1`,
    ),
    queryRows<{ key: Num; requests: Num }>(
      db,
      sql`select extract(isodow from e.occurred_at at time zone 'UTC')::int as key, count(*) as requests
        ${base} group by 1 order by 1`,
    ),
  ]);
  return {
    total: priority.reduce((sum, row) => sum + n(row.requests), 0),
    by_priority: priority.map((row) => ({
      priority: row.key === 'true' ? 'priority' : row.key === 'false' ? 'standard' : row.key,
      requests: n(row.requests),
    })),
    by_plan: plan.map((row) => ({ plan: row.key, requests: n(row.requests) })),
    weekly: weekly.map((row) => ({ week: row.key, requests: n(row.requests) })),
    by_weekday: weekday.map((row) => ({ weekday: n(row.key), requests: n(row.requests) })),
  };
}

export interface DailyMetrics {
  day: string;
  signups: number;
  active_users: number;
  events: number;
  profiles_completed: number;
  content_views: number;
  plan_views: number;
  bookings_created: number;
  bookings_completed: number;
  support_requests: number;
  trials_started: number;
  premium_upgrades: number;
}

/** One UTC day's headline numbers (the Sheets row), from raw events or, once rolled up, the daily table. */
export async function dailyMetrics(db: Db, day: string, rolledUp: boolean): Promise<DailyMetrics> {
  const counted = (name: string, column: string) =>
    sql`coalesce(sum(${sql.raw(column)}) filter (where name = ${name}), 0)`;
  const [row] = rolledUp
    ? await queryRows<Record<string, Num>>(
        db,
        sql`select ${counted('*', 'events')} as events, ${counted('*', 'subjects')} as active,
          ${counted('user_signed_up', 'events')} as signups, ${counted('profile_completed', 'events')} as profiles,
          ${counted('content_viewed', 'events')} as content,
          coalesce(sum(events) filter (where name in ('diet_plan_viewed', 'protection_plan_viewed')), 0) as plans,
          ${counted('booking_created', 'events')} as booked, ${counted('booking_completed', 'events')} as completed,
          ${counted('support_request', 'events')} as support, ${counted('trial_started', 'events')} as trials,
          ${counted('plan_changed:premium', 'events')} as premium
        from product_event_daily where day = ${day}::date`,
      )
    : await queryRows<Record<string, Num>>(
        db,
        sql`select count(*) as events, count(distinct subject) as active,
          count(*) filter (where name = 'user_signed_up') as signups,
          count(*) filter (where name = 'profile_completed') as profiles,
          count(*) filter (where name = 'content_viewed') as content,
          count(*) filter (where name in ('diet_plan_viewed', 'protection_plan_viewed')) as plans,
          count(*) filter (where name = 'booking_created') as booked,
          count(*) filter (where name = 'booking_completed') as completed,
          count(*) filter (where name = 'support_request') as support,
          count(*) filter (where name = 'trial_started') as trials,
          count(*) filter (where name = 'plan_changed' and properties->>'to' = 'premium') as premium
        from product_events
        where occurred_at >= ${`${day}T00:00:00.000Z`} and occurred_at < ${iso(new Date(Date.parse(`${day}T00:00:00.000Z`) + DAY_MS))}`,
      );
  return {
    day,
    signups: n(row?.signups),
    active_users: n(row?.active),
    events: n(row?.events),
    profiles_completed: n(row?.profiles),
    content_views: n(row?.content),
    plan_views: n(row?.plans),
    bookings_created: n(row?.booked),
    bookings_completed: n(row?.completed),
    support_requests: n(row?.support),
    trials_started: n(row?.trials),
    premium_upgrades: n(row?.premium),
  };
}

/** Her events of the given names per ISO week (Monday, UTC) since `since`. */
export async function weeklyCounts(db: Db, subject: string, names: string[], since: Date) {
  const rows = await queryRows<{ week: string; name: string; count: Num }>(
    db,
    sql`select to_char(date_trunc('week', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as week, name, count(*) as count
      from product_events where subject = ${subject} and name in (${list(names)}) and occurred_at >= ${iso(since)}
      group by 1, 2 order by 1, 2`,
  );
  return rows.map((row) => ({ week: row.week, name: row.name, count: n(row.count) }));
}

/** One person's activity since `since`: per week, per event, active days and her score. */
export async function subjectActivity(db: Db, subject: string, since: Date) {
  const rows = await queryRows<{ week: string; name: string; count: Num; days: Num }>(
    db,
    sql`select to_char(date_trunc('week', e.occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as week, e.name,
        count(*) as count, count(distinct (e.occurred_at at time zone 'UTC')::date) as days
      from product_events e where e.subject = ${subject} and e.occurred_at >= ${iso(since)}
      group by 1, 2 order by 1, 2`,
  );
  const [days] = await queryRows<{ days: Num }>(
    db,
    sql`select count(distinct (occurred_at at time zone 'UTC')::date) as days
      from product_events where subject = ${subject} and occurred_at >= ${iso(since)}`,
  );
  const weekly = new Map<string, number>();
  const byEvent = new Map<string, number>();
  let score = 0;
  for (const row of rows) {
    const count = n(row.count);
    weekly.set(row.week, (weekly.get(row.week) ?? 0) + count);
    byEvent.set(row.name, (byEvent.get(row.name) ?? 0) + count);
    score += count * (SCORE_WEIGHTS[row.name] ?? 0);
  }
  return {
    weekly: [...weekly].map(([week, events]) => ({ week, events })),
    by_event: [...byEvent].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count),
    active_days: n(days?.days),
    score,
  };
}

/** The median engagement score of everyone active since `since` (what "typical" means for her). */
export async function platformMedianScore(db: Db, since: Date): Promise<number | null> {
  const [row] = await queryRows<{ median: Num | null }>(
    db,
    sql`select percentile_cont(0.5) within group (order by score) as median from (
      select sum(${scoreCase()}) as score from product_events e
      where e.subject is not null and e.occurred_at >= ${iso(since)} group by e.subject
    ) scores`,
  );
  return row?.median === null || row?.median === undefined ? null : Math.round(n(row.median) * 100) / 100;
}
