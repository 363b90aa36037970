/**
 * Free start times from a provider's schedule, as pure functions: the schedule is read in the
 * provider's wall time (its zone's offsets, bookings.zone-offsets.ts), so 09:00 stays 09:00 across
 * DST changes.
 */
import type { SlotUnavailableReason } from '../../errors.js';
import { isTimeZone, wallTime } from '../../shared/zoned-time.js';
import { zoneOffsets } from './bookings.zone-offsets.js';

export interface WeeklyInterval {
  day_of_week: number;
  start: string;
  end: string;
}

export type DateException = { date: string; closed: true } | { date: string; start: string; end: string };

export interface Schedule {
  time_zone: string;
  weekly: WeeklyInterval[];
  breaks: WeeklyInterval[];
  exceptions: DateException[];
}

/** Start times lie on this grid of local minutes after midnight. */
export const SLOT_GRID_MINUTES = 15;
export const DEFAULT_MIN_NOTICE_MS = 2 * 3_600_000;
export const HORIZON_MS = 60 * 86_400_000;

/** The times a visit starting at `startsAt` holds: the visit itself, and the provider's time with its buffer. */
export function visitSpan(startsAt: Date, length: { durationMinutes: number; bufferMinutes: number }) {
  const endsAt = new Date(startsAt.getTime() + length.durationMinutes * 60_000);
  return {
    startsAt,
    endsAt,
    blocksFrom: startsAt,
    blocksUntil: new Date(endsAt.getTime() + length.bufferMinutes * 60_000),
  };
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** "09:30" → 570; "24:00" is the end of the day. */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h as number) * 60 + (m as number);
}

export interface ScheduleProblem {
  field: string;
  message: string;
}

/** What is wrong with a schedule (empty when nothing); the HH:MM shape is checked by the route schema. */
export function scheduleProblems(schedule: Schedule): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  if (!isTimeZone(schedule.time_zone)) problems.push({ field: 'body.time_zone', message: 'is not an IANA time zone' });
  const checkOrder = (list: { start: string; end: string }[], name: string) =>
    list.forEach((interval, index) => {
      if (minutesOf(interval.start) >= minutesOf(interval.end)) {
        problems.push({ field: `body.${name}.${index}`, message: 'start must be before end' });
      }
    });
  checkOrder(schedule.weekly, 'weekly');
  checkOrder(schedule.breaks, 'breaks');
  checkOrder(
    schedule.exceptions.filter((e): e is { date: string; start: string; end: string } => !('closed' in e)),
    'exceptions',
  );
  for (let day = 1; day <= 7; day++) {
    const intervals = schedule.weekly
      .map((interval, index) => ({ index, start: minutesOf(interval.start), end: minutesOf(interval.end), interval }))
      .filter((x) => x.interval.day_of_week === day)
      .sort((a, b) => a.start - b.start);
    for (let i = 1; i < intervals.length; i++) {
      const previous = intervals[i - 1] as (typeof intervals)[number];
      const current = intervals[i] as (typeof intervals)[number];
      if (current.start < previous.end) {
        problems.push({ field: `body.weekly.${current.index}`, message: `overlaps another interval on day ${day}` });
      }
    }
  }
  const dates = new Set<string>();
  schedule.exceptions.forEach((exception, index) => {
    if (dates.has(exception.date)) problems.push({ field: `body.exceptions.${index}`, message: 'date given twice' });
    dates.add(exception.date);
  });
  return problems;
}

/** Monday = 1 … Sunday = 7 for a calendar date. */
const isoDayOfWeek = (year: number, month: number, day: number) => {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return weekday === 0 ? 7 : weekday;
};

