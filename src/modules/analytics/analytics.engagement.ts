import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { filters, iso, list, type Num, n, type ReportRange, rate } from './analytics.report-sql.js';

/**
 * The activity reports over raw events: engagement scores and the daily series, feature
 * adoption per plan, content performance, support requests, and one person's own activity.
 * Events without a subject count in totals, never in per-person figures.
 */

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

/**
 * Content items by views; conversion = viewers who opened a plan within 7 days of a view.
 * `views` are those of signed-in people (events under a pseudonym); `anonymous_views` the rest
 * (visitors without an account, people who objected to analytics, events from before
 * pseudonyms). Anyone can send anonymous views, with any device id, so they are shown apart and
 * never rank an item above one with more views from signed-in people: the ranking is by views,
 * then unique viewers, and anonymous views only order items tied on both.
 */
export async function contentPerformance(db: Db, range: ReportRange, limit = 100) {
  const rows = await queryRows<{
    content_id: string;
    views: Num;
    anonymous_views: Num;
    viewers: Num;
    converted: Num;
  }>(
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
    select v.content_id, count(*) filter (where v.subject is not null) as views,
      count(*) filter (where v.subject is null) as anonymous_views,
      count(distinct v.subject) as viewers,
      (select count(*) from converted c where c.content_id = v.content_id) as converted
    from views v where v.content_id is not null
    group by v.content_id order by views desc, viewers desc, anonymous_views desc, v.content_id limit ${limit}`,
  );
  const views = rows.map((row) => n(row.views)).sort((a, b) => a - b);
  const median = views.length === 0 ? 0 : (views[Math.floor((views.length - 1) / 2)] as number);
  return rows.map((row, i) => ({
    content_id: row.content_id,
    views: n(row.views),
    anonymous_views: n(row.anonymous_views),
    unique_viewers: n(row.viewers),
    // count(distinct subject) leaves out the events without one: the viewers are the linked ones.
    plan_view_conversion: rate(n(row.converted), n(row.viewers)),
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

/** The subject's events of the given names per ISO week (Monday, UTC) since `since`. */
export async function weeklyCounts(db: Db, subject: string, names: string[], since: Date) {
  const rows = await queryRows<{ week: string; name: string; count: Num }>(
    db,
    sql`select to_char(date_trunc('week', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as week, name, count(*) as count
      from product_events where subject = ${subject} and name in (${list(names)}) and occurred_at >= ${iso(since)}
      group by 1, 2 order by 1, 2`,
  );
  return rows.map((row) => ({ week: row.week, name: row.name, count: n(row.count) }));
}

/** One person's activity since `since`: per week, per event, active days and the person's score. */
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

/** The median engagement score of everyone active since `since`: the "typical" a person's own score is set against. */
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
