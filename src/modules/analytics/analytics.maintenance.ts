import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';

/**
 * Keeping `product_events` healthy: monthly partitions made ahead of time, and raw events
 * past the raw-retention window rolled up into `product_event_daily` and then removed (whole
 * partitions dropped, the boundary month deleted row by row).
 */

const MONTHS_BACK = 2;
const MONTHS_AHEAD = 2;
// Any fixed 64-bit number: names the advisory lock partition makers queue on.
const PARTITIONS_LOCK = 7_310_556;

const monthStart = (year: number, month: number) => new Date(Date.UTC(year, month, 1));
const partitionName = (start: Date) =>
  `product_events_${start.getUTCFullYear()}_${String(start.getUTCMonth() + 1).padStart(2, '0')}`;

interface Partition {
  name: string;
  /** Upper bound (exclusive) as PostgreSQL prints it, parsed; null for the default partition. */
  to: Date | null;
}

async function partitions(db: Db): Promise<Partition[]> {
  const rows = await queryRows<{ name: string; bound: string }>(
    db,
    sql`select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
        where p.relname = 'product_events'`,
  );
  return rows.map((row) => {
    const match = /TO \('([^']+)'\)/.exec(row.bound);
    // '2030-02-01 00:00:00+00' (in the session's time zone): ISO 8601 wants 'T' and '+00:00'.
    const iso = match ? (match[1] as string).replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00') : null;
    return { name: row.name, to: iso ? new Date(iso) : null };
  });
}

/**
 * Creates the monthly partitions around `now` that do not exist yet. A month whose events
 * already sit in the default partition is left there (still stored, still queried).
 * Returns the partitions created.
 *
 * Called in a transaction, it first takes an advisory lock held to the end of it: instances
 * starting at once on a new database each run this, and `create table if not exists` is not
 * safe against a concurrent create of the same table (one of them would fail to boot).
 */
export async function ensurePartitions(db: Db, now: Date): Promise<string[]> {
  await db.execute(sql`select pg_advisory_xact_lock(${PARTITIONS_LOCK})`);
  const existing = new Set((await partitions(db)).map((partition) => partition.name));
  const created: string[] = [];
  for (let offset = -MONTHS_BACK; offset <= MONTHS_AHEAD; offset += 1) {
    const from = monthStart(now.getUTCFullYear(), now.getUTCMonth() + offset);
    const to = monthStart(from.getUTCFullYear(), from.getUTCMonth() + 1);
    const name = partitionName(from);
    if (existing.has(name)) continue;
    const [stray] = await queryRows<{ found: boolean }>(
      db,
      sql`select exists (select 1 from product_events_default
          where occurred_at >= ${from.toISOString()} and occurred_at < ${to.toISOString()}) as found`,
    );
    if (stray?.found) continue;
    await db.execute(
      sql.raw(
        `create table if not exists "${name}" partition of product_events
         for values from ('${from.toISOString()}') to ('${to.toISOString()}')`,
      ),
    );
    created.push(name);
  }
  return created;
}

/** Whole-day counts of the events before `cutoff`: per name, and two synthetic rows (`*`, `plan_changed:premium`). */
const ROLLUP = (cutoff: string) => sql`
  insert into product_event_daily (day, name, source, plan, country, events, subjects)
  select day, name, source, plan, country, sum(events)::int, sum(subjects)::int from (
    select (occurred_at at time zone 'UTC')::date as day, name, source, coalesce(plan, '') as plan,
      coalesce(country, '') as country, count(*) as events, count(distinct subject) as subjects
    from product_events where occurred_at < ${cutoff}
    group by 1, 2, 3, 4, 5
    union all
    select (occurred_at at time zone 'UTC')::date, '*', source, coalesce(plan, ''), coalesce(country, ''),
      count(*), count(distinct subject)
    from product_events where occurred_at < ${cutoff}
    group by 1, 3, 4, 5
    union all
    select (occurred_at at time zone 'UTC')::date, 'plan_changed:premium', source, coalesce(plan, ''),
      coalesce(country, ''), count(*), count(distinct subject)
    from product_events where occurred_at < ${cutoff} and name = 'plan_changed' and properties->>'to' = 'premium'
    group by 1, 3, 4, 5
  ) rolled
  group by day, name, source, plan, country
  on conflict (day, name, source, plan, country) do update set
    events = product_event_daily.events + excluded.events,
    subjects = product_event_daily.subjects + excluded.subjects`;

/** The first instant whose raw events are kept: UTC midnight `rawDays` days ago. */
export function rawCutoff(now: Date, rawDays: number): Date {
  const day = new Date(now.getTime() - rawDays * 86_400_000);
  return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate()));
}

/**
 * Rolls raw events before the cutoff into daily aggregates and removes them, in the caller's
 * transaction (so a crash leaves both or neither). Returns the raw rows removed.
 */
export async function rollUp(tx: Db, now: Date, rawDays: number): Promise<number> {
  const cutoff = rawCutoff(now, rawDays).toISOString();
  const [pending] = await queryRows<{ n: number }>(
    tx,
    sql`select count(*)::int as n from product_events where occurred_at < ${cutoff}`,
  );
  const count = pending?.n ?? 0;
  if (count === 0) return 0;
  await tx.execute(ROLLUP(cutoff));
  // Months wholly before the cutoff go in one step; the rest row by row.
  for (const partition of await partitions(tx)) {
    if (partition.to && partition.to.getTime() <= Date.parse(cutoff)) {
      await tx.execute(sql.raw(`drop table "${partition.name}"`));
    }
  }
  await tx.execute(sql`delete from product_events where occurred_at < ${cutoff}`);
  return count;
}

/**
 * Removes the anonymous de-duplication keys of days before `keepFrom`'s UTC day: a client may
 * not send events that old, so those keys can no longer match anything. Returns the rows removed.
 */
export async function pruneAnonymousSeen(tx: Db, keepFrom: Date): Promise<number> {
  const rows = await queryRows<{ day: string }>(
    tx,
    sql`delete from analytics_anonymous_seen where day < ${keepFrom.toISOString().slice(0, 10)}::date returning day`,
  );
  return rows.length;
}
