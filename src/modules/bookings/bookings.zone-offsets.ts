/**
 * A time zone's UTC offsets over a range, so that turning the provider's local times into
 * instants is arithmetic: slot generation asked Intl (src/shared/zoned-time.ts) several times
 * for every open interval of every day, which was most of the cost of a 60-day slot list.
 * Intl is asked once per UTC day boundary, and about ten times more on a day whose offset
 * changes (to find the minute it does); those answers are kept for the life of the process,
 * since the offset a zone has at an instant never changes. Like zonedTimeToUtc, this assumes a
 * zone changes its offset at most once within a day, which holds for every zone in tzdb.
 */
import { offsetAt, offsetChanges } from '../../shared/zoned-time.js';

const DAY_MS = 86_400_000;

/** From `from` (an instant) until the next segment's `from`, local time is UTC + `offsetMs`. */
interface Segment {
  from: number;
  offsetMs: number;
}

/** Local times in the zone, as "wall clock read as UTC" milliseconds (Date.UTC of the local date and time). */
export interface ZoneOffsets {
  /**
   * The instant at which the wall clock first shows `localMs` (the first of two when the clocks
   * go back); undefined when the clocks skip it (going forward).
   */
  instantOf(localMs: number): number | undefined;
  /** As instantOf, but a skipped local time gives the moment the clocks jump past it. */
  instantAtOrAfter(localMs: number): number;
  /** The local calendar day (Date.UTC of its midnight) of an instant. */
  localDayOf(instantMs: number): number;
}

/** The zone's offsets for instants in [fromMs, untilMs]. */
export function zoneOffsets(zone: string, fromMs: number, untilMs: number): ZoneOffsets {
  const firstDay = Math.floor(fromMs / DAY_MS) * DAY_MS;
  const segments: Segment[] = [
    { from: Number.NEGATIVE_INFINITY, offsetMs: offsetAt(zone, firstDay) },
    ...offsetChanges(zone, fromMs, untilMs).map((change) => ({ from: change.at, offsetMs: change.to })),
  ];
  const untilOf = (index: number) => segments[index + 1]?.from ?? Number.POSITIVE_INFINITY;

  const instantOf = (localMs: number): number | undefined => {
    // The earliest instant that reads `localMs` under the offset then in force.
    for (let i = 0; i < segments.length; i++) {
      const instant = localMs - (segments[i] as Segment).offsetMs;
      if (instant >= (segments[i] as Segment).from && instant < untilOf(i)) return instant;
    }
    return undefined;
  };

  return {
    instantOf,
    instantAtOrAfter(localMs) {
      const instant = instantOf(localMs);
      if (instant !== undefined) return instant;
      // In a gap: the change whose old offset puts localMs after it and whose new one before it.
      for (let i = 1; i < segments.length; i++) {
        const change = (segments[i] as Segment).from;
        if (
          localMs - (segments[i - 1] as Segment).offsetMs >= change &&
          localMs - (segments[i] as Segment).offsetMs < change
        ) {
          return change;
        }
      }
      throw new Error(`no instant for local time ${new Date(localMs).toISOString()} in ${zone}`);
    },
    localDayOf(instantMs) {
      let offset = (segments[0] as Segment).offsetMs;
      for (const segment of segments) if (segment.from <= instantMs) offset = segment.offsetMs;
      return Math.floor((instantMs + offset) / DAY_MS) * DAY_MS;
    },
  };
}
