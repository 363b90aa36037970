/**
 * Quiet hours in a person's own time zone. Wall-clock times are converted with Intl, so windows
 * that cross midnight and days when the clocks change (DST) land on the right instant.
 */

import { wallTime, zonedTimeToUtc } from '../../shared/zoned-time.js';

const MINUTE_MS = 60_000;

export const HH_MM = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/** Minutes after midnight of "HH:MM". */
export function minutesOf(hhmm: string): number {
  const match = HH_MM.exec(hhmm);
  if (!match) throw new Error(`not a HH:MM time: "${hhmm}"`);
  return Number(match[1]) * 60 + Number(match[2]);
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
