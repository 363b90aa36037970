import { describe, expect, it } from 'vitest';
import { escapeText, foldLine, vtimezone, writeCalendar } from '../../src/modules/calendar/calendar.ics.js';
import { type Component, children, instantOf, parseIcs, unescapeText, unfold, value } from './helpers.js';

const zoneComponent = (zone: string, from: string, to: string): Component =>
  parseIcs(
    `${['BEGIN:VCALENDAR', ...vtimezone(zone, Date.parse(from), Date.parse(to)), 'END:VCALENDAR'].join('\r\n')}\r\n`,
  ).components[0] as Component;

describe('the iCalendar writer (small tier)', () => {
  it('folds at 75 octets and never inside a character, whatever falls on the boundary', () => {
    for (const filler of ['', 'a', 'ab', 'abc']) {
      const line = `SUMMARY:${filler}${'🙂é漢'.repeat(40)}`;
      const folded = foldLine(line);
      expect(folded.endsWith('\r\n')).toBe(true);
      const physical = folded.slice(0, -2).split('\r\n');
      for (const [index, part] of physical.entries()) {
        expect(Buffer.byteLength(part, 'utf8')).toBeLessThanOrEqual(75);
        if (index > 0) expect(part.startsWith(' ')).toBe(true);
        // Each piece is whole UTF-8: no lone surrogate halves, no replacement characters.
        expect(Buffer.from(part, 'utf8').toString('utf8')).toBe(part);
        expect(part).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      }
      expect(unfold(folded)[0]).toBe(line);
    }
    expect(foldLine('A'.repeat(75))).toBe(`${'A'.repeat(75)}\r\n`);
    expect(foldLine('A'.repeat(76))).toBe(`${'A'.repeat(75)}\r\n A\r\n`);
  });

  it('escapes TEXT: backslash, semicolon, comma, line breaks; drops other control characters', () => {
    const text = 'a\\b;c,d\ne\r\nf\rg\u0000h\ti';
    expect(escapeText(text)).toBe('a\\\\b\\;c\\,d\\ne\\nf\\ng' + 'h\ti');
    expect(unescapeText(escapeText('x; y, z \\ w\nv'))).toBe('x; y, z \\ w\nv');
  });

  it("follows a southern-hemisphere zone's changes (Australia/Sydney: DST from October to April)", () => {
    const zone = zoneComponent('Australia/Sydney', '2027-02-01T00:00:00Z', '2027-12-31T00:00:00Z');
    const observances = zone.components.map((o) => [o.name, value(o, 'DTSTART'), value(o, 'TZOFFSETTO')]);
    expect(observances).toEqual([
      ['DAYLIGHT', '20270201T110000', '+1100'],
      ['STANDARD', '20270404T030000', '+1000'],
      ['DAYLIGHT', '20271003T020000', '+1100'],
    ]);
    expect(instantOf(zone, '20270601T090000').toISOString()).toBe('2027-05-31T23:00:00.000Z');
    expect(instantOf(zone, '20271201T090000').toISOString()).toBe('2027-11-30T22:00:00.000Z');
  });

  it('writes one VTIMEZONE per zone used, covering an event that ends past the window', () => {
    const window = { from: new Date('2027-01-01T00:00:00Z'), to: new Date('2027-03-01T00:00:00Z') };
    const event = (uid: string, zone: string, start: string, hours: number) => ({
      uid,
      sequence: 0,
      status: 'CONFIRMED' as const,
      start: new Date(start),
      end: new Date(Date.parse(start) + hours * 3_600_000),
      timeZone: zone,
      stamp: new Date('2026-12-01T00:00:00Z'),
      created: new Date('2026-12-01T00:00:00Z'),
      summary: 'Visit',
    });
    const calendar = parseIcs(
      writeCalendar({
        prodId: '-//Test//EN',
        name: 'Test',
        window,
        events: [
          event('a', 'Europe/London', '2027-02-27T10:00:00Z', 2),
          event('b', 'Europe/London', '2027-02-28T10:00:00Z', 24 * 40),
          event('c', 'Africa/Nairobi', '2027-02-01T07:00:00Z', 1),
        ],
      }),
    );
    const zones = children(calendar, 'VTIMEZONE');
    expect(zones.map((z) => value(z, 'TZID'))).toEqual(['Africa/Nairobi', 'Europe/London']);
    const london = zones[1] as Component;
    // The 40-day visit ends in April, after the clocks went forward: its end is read as BST.
    const b = children(calendar, 'VEVENT').find((e) => value(e, 'UID') === 'b') as Component;
    expect(value(b, 'DTEND')).toBe('20270409T110000');
    expect(instantOf(london, '20270409T110000').toISOString()).toBe('2027-04-09T10:00:00.000Z');
  });
});
