/**
 * Quiet hours in a person's own time zone. Wall-clock times are converted with Intl, so windows
 * that cross midnight and days when the clocks change (DST) land on the right instant.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export const HH_MM = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Minutes after midnight of "HH:MM". */
export function minutesOf(hhmm: string): number {
  const match = HH_MM.exec(hhmm);
  if (!match) throw new Error(`not a HH:MM time: "${hhmm}"`);
  return Number(match[1]) * 60 + Number(match[2]);
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

interface WallTime {
  year: number;
  month: number;
  day: number;
  minutes: number;
}

function wallTime(instantMs: number, timeZone: string): WallTime {
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

/**
 * When the quiet period `now` falls in ends, or undefined when `now` is not quiet. `start` equal
 * to `end` means no quiet hours; `start` after `end` is a window across midnight (21:00–08:00).
 */
export function quietUntil(now: Date, window: { start: string; end: string }, timeZone: string): Date | undefined {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start === end) return undefined;
  const wall = wallTime(now.getTime(), timeZone);
  const quiet = start < end ? wall.minutes >= start && wall.minutes < end : wall.minutes >= start || wall.minutes < end;
  if (!quiet) return undefined;
  // Across midnight and already past the start: the period ends tomorrow.
  const endsTomorrow = start > end && wall.minutes >= start;
  const day = new Date(Date.UTC(wall.year, wall.month - 1, wall.day + (endsTomorrow ? 1 : 0)));
  const until = zonedTimeToUtc(
    { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate() },
    end,
    timeZone,
  );
  // Cannot happen for real zones; a minute's wait beats a busy loop if it ever did.
  return until > now ? until : new Date(now.getTime() + MINUTE_MS);
}
