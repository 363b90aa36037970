import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { DAY_MS, iso, type Num, n } from './analytics.report-sql.js';

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
