import { type SQL, sql } from 'drizzle-orm';

/**
 * What every admin report shares: the range and filters it is asked for, and the small SQL and
 * number helpers the report queries are written with.
 */
export interface ReportRange {
  /** Inclusive start (UTC midnight). */
  from: Date;
  /** Exclusive end (the UTC midnight after the last day). */
  to: Date;
  plan?: string;
  country?: string;
}

export const DAY_MS = 86_400_000;

/** A share rounded to four places; null when there is nothing to divide by. */
export const rate = (part: number, whole: number): number | null =>
  whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;

/** Event names as a list of bound parameters, for `in (…)`. */
export const list = (names: string[]) =>
  sql.join(
    names.map((name) => sql`${name}`),
    sql`, `,
  );

/** The plan and country filters on an events alias. */
export function filters(alias: string, range: ReportRange): SQL {
  const parts: SQL[] = [];
  if (range.plan) parts.push(sql`and ${sql.raw(alias)}.plan = ${range.plan}`);
  if (range.country) parts.push(sql`and ${sql.raw(alias)}.country = ${range.country}`);
  return sql.join(parts, sql` `);
}

export const iso = (date: Date) => date.toISOString();

/** Counts and sums come back from the driver as numbers or numeric strings. */
export type Num = number | string;
export const n = (value: Num | null | undefined) => Number(value ?? 0);
