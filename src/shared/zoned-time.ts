/**
 * Wall-clock time in IANA time zones, with Intl only: what a local time is as an instant, and
 * what an instant is as local time, correct across daylight-saving changes.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

export interface WallTime {
  year: number;
  month: number;
  day: number;
  /** Minutes after local midnight. */
  minutes: number;
}

export function wallTime(instantMs: number, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(new Date(instantMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year as number,
    month: parts.month as number,
    day: parts.day as number,
    minutes: (parts.hour as number) * 60 + (parts.minute as number),
  };
}

/** The wall time as if it were UTC: comparable numbers for local times. */
const wallAsUtc = (wall: WallTime) => Date.UTC(wall.year, wall.month - 1, wall.day, 0, wall.minutes);

/**
 * The first instant at which the wall clock in `timeZone` shows `minutes` on that day. A time that
 * occurs twice (clocks going back) gives the first; one that does not occur (clocks going forward)
 * gives the moment the clocks jump past it.
 */
export function zonedTimeToUtc(date: { year: number; month: number; day: number }, minutes: number, timeZone: string) {
  const target = Date.UTC(date.year, date.month - 1, date.day, 0, minutes);
  // A zone changes its offset at most once around any one day: the offsets a day either side
  // are the only candidates.
  const candidates = [...new Set([target - DAY_MS, target + DAY_MS].map((t) => wallAsUtc(wallTime(t, timeZone)) - t))]
    .map((offset) => target - offset)
    .sort((a, b) => a - b);
  const exact = candidates.find((t) => wallAsUtc(wallTime(t, timeZone)) === target);
  if (exact !== undefined) return new Date(exact);
  // In the gap: find the first minute whose wall time is past the target (a few halvings).
  let low = candidates[0] as number;
  let high = candidates.at(-1) as number;
  while (high - low > MINUTE_MS) {
    const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
    if (wallAsUtc(wallTime(middle, timeZone)) >= target) high = middle;
    else low = middle;
  }
  return new Date(high);
}

// Enough for a few hundred zones over a year on each side of today; then start afresh.
const OFFSET_MEMO_LIMIT = 100_000;
/** "<zone> <instant>" → the zone's offset (ms) at that whole-minute instant; it never changes. */
const offsetMemo = new Map<string, number>();

/** The zone's offset from UTC (local minus UTC, in ms) at an instant (taken at its whole minute). */
export function offsetAt(zone: string, instantMs: number): number {
  const minute = Math.floor(instantMs / MINUTE_MS) * MINUTE_MS;
  const key = `${zone} ${minute}`;
  let offset = offsetMemo.get(key);
  if (offset === undefined) {
    offset = wallAsUtc(wallTime(minute, zone)) - minute;
    if (offsetMemo.size >= OFFSET_MEMO_LIMIT) offsetMemo.clear();
    offsetMemo.set(key, offset);
  }
  return offset;
}

/** The zone changes its offset from `from` to `to` (ms) at the whole-minute instant `at`. */
export interface OffsetChange {
  at: number;
  from: number;
  to: number;
}

/**
 * The zone's offset changes between the UTC days around [fromMs, untilMs]. Intl is asked once per
 * UTC day boundary and about ten times more on a day whose offset changes (halving to the minute it
 * takes effect); this assumes a zone changes at most once within a day, as every zone in tzdb does.
 */
export function offsetChanges(zone: string, fromMs: number, untilMs: number): OffsetChange[] {
  const firstDay = Math.floor(fromMs / DAY_MS) * DAY_MS;
  const lastDay = Math.ceil(untilMs / DAY_MS) * DAY_MS;
  const changes: OffsetChange[] = [];
  let before = offsetAt(zone, firstDay);
  for (let day = firstDay + DAY_MS; day <= lastDay; day += DAY_MS) {
    const after = offsetAt(zone, day);
    if (after === before) continue;
    // The change lies in (day - 1 d, day]: halve to the minute it takes effect.
    let low = day - DAY_MS;
    let high = day;
    while (high - low > MINUTE_MS) {
      const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
      if (offsetAt(zone, middle) === before) low = middle;
      else high = middle;
    }
    changes.push({ at: high, from: before, to: after });
    before = after;
  }
  return changes;
}
