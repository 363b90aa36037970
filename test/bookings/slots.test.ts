import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Busy,
  openIntervals,
  openStartTimes,
  SLOT_GRID_MINUTES,
} from '../../src/modules/bookings/bookings.slots.js';
import { startsIn, toRuns } from '../../src/modules/bookings/bookings.slots-cache.js';
import { freeSlots, isFreeSlot, type Schedule, scheduleProblems } from '../../src/modules/bookings/index.js';
import { wallTime, zonedTimeToUtc } from '../../src/shared/zoned-time.js';

const HOUR = 3_600_000;
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

const london: Schedule = {
  time_zone: 'Europe/London',
  weekly: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day_of_week: day, start: '09:00', end: '11:00' })),
  breaks: [],
  exceptions: [],
};

describe('free slots', () => {
  it('keeps 09:00 local across the spring change (GMT → BST on 28 March 2027)', () => {
    const slots = freeSlots({
      schedule: london,
      from: new Date('2027-03-27T00:00:00Z'),
      to: new Date('2027-03-29T00:00:00Z'),
      now: new Date('2027-03-20T00:00:00Z'),
      durationMinutes: 60,
      bufferMinutes: 0,
      busy: [],
    });
    expect(iso(slots).filter((s) => s.endsWith(':00:00.000Z'))).toEqual([
      '2027-03-27T09:00:00.000Z',
      '2027-03-27T10:00:00.000Z',
      '2027-03-28T08:00:00.000Z',
      '2027-03-28T09:00:00.000Z',
    ]);
    // 15-minute grid: 09:00, 09:15, 09:30, 09:45, 10:00 for a 60-minute visit in 09:00–11:00.
    expect(slots.filter((s) => s.toISOString().startsWith('2027-03-28'))).toHaveLength(5);
  });

  it('offers no slot inside the gap and one per wall time when clocks go back', () => {
    const night: Schedule = {
      time_zone: 'Europe/London',
      weekly: [7].map((day) => ({ day_of_week: day, start: '00:30', end: '02:30' })),
      breaks: [],
      exceptions: [],
    };
    const spring = freeSlots({
      schedule: night,
      from: new Date('2027-03-28T00:00:00Z'),
      to: new Date('2027-03-29T00:00:00Z'),
      now: new Date('2027-03-01T00:00:00Z'),
      durationMinutes: 15,
      bufferMinutes: 0,
      busy: [],
    });
    // 00:30–01:00 GMT, then the clock jumps to 02:00 BST (01:00Z) and 02:00–02:30 BST.
    expect(iso(spring)).toEqual([
      '2027-03-28T00:30:00.000Z',
      '2027-03-28T00:45:00.000Z',
      '2027-03-28T01:00:00.000Z',
      '2027-03-28T01:15:00.000Z',
    ]);
    const autumn = freeSlots({
      schedule: night,
      from: new Date('2027-10-31T00:00:00Z'),
      to: new Date('2027-11-01T00:00:00Z'),
      now: new Date('2027-10-01T00:00:00Z'),
      durationMinutes: 15,
      bufferMinutes: 0,
      busy: [],
    });
    // 01:00–01:59 happens twice (BST, then GMT): offered once, at the first; 02:00 is GMT.
    expect(iso(autumn)).toEqual([
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T00:15:00.000Z',
      '2027-10-31T00:30:00.000Z',
      '2027-10-31T00:45:00.000Z',
      '2027-10-31T02:00:00.000Z',
      '2027-10-31T02:15:00.000Z',
    ]);
  });

  it('takes out breaks, closed days, busy blocks (visit + buffer), the notice and the horizon', () => {
    const schedule: Schedule = {
      time_zone: 'UTC',
      weekly: [{ day_of_week: 1, start: '09:00', end: '13:00' }],
      breaks: [{ day_of_week: 1, start: '10:00', end: '11:00' }],
      exceptions: [{ date: '2027-03-29', closed: true }],
    };
    const base = {
      schedule,
      now: new Date('2027-03-22T06:00:00Z'),
      durationMinutes: 30,
      bufferMinutes: 15,
      from: new Date('2027-03-22T00:00:00Z'),
      to: new Date('2027-03-30T00:00:00Z'),
    };
    const free = iso(
      freeSlots({
        ...base,
        busy: [{ from: Date.parse('2027-03-22T11:30:00Z'), until: Date.parse('2027-03-22T12:15:00Z') }],
      }),
    );
    expect(free).toEqual([
      '2027-03-22T09:00:00.000Z',
      '2027-03-22T09:15:00.000Z',
      '2027-03-22T09:30:00.000Z',
      // 11:00 + 45 min block would reach 11:45 > 11:30 busy start; 11:15 likewise.
      '2027-03-22T12:15:00.000Z',
      '2027-03-22T12:30:00.000Z',
    ]);
    // Notice: at 08:00 with 2 h notice the first slot is 11:00 (break until then).
    expect(freeSlots({ ...base, now: new Date('2027-03-22T08:00:00Z'), busy: [] })[0]?.toISOString()).toBe(
      '2027-03-22T11:00:00.000Z',
    );
    // Horizon: nothing beyond 60 days.
    expect(
      freeSlots({ ...base, from: new Date('2027-06-21T00:00:00Z'), to: new Date('2027-06-22T00:00:00Z'), busy: [] }),
    ).toEqual([]);
    expect(isFreeSlot({ ...base, busy: [] }, new Date('2027-03-22T09:15:00Z'))).toBe(true);
    expect(isFreeSlot({ ...base, busy: [] }, new Date('2027-03-22T09:10:00Z'))).toBe(false);
    expect(isFreeSlot({ ...base, busy: [] }, new Date('2027-03-22T10:15:00Z'))).toBe(false);
  });

  it('computes 60 days in memory quickly', () => {
    const started = performance.now();
    const slots = freeSlots({
      schedule: { ...london, weekly: london.weekly.map((w) => ({ ...w, start: '08:00', end: '20:00' })) },
      from: new Date('2027-01-01T00:00:00Z'),
      to: new Date(Date.parse('2027-01-01T00:00:00Z') + 60 * 24 * HOUR),
      now: new Date('2026-12-31T12:00:00Z'),
      durationMinutes: 30,
      bufferMinutes: 10,
      busy: [],
    });
    expect(slots.length).toBeGreaterThan(2500);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

/**
 * Open start times the plain way: every slot's local time through Intl (zonedTimeToUtc), as slot
 * generation did before it worked from a zone's offsets per day.
 */
function referenceStarts(query: Parameters<typeof openStartTimes>[0]): number[] {
  const { schedule, from, to, durationMinutes } = query;
  const zone = schedule.time_zone;
  const blockMs = (durationMinutes + query.bufferMinutes) * 60_000;
  const starts = new Set<number>();
  const first = wallTime(from - 86_400_000, zone);
  const last = wallTime(to + 86_400_000, zone);
  for (let day = Date.UTC(first.year, first.month - 1, first.day); ; day += 86_400_000) {
    const d = new Date(day);
    const date = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
    for (const [openStart, openEnd] of openIntervals(schedule, date)) {
      const openUntil = zonedTimeToUtc(date, openEnd, zone).getTime();
      for (
        let m = Math.ceil(openStart / SLOT_GRID_MINUTES) * SLOT_GRID_MINUTES;
        m + durationMinutes <= openEnd;
        m += SLOT_GRID_MINUTES
      ) {
        const start = zonedTimeToUtc(date, m, zone).getTime();
        if (wallTime(start, zone).minutes !== m) continue; // skipped by the clocks
        if (start < from || start >= to || start + durationMinutes * 60_000 > openUntil) continue;
        if (query.busy.some((b) => b.from < start + blockMs && b.until > start)) continue;
        starts.add(start);
      }
    }
    if (date.year === last.year && date.month === last.month && date.day === last.day) break;
  }
  return [...starts].sort((a, b) => a - b);
}

describe('open start times from a zone’s offsets', () => {
  // Zones with DST (45-, 30- and 60-minute offsets), changes at midnight, a Ramadan pause, none.
  const ZONES = [
    'Europe/London',
    'America/New_York',
    'America/St_Johns',
    'America/Santiago',
    'America/Havana',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
    'Africa/Casablanca',
    'Asia/Kolkata',
    'UTC',
  ];
  const hhmm = (minutes: number) =>
    `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  /** Midnights (UTC) of the days in 2026–2027 on which the zone's offset changes. */
  const changeDays = (zone: string) => {
    const offset = (t: number) => {
      const wall = wallTime(t, zone);
      return Date.UTC(wall.year, wall.month - 1, wall.day, 0, wall.minutes) - t;
    };
    const days: number[] = [];
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2028, 0, 1); t += 86_400_000) {
      if (offset(t) !== offset(t + 86_400_000)) days.push(t);
    }
    return days;
  };
  const CHANGES = new Map(ZONES.map((zone) => [zone, changeDays(zone)]));
  // Ranges around one of the zone's offset changes (a zone without any: anywhere in 2026–2027).
  const zoneAndRange = fc
    .constantFrom(...ZONES)
    .chain((zone) => {
      const days = CHANGES.get(zone) as number[];
      const day =
        days.length > 0
          ? fc.constantFrom(...days)
          : fc.integer({ min: 0, max: 700 }).map((n) => Date.UTC(2026, 0, 1) + n * 86_400_000);
      return fc.tuple(fc.constant(zone), day, fc.integer({ min: -3, max: 1 }), fc.integer({ min: 0, max: 95 }));
    })
    .map(([zone, day, daysBefore, quarter]) => ({ zone, from: day + daysBefore * 86_400_000 + quarter * 15 * 60_000 }));
  // Half the intervals in the small hours, where clocks change.
  const interval = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 287 }), fc.integer({ min: 1, max: 96 }))
      .map(([start, length]) => [start * 5, Math.min(1440, start * 5 + length * 15)] as const),
    fc
      .tuple(fc.integer({ min: 0, max: 48 }), fc.integer({ min: 1, max: 16 }))
      .map(([start, length]) => [start * 5, start * 5 + length * 15] as const),
  );
  const schedule = fc.record({
    days: fc.array(fc.tuple(fc.integer({ min: 1, max: 7 }), interval), { minLength: 1, maxLength: 8 }),
    breaks: fc.array(fc.tuple(fc.integer({ min: 1, max: 7 }), interval), { maxLength: 3 }),
  });

  it('gives exactly the starts of per-slot conversion, across DST changes in many zones', () => {
    fc.assert(
      fc.property(
        schedule,
        zoneAndRange,
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(15, 30, 45, 60, 90, 120),
        fc.constantFrom(0, 10, 15),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 7 * 96 }), fc.integer({ min: 1, max: 12 })), { maxLength: 6 }),
        (shape, { zone, from }, days, durationMinutes, bufferMinutes, blocks) => {
          // Weekly intervals of a day must not overlap: keep each day's first.
          const seen = new Set<number>();
          const weekly = shape.days
            .filter(([day]) => !seen.has(day) && seen.add(day))
            .map(([day, [start, end]]) => ({ day_of_week: day, start: hhmm(start), end: hhmm(end) }));
          const sched: Schedule = {
            time_zone: zone,
            weekly,
            breaks: shape.breaks.map(([day, [start, end]]) => ({
              day_of_week: day,
              start: hhmm(start),
              end: hhmm(end),
            })),
            exceptions: [],
          };
          // Disjoint busy blocks, as the exclusion constraint keeps them.
          const busy: Busy[] = [];
          let free = from;
          for (const [offset, length] of [...blocks].sort((a, b) => a[0] - b[0])) {
            const start = Math.max(free, from + offset * 15 * 60_000);
            busy.push({ from: start, until: start + length * 15 * 60_000 });
            free = start + length * 15 * 60_000;
          }
          const query = { schedule: sched, from, to: from + days * 86_400_000, durationMinutes, bufferMinutes, busy };
          expect(openStartTimes(query)).toEqual(referenceStarts(query));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps them as runs of grid steps, and cuts the runs to any range', () => {
    const query = {
      schedule: london,
      from: Date.parse('2027-03-20T00:00:00Z'),
      to: Date.parse('2027-04-05T00:00:00Z'),
      durationMinutes: 30,
      bufferMinutes: 0,
      busy: [{ from: Date.parse('2027-03-29T09:30:00Z'), until: Date.parse('2027-03-29T09:45:00Z') }],
    };
    const starts = openStartTimes(query);
    const window = { service_id: 's', time_zone: 'Europe/London', duration_minutes: 30, runs: toRuns(starts) };
    expect(window.runs.length).toBeLessThan(starts.length / 3);
    const all = starts.map((start) => new Date(start).toISOString());
    expect(startsIn(window, query.from, query.to)).toEqual(all);
    fc.assert(
      fc.property(
        fc.integer({ min: query.from, max: query.to }),
        fc.integer({ min: 0, max: 20 * 86_400_000 }),
        (a, length) => {
          expect(startsIn(window, a, a + length)).toEqual(
            all.filter((s) => Date.parse(s) >= a && Date.parse(s) < a + length),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('schedule validation', () => {
  it('names bad zones, reversed intervals, overlaps and repeated dates', () => {
    const problems = scheduleProblems({
      time_zone: 'Mars/Olympus',
      weekly: [
        { day_of_week: 1, start: '09:00', end: '12:00' },
        { day_of_week: 1, start: '11:00', end: '13:00' },
        { day_of_week: 2, start: '14:00', end: '10:00' },
      ],
      breaks: [],
      exceptions: [
        { date: '2027-01-01', closed: true },
        { date: '2027-01-01', start: '10:00', end: '11:00' },
      ],
    });
    expect(problems.map((p) => p.field)).toEqual([
      'body.time_zone',
      'body.weekly.2',
      'body.weekly.1',
      'body.exceptions.1',
    ]);
    expect(scheduleProblems(london)).toEqual([]);
  });
});
