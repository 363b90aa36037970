import { wallTime, zonedTimeToUtc } from '../../shared/zoned-time.js';
import type { Recurrence } from './reminders.tables.js';

export interface Schedule {
  /** The first occurrence as local wall time, YYYY-MM-DDTHH:MM. */
  localStart: string;
  timeZone: string;
  recurrence: Recurrence;
  intervalMonths: number | null;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/;
const DAY_MS = 86_400_000;

/** The instant as wall time in `timeZone`: YYYY-MM-DDTHH:MM. */
export function toLocal(instant: Date, timeZone: string): string {
  const wall = wallTime(instant.getTime(), timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${wall.year}-${pad(wall.month)}-${pad(wall.day)}T${pad(Math.floor(wall.minutes / 60))}:${pad(wall.minutes % 60)}`;
}

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * The n-th occurrence (0 = the first) as an instant. Dates step in local wall time (days, weeks
 * or calendar months, the day clamped to the month's length) and the wall time is then placed
 * in the zone, so a 09:00 reminder stays at 09:00 across daylight-saving changes.
 */
export function occurrence(schedule: Schedule, n: number): Date | undefined {
  const match = LOCAL.exec(schedule.localStart);
  if (!match) throw new Error(`bad local start "${schedule.localStart}"`);
  const [year, month, day, hour, minute] = match.slice(1).map(Number) as [number, number, number, number, number];
  const minutes = hour * 60 + minute;
  let date: { year: number; month: number; day: number };
  switch (schedule.recurrence) {
    case 'none':
      if (n > 0) return undefined;
      date = { year, month, day };
      break;
    case 'daily':
    case 'weekly': {
      const step = schedule.recurrence === 'daily' ? 1 : 7;
      const d = new Date(Date.UTC(year, month - 1, day) + n * step * DAY_MS);
      date = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
      break;
    }
    case 'monthly':
    case 'every_n_months': {
      const months = n * (schedule.recurrence === 'monthly' ? 1 : (schedule.intervalMonths ?? 1));
      const index = month - 1 + months;
      const y = year + Math.floor(index / 12);
      const m = (index % 12) + 1;
      date = { year: y, month: m, day: Math.min(day, daysInMonth(y, m)) };
      break;
    }
  }
  return zonedTimeToUtc(date, minutes, schedule.timeZone);
}

/** The first occurrence index whose instant is at or after `from` (undefined when none is left). */
export function firstAtOrAfter(schedule: Schedule, from: Date): { index: number; at: Date } | undefined {
  const first = occurrence(schedule, 0) as Date;
  if (first >= from) return { index: 0, at: first };
  if (schedule.recurrence === 'none') return undefined;
  // Jump close by the average period, then walk: never more than a few steps.
  const periodMs =
    schedule.recurrence === 'daily'
      ? DAY_MS
      : schedule.recurrence === 'weekly'
        ? 7 * DAY_MS
        : (schedule.recurrence === 'monthly' ? 1 : (schedule.intervalMonths ?? 1)) * 30.436875 * DAY_MS;
  let index = Math.max(0, Math.floor((from.getTime() - first.getTime()) / periodMs) - 2);
  for (;;) {
    const at = occurrence(schedule, index) as Date;
    if (at >= from) return { index, at };
    index += 1;
  }
}
