/**
 * An iCalendar (RFC 5545) writer for booking feeds: CRLF lines folded at 75 octets without
 * splitting a character, TEXT values escaped, and a VTIMEZONE for every zone an event's local
 * times are in, its observances read from the zone's actual offset changes through Intl (no tz
 * database file is shipped: the runtime's ICU data is the source, as for slot times).
 */
import { offsetAt, offsetChanges, wallTime } from '../../shared/zoned-time.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break. */
const LINE_OCTETS = 75;

export type IcsStatus = 'CONFIRMED' | 'TENTATIVE' | 'CANCELLED';

export interface IcsEvent {
  /** Globally unique and stable for the life of the event (a booking keeps its UID when it moves). */
  uid: string;
  /** Grows whenever the event changes, so subscribed calendars take the new version. */
  sequence: number;
  status: IcsStatus;
  start: Date;
  end: Date;
  /** The IANA zone DTSTART and DTEND are written in (local time with TZID). */
  timeZone: string;
  /** When this version of the event was made (UTC). */
  stamp: Date;
  created: Date;
  summary: string;
  description?: string;
  location?: string | null;
  url?: string;
}

export interface IcsCalendar {
  prodId: string;
  name: string;
  /** The zone a client shows the calendar in by default (X-WR-TIMEZONE), if any. */
  timeZone?: string;
  /** The time the events were chosen from: every VTIMEZONE covers it. */
  window: { from: Date; to: Date };
  events: IcsEvent[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: TEXT may hold no control character but HTAB (§3.3.11).
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** TEXT escaping (§3.3.11): backslash, semicolon, comma and line breaks; other control characters dropped. */
export function escapeText(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n')
    .replace(CONTROL, '');
}

/**
 * One content line folded (§3.1): at most 75 octets per physical line, continuation lines
 * starting with a space; a break never falls inside a UTF-8 sequence (whole code points are
 * moved), and each physical line ends with CRLF.
 */
export function foldLine(line: string): string {
  if (Buffer.byteLength(line, 'utf8') <= LINE_OCTETS) return `${line}\r\n`;
  let out = '';
  let current = '';
  let octets = 0;
  // The first line has 75 octets; a continuation line 74 after its leading space.
  let budget = LINE_OCTETS;
  for (const char of line) {
    const size = Buffer.byteLength(char, 'utf8');
    if (octets + size > budget) {
      out += `${current}\r\n`;
      current = ' ';
      octets = 1;
      budget = LINE_OCTETS;
    }
    current += char;
    octets += size;
  }
  return `${out}${current}\r\n`;
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** A UTC DATE-TIME: 20270322T100000Z. */
export function utcStamp(date: Date): string {
  return `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T${pad(date.getUTCHours())}${pad(
    date.getUTCMinutes(),
  )}${pad(date.getUTCSeconds())}Z`;
}

/** A local DATE-TIME of "wall clock read as UTC" milliseconds: 20270322T100000. */
const floating = (localMs: number) => utcStamp(new Date(localMs)).slice(0, -1);

/** The instant's local time in the zone (whole minutes; zones' offsets have no seconds today). */
export function localStamp(instant: Date, timeZone: string): string {
  const ms = instant.getTime();
  const wall = wallTime(ms, timeZone);
  const seconds = Math.floor((((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS) / 1000);
  return floating(Date.UTC(wall.year, wall.month - 1, wall.day, 0, wall.minutes) + seconds * 1000);
}

/** ±HHMM (§3.3.14 UTC-OFFSET). */
function utcOffset(offsetMs: number): string {
  const minutes = Math.round(Math.abs(offsetMs) / MINUTE_MS);
  return `${offsetMs < 0 ? '-' : '+'}${pad(Math.floor(minutes / 60))}${pad(minutes % 60)}`;
}

const abbreviations = new Map<string, Intl.DateTimeFormat[]>();

/** The zone's abbreviation at an instant (GMT, BST, EST) when the runtime knows one; never "GMT+3". */
function abbreviationAt(zone: string, instantMs: number): string | undefined {
  let formats = abbreviations.get(zone);
  if (!formats) {
    formats = ['en-US', 'en-GB'].map(
      (locale) => new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' }),
    );
    abbreviations.set(zone, formats);
  }
  for (const format of formats) {
    const name = format.formatToParts(new Date(instantMs)).find((part) => part.type === 'timeZoneName')?.value;
    if (name && /^[A-Z]{3,5}$/.test(name)) return name;
  }
  return undefined;
}

/** One STANDARD or DAYLIGHT observance: from `at` on, local time is UTC + `to`. */
interface Observance {
  kind: 'STANDARD' | 'DAYLIGHT';
  at: number;
  from: number;
  to: number;
  name: string | undefined;
}

/**
 * Daylight time is an offset the zone leaves again within the year: higher than some offset of
 * the next twelve months. A lasting change of a zone's offset (or a zone without DST) is STANDARD.
 */
function kindAt(zone: string, instantMs: number, offsetMs: number): Observance['kind'] {
  const later = [91, 182, 273].map((days) => offsetAt(zone, instantMs + days * DAY_MS));
  return offsetMs > Math.min(...later) ? 'DAYLIGHT' : 'STANDARD';
}

// "<zone> <first day> <last day>" → its observances; feeds ask for the same few zones and days.
const observanceMemo = new Map<string, Observance[]>();
const MEMO_LIMIT = 1000;

/**
 * The zone's offset changes in [fromMs, untilMs] (offsetChanges). The first observance holds from
 * `fromMs` (the offset then, unchanged), so every local time in the range has one.
 */
export function observancesOf(zone: string, fromMs: number, untilMs: number): Observance[] {
  const firstDay = Math.floor(fromMs / DAY_MS) * DAY_MS;
  const lastDay = Math.ceil(untilMs / DAY_MS) * DAY_MS;
  const key = `${zone} ${firstDay} ${lastDay}`;
  const known = observanceMemo.get(key);
  if (known) return known;
  const initial = offsetAt(zone, firstDay);
  const observances: Observance[] = [
    {
      kind: kindAt(zone, firstDay, initial),
      at: firstDay,
      from: initial,
      to: initial,
      name: abbreviationAt(zone, firstDay),
    },
    ...offsetChanges(zone, fromMs, untilMs).map(({ at, from, to }) => ({
      kind: kindAt(zone, at, to),
      at,
      from,
      to,
      name: abbreviationAt(zone, at),
    })),
  ];
  if (observanceMemo.size >= MEMO_LIMIT) observanceMemo.clear();
  observanceMemo.set(key, observances);
  return observances;
}

/** A VTIMEZONE covering [fromMs, untilMs]: one observance per actual change, each with its own DTSTART. */
export function vtimezone(zone: string, fromMs: number, untilMs: number): string[] {
  const lines = ['BEGIN:VTIMEZONE', `TZID:${zone}`, `X-LIC-LOCATION:${zone}`];
  for (const observance of observancesOf(zone, fromMs, untilMs)) {
    lines.push(
      `BEGIN:${observance.kind}`,
      // The local time the change happens at, read on the clock before it (§3.6.5).
      `DTSTART:${floating(observance.at + observance.from)}`,
      `TZOFFSETFROM:${utcOffset(observance.from)}`,
      `TZOFFSETTO:${utcOffset(observance.to)}`,
      ...(observance.name ? [`TZNAME:${observance.name}`] : []),
      `END:${observance.kind}`,
    );
  }
  lines.push('END:VTIMEZONE');
  return lines;
}

/** The whole VCALENDAR, CRLF-terminated and folded. */
export function writeCalendar(calendar: IcsCalendar): string {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    `PRODID:${calendar.prodId}`,
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    `X-WR-CALNAME:${escapeText(calendar.name)}`,
    ...(calendar.timeZone ? [`X-WR-TIMEZONE:${calendar.timeZone}`] : []),
    // How often subscribed clients should fetch the feed again (RFC 7986, and Outlook's own name).
    'REFRESH-INTERVAL;VALUE=DURATION:PT1H',
    'X-PUBLISHED-TTL:PT1H',
  ];
  // Each zone's observances cover the window and every event's end (an event may end past it).
  const zones = new Map<string, number>();
  if (calendar.timeZone) zones.set(calendar.timeZone, calendar.window.to.getTime());
  for (const event of calendar.events) {
    zones.set(
      event.timeZone,
      Math.max(zones.get(event.timeZone) ?? 0, event.end.getTime(), calendar.window.to.getTime()),
    );
  }
  const from = Math.min(calendar.window.from.getTime(), ...calendar.events.map((event) => event.start.getTime()));
  for (const [zone, until] of [...zones].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(...vtimezone(zone, from - DAY_MS, until + DAY_MS));
  }
  for (const event of calendar.events) {
    lines.push(
      'BEGIN:VEVENT',
      `UID:${event.uid}`,
      `DTSTAMP:${utcStamp(event.stamp)}`,
      `CREATED:${utcStamp(event.created)}`,
      `LAST-MODIFIED:${utcStamp(event.stamp)}`,
      `SEQUENCE:${event.sequence}`,
      `DTSTART;TZID=${event.timeZone}:${localStamp(event.start, event.timeZone)}`,
      `DTEND;TZID=${event.timeZone}:${localStamp(event.end, event.timeZone)}`,
      `STATUS:${event.status}`,
      `SUMMARY:${escapeText(event.summary)}`,
      ...(event.location ? [`LOCATION:${escapeText(event.location)}`] : []),
      ...(event.description ? [`DESCRIPTION:${escapeText(event.description)}`] : []),
      ...(event.url ? [`URL:${event.url}`] : []),
      // A cancelled visit no longer takes the person's time.
      `TRANSP:${event.status === 'CANCELLED' ? 'TRANSPARENT' : 'OPAQUE'}`,
      'END:VEVENT',
    );
  }
  lines.push('END:VCALENDAR');
  return lines.map(foldLine).join('');
}