const isoDate = (year: number, month: number, day: number) =>
  `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;

/** Sorted, disjoint open intervals (local minutes) of one day: hours minus breaks, or the exception. */
export function openIntervals(
  schedule: Schedule,
  date: { year: number; month: number; day: number },
): [number, number][] {
  const key = isoDate(date.year, date.month, date.day);
  const exception = schedule.exceptions.find((e) => e.date === key);
  if (exception) {
    // An exception's hours replace the day's schedule, breaks included.
    return 'closed' in exception ? [] : [[minutesOf(exception.start), minutesOf(exception.end)]];
  }
  const weekday = isoDayOfWeek(date.year, date.month, date.day);
  let open: [number, number][] = schedule.weekly
    .filter((interval) => interval.day_of_week === weekday)
    .map((interval): [number, number] => [minutesOf(interval.start), minutesOf(interval.end)])
    .sort((a, b) => a[0] - b[0]);
  for (const pause of schedule.breaks) {
    if (pause.day_of_week !== weekday) continue;
    const from = minutesOf(pause.start);
    const until = minutesOf(pause.end);
    open = open.flatMap(([start, end]): [number, number][] => {
      if (until <= start || from >= end) return [[start, end]];
      const parts: [number, number][] = [];
      if (from > start) parts.push([start, from]);
      if (until < end) parts.push([until, end]);
      return parts;
    });
  }
  return open;
}

/** Time a provider's calendar is taken, as epoch milliseconds [from, until). */
export interface Busy {
  from: number;
  until: number;
}

export interface SlotQuery {
  schedule: Schedule;
  /** The range asked for, [from, to). */
  from: Date;
  to: Date;
  now: Date;
  durationMinutes: number;
  bufferMinutes: number;
  /** Active bookings' blocks, any order. */
  busy: Busy[];
  minNoticeMs?: number;
  horizonMs?: number;
}

/**
 * Where a slot asked for in [from, to) may start, as epoch milliseconds [earliest, latest): not
 * before now + minimum notice, not after now + horizon. The one place `now` enters slot finding,
 * so a list of open start times computed earlier (a cached one) answers the same once cut to it.
 */
export function slotBounds(query: Pick<SlotQuery, 'from' | 'to' | 'now' | 'minNoticeMs' | 'horizonMs'>): {
  earliest: number;
  latest: number;
} {
  const now = query.now.getTime();
  return {
    earliest: Math.max(query.from.getTime(), now + (query.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS)),
    latest: Math.min(query.to.getTime(), now + (query.horizonMs ?? HORIZON_MS) + 1),
  };
}

export interface OpenQuery {
  schedule: Schedule;
  /** Epoch milliseconds, [from, to). */
  from: number;
  to: number;
  durationMinutes: number;
  bufferMinutes: number;
  /** Active bookings' blocks, any order. */
  busy: Busy[];
}

/**
 * Start times (epoch ms, ascending) in [from, to) whatever the time now: the visit fits inside
 * open hours; the visit plus the buffer overlaps no busy block; on the 15-minute grid of local
 * time. A local time skipped by a DST change is no slot; one that occurs twice (clocks going
 * back) is offered once, at its first occurrence. Local times become instants through the zone's
 * offsets for the range (bookings.zone-offsets.ts), computed once, not per interval or slot.
 */
export function openStartTimes(query: OpenQuery): number[] {
  const { schedule, durationMinutes, from, to } = query;
  const durationMs = durationMinutes * MINUTE_MS;
  const blockMs = (durationMinutes + query.bufferMinutes) * MINUTE_MS;
  if (from >= to) return [];
  const busy = [...query.busy].sort((a, b) => a.from - b.from);
  const slots: number[] = [];
  let pointer = 0;
  let lastStart = Number.NEGATIVE_INFINITY;

  // Local calendar days that can hold a slot in range: one either side covers any zone offset.
  const offsets = zoneOffsets(schedule.time_zone, from - 2 * DAY_MS, to + 2 * DAY_MS);
  const firstDay = offsets.localDayOf(from - DAY_MS);
  const lastDay = offsets.localDayOf(to + DAY_MS);
  for (let day = firstDay; day <= lastDay; day += DAY_MS) {
    const d = new Date(day);
    const date = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
    for (const [openStart, openEnd] of openIntervals(schedule, date)) {
      const openFrom = offsets.instantAtOrAfter(day + openStart * MINUTE_MS);
      const openUntil = offsets.instantAtOrAfter(day + openEnd * MINUTE_MS);
      // No offset change inside the interval (the usual case): local minutes map linearly.
      const linear = openUntil - openFrom === (openEnd - openStart) * MINUTE_MS;
      const firstGrid = Math.ceil(openStart / SLOT_GRID_MINUTES) * SLOT_GRID_MINUTES;
      for (let m = firstGrid; m + durationMinutes <= openEnd; m += SLOT_GRID_MINUTES) {
        const start = linear ? openFrom + (m - openStart) * MINUTE_MS : offsets.instantOf(day + m * MINUTE_MS);
        if (start === undefined) continue; // skipped by the clocks
        if (start < from) continue;
        if (start >= to) return slots;
        if (start + durationMs > openUntil || start <= lastStart) continue;
        const until = start + blockMs;
        while (pointer < busy.length && (busy[pointer] as Busy).until <= start) pointer++;
        // Blocks are sorted by start and never overlap (the exclusion constraint): only those
        // beginning before `until` and ending after `start` collide.
        let taken = false;
        for (let i = pointer; i < busy.length && (busy[i] as Busy).from < until; i++) {
          if ((busy[i] as Busy).until > start) {
            taken = true;
            break;
          }
        }
        if (taken) continue;
        slots.push(start);
        lastStart = start;
      }
    }
  }
  return slots;
}

/**
 * Free start times in [from, to): the open start times (openStartTimes) from now + minimum
 * notice to now + horizon.
 */
export function freeSlots(query: SlotQuery): Date[] {
  const { earliest, latest } = slotBounds(query);
  return openStartTimes({ ...query, from: earliest, to: latest }).map((start) => new Date(start));
}

/** Whether `startsAt` is one of the free slots (schedule, notice, horizon and grid; busy blocks as given). */
export function isFreeSlot(query: Omit<SlotQuery, 'from' | 'to'>, startsAt: Date): boolean {
  const slots = freeSlots({ ...query, from: startsAt, to: new Date(startsAt.getTime() + 1) });
  return slots.length === 1 && (slots[0] as Date).getTime() === startsAt.getTime();
}

/**
 * Why `startsAt` is not a free slot, or undefined when it is one. Checked in the order a client
 * can act on: a time already gone, then too little notice or too far ahead, then a start off the
 * 15-minute grid of the provider's local time, then hours the visit does not fit in (no schedule,
 * a closed day, a break, a visit running past closing). Busy blocks are as given: the insert's
 * exclusion constraint is what says `taken`.
 */
export function slotUnavailableReason(
  query: Omit<SlotQuery, 'from' | 'to' | 'schedule'> & { schedule: Schedule | undefined },
  startsAt: Date,
): SlotUnavailableReason | undefined {
  const at = startsAt.getTime();
  const now = query.now.getTime();
  if (at <= now) return 'past';
  if (at < now + (query.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS)) return 'notice';
  if (at > now + (query.horizonMs ?? HORIZON_MS)) return 'beyond_horizon';
  const { schedule } = query;
  if (!schedule) return 'outside_hours';
  if (isFreeSlot({ ...query, schedule }, startsAt)) return undefined;
  const onGrid = at % MINUTE_MS === 0 && wallTime(at, schedule.time_zone).minutes % SLOT_GRID_MINUTES === 0;
  return onGrid ? 'outside_hours' : 'off_grid';
}
