import { type SQL, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { ENGAGEMENT_EVENTS } from './analytics.facts.js';
import { DAY_MS, filters, iso, type Num, n, type ReportRange, rate } from './analytics.report-sql.js';

/**
 * The journey reports: funnels, weekly retention cohorts, activation and plan conversion. They
 * read the per-pseudonym facts (one row per person), so events without a subject (anonymous,
 * or of people who objected) take no part. Time windows are measured from each person's first
 * event of the journey.
 */

/** How long after a person's first step later steps still count. */
export const FUNNEL_WINDOW_DAYS = 30;
/** Engaged: this many engagement events in the person's first 7 days. */
export const ENGAGED_MIN_EVENTS = 3;

/**
 * People whose pseudonym began with a sign-up in the range, from their facts (one row each):
 * the plan and country filters take each person's latest known plan and country.
 */
function signups(range: ReportRange): SQL {
  return sql`from analytics_subject_facts f
    where f.signed_up and f.cohort_at >= ${iso(range.from)} and f.cohort_at < ${iso(range.to)} ${filters('f', range)}`;
}

const within = (column: string, days: number, from = 'cohort_at') =>
  sql.raw(`f.${column} < f.${from} + interval '${days * 24} hours'`);

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
 * Weekly sign-up cohorts. Day-N retained: any event in the 7 days from day N after the person's
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
  'signed up in the range, then completed the profile and viewed a diet or protection plan within 7 days';

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
