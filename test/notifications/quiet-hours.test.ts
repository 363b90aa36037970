import { describe, expect, it } from 'vitest';
import { quietUntil } from '../../src/modules/notifications/index.js';
import { zonedTimeToUtc } from '../../src/shared/zoned-time.js';

const at = (iso: string) => new Date(iso);
const night = { start: '21:00', end: '08:00' };

describe('quiet hours', () => {
  it('a window across midnight: quiet from its start to the end the next morning', () => {
    expect(quietUntil(at('2026-11-23T20:59:00Z'), night, 'UTC')).toBeUndefined();
    expect(quietUntil(at('2026-11-23T21:00:00Z'), night, 'UTC')?.toISOString()).toBe('2026-11-24T08:00:00.000Z');
    expect(quietUntil(at('2026-11-24T03:00:00Z'), night, 'UTC')?.toISOString()).toBe('2026-11-24T08:00:00.000Z');
    expect(quietUntil(at('2026-11-24T08:00:00Z'), night, 'UTC')).toBeUndefined();
  });

  it('a window within one day, and no quiet hours when start equals end', () => {
    const lunch = { start: '12:00', end: '14:30' };
    expect(quietUntil(at('2026-11-23T11:59:00Z'), lunch, 'UTC')).toBeUndefined();
    expect(quietUntil(at('2026-11-23T13:00:00Z'), lunch, 'UTC')?.toISOString()).toBe('2026-11-23T14:30:00.000Z');
    expect(quietUntil(at('2026-11-23T14:30:00Z'), lunch, 'UTC')).toBeUndefined();
    expect(quietUntil(at('2026-11-23T03:00:00Z'), { start: '08:00', end: '08:00' }, 'UTC')).toBeUndefined();
  });

  it('uses the wall clock of the recipient’s zone, including half-hour offsets and the date line', () => {
    // 21:30 in Kolkata (UTC+5:30) is 16:00 UTC; 08:00 there is 02:30 UTC.
    expect(quietUntil(at('2026-11-23T16:00:00Z'), night, 'Asia/Kolkata')?.toISOString()).toBe(
      '2026-11-24T02:30:00.000Z',
    );
    // 09:00 UTC is 22:00 in Auckland (NZDT, UTC+13): quiet until 08:00 there, 19:00 UTC.
    expect(quietUntil(at('2026-11-23T09:00:00Z'), night, 'Pacific/Auckland')?.toISOString()).toBe(
      '2026-11-23T19:00:00.000Z',
    );
  });

  it('Europe/London, clocks going forward (29 March 2026): the night is an hour shorter', () => {
    expect(quietUntil(at('2026-03-28T21:00:00Z'), night, 'Europe/London')?.toISOString()).toBe(
      '2026-03-29T07:00:00.000Z',
    );
    // After the change: 00:30 UTC is 00:30 GMT, 02:30 UTC is 03:30 BST.
    expect(quietUntil(at('2026-03-29T02:30:00Z'), night, 'Europe/London')?.toISOString()).toBe(
      '2026-03-29T07:00:00.000Z',
    );
    expect(quietUntil(at('2026-03-29T07:00:00Z'), night, 'Europe/London')).toBeUndefined();
  });

  it('Europe/London, clocks going back (25 October 2026): the night is an hour longer', () => {
    expect(quietUntil(at('2026-10-24T20:00:00Z'), night, 'Europe/London')?.toISOString()).toBe(
      '2026-10-25T08:00:00.000Z',
    );
    expect(quietUntil(at('2026-10-25T07:30:00Z'), night, 'Europe/London')?.toISOString()).toBe(
      '2026-10-25T08:00:00.000Z',
    );
  });

  it('a window ending in the skipped hour ends when the clocks jump; one in the repeated hour ends the first time', () => {
    // 01:30 does not exist in London on 29 March 2026: the clocks jump from 01:00 GMT to 02:00 BST.
    expect(zonedTimeToUtc({ year: 2026, month: 3, day: 29 }, 90, 'Europe/London').toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    expect(
      quietUntil(at('2026-03-29T00:10:00Z'), { start: '00:00', end: '01:30' }, 'Europe/London')?.toISOString(),
    ).toBe('2026-03-29T01:00:00.000Z');
    // 01:30 happens twice on 25 October 2026 (BST, then GMT): the first one.
    expect(zonedTimeToUtc({ year: 2026, month: 10, day: 25 }, 90, 'Europe/London').toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    // America/New_York, 8 March 2026: 02:30 is skipped (02:00 EST → 03:00 EDT, 07:00 UTC).
    expect(zonedTimeToUtc({ year: 2026, month: 3, day: 8 }, 150, 'America/New_York').toISOString()).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });
});
