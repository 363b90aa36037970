import { describe, expect, it } from 'vitest';
import { freeSlots, isFreeSlot, type Schedule, scheduleProblems } from '../../src/modules/bookings/index.js';

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
