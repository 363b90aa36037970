import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import ICAL from 'ical.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  START,
  setUpBookings,
  type TestProvider,
  WEEKDAY_SCHEDULE,
} from '../bookings/helpers.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { type Component, children, instantOf, parseIcs, unescapeText, unfold, value } from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});
afterAll(() => f?.close());
beforeEach(() => f.clock.set(START));

const LONDON = 'Europe/London';
const NAIROBI = 'Africa/Nairobi';

/** The feed's body, checked for what every feed must be; its VCALENDAR parsed. */
function ics(response: LightMyRequestResponse): { body: string; calendar: Component } {
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toBe('text/calendar; charset=utf-8');
  const body = response.body;
  // Every line ends in CRLF: no bare LF or CR anywhere.
  expect(body.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  // No physical line is longer than 75 octets, and a fold never splits a character.
  for (const line of body.split('\r\n')) expect(Buffer.byteLength(line, 'utf8')).toBeLessThanOrEqual(75);
  expect(Buffer.from(body, 'utf8').toString('utf8')).toBe(body);
  expect(body).not.toContain('\uFFFD');
  return { body, calendar: parseIcs(body) };
}

const events = (calendar: Component) => children(calendar, 'VEVENT');
const eventOf = (calendar: Component, bookingId: string) =>
  events(calendar).find((event) => value(event, 'UID') === `${bookingId}@care-platform`);
const zoneOf = (calendar: Component, tzid: string) =>
  children(calendar, 'VTIMEZONE').find((zone) => value(zone, 'TZID') === tzid);
/** The path and query of a feed address (app.inject takes no host). */
const pathOf = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
};
const get = (url: string, headers: Record<string, string> = {}) =>
  f.app.inject({ method: 'GET', url: pathOf(url), headers });
const feedRows = (userId: string) =>
  queryRows<{ token_hash: string; created_at: Date; rotated_at: Date }>(
    f.app.platform.db,
    sql`select token_hash, created_at, rotated_at from calendar_feeds where user_id = ${userId}`,
  );

/** A provider whose schedule (and profile) is in `zone`. */
async function providerIn(zone: string): Promise<TestProvider> {
  const provider = await createProvider(f, { schedule: { ...WEEKDAY_SCHEDULE, time_zone: zone } });
  const profile = await f.send('PATCH', '/provider/profile', provider.user, { time_zone: zone, city: 'Leeds' });
  expect(profile.statusCode, profile.body).toBe(200);
  return provider;
}

const turnOff = (user: TestUser) =>
  f.app.inject({ method: 'DELETE', url: '/api/v1/me/calendar-feed', headers: user.headers });

async function rotate(user: TestUser, status = 201) {
  const response = await f.send('POST', '/me/calendar-feed', user);
  expect(response.statusCode, response.body).toBe(status);
  return response.json().data as { customer_url: string; provider_url: string | null; rotated_at: string };
}

describe('GET /me/calendar.ics', () => {
  it("answers the customer's bookings as RFC 5545 with a London VTIMEZONE and local times on both sides of the change", async () => {
    const provider = await providerIn(LONDON);
    const customer = await createCustomer(f);
    // Thursday 25 March 10:00 GMT, and Tuesday 30 March 10:00 BST (09:00 UTC): the clocks go forward on the 28th.
    const winter = await booked(f, customer, provider, '2027-03-25T10:00:00.000Z');
    const summer = await booked(f, customer, provider, '2027-03-30T09:00:00.000Z');

    const { calendar } = ics(await f.send('GET', '/me/calendar.ics', customer));
    expect(value(calendar, 'VERSION')).toBe('2.0');
    expect(value(calendar, 'PRODID')).toMatch(/^-\/\/.+\/\/EN$/);
    expect(value(calendar, 'CALSCALE')).toBe('GREGORIAN');
    expect(value(calendar, 'METHOD')).toBe('PUBLISH');
    expect(value(calendar, 'X-WR-CALNAME')).toBeTruthy();

    const zone = zoneOf(calendar, LONDON) as Component;
    expect(zone).toBeDefined();
    const observances = zone.components.map((o) => ({
      kind: o.name,
      start: value(o, 'DTSTART'),
      from: value(o, 'TZOFFSETFROM'),
      to: value(o, 'TZOFFSETTO'),
      name: value(o, 'TZNAME'),
    }));
    // The changes of the covered year, as they happen: forward at 01:00 GMT, back at 02:00 BST.
    expect(observances).toContainEqual({
      kind: 'DAYLIGHT',
      start: '20270328T010000',
      from: '+0000',
      to: '+0100',
      name: 'BST',
    });
    expect(observances).toContainEqual({
      kind: 'STANDARD',
      start: '20271031T020000',
      from: '+0100',
      to: '+0000',
      name: 'GMT',
    });
    expect(observances[0]).toMatchObject({ kind: 'STANDARD', from: '+0000', to: '+0000' });

    for (const [booking, local, end] of [
      [winter, '20270325T100000', '20270325T110000'],
      [summer, '20270330T100000', '20270330T110000'],
    ] as const) {
      const event = eventOf(calendar, booking.id) as Component;
      expect(event, booking.id).toBeDefined();
      const start = event.properties.find((p) => p.name === 'DTSTART');
      expect(start).toMatchObject({ params: { TZID: LONDON }, value: local });
      expect(event.properties.find((p) => p.name === 'DTEND')).toMatchObject({ params: { TZID: LONDON }, value: end });
      // Read back through the VTIMEZONE alone, the local time is the booking's instant.
      expect(instantOf(zone, local).toISOString()).toBe(booking.starts_at);
      expect(value(event, 'DTSTAMP')).toMatch(/^\d{8}T\d{6}Z$/);
      expect(value(event, 'STATUS')).toBe('TENTATIVE');
      expect(value(event, 'SEQUENCE')).toBe('0');
      expect(unescapeText(value(event, 'SUMMARY') as string)).toMatch(/^Back massage with Provider /);
      expect(value(event, 'URL')).toMatch(new RegExp(`/bookings/${booking.id}$`));
      expect(unescapeText(value(event, 'LOCATION') as string)).toBe('Leeds');
    }
  });

  it('reads back the same instants, names and statuses through an independent parser (ical.js)', async () => {
    const provider = await providerIn(LONDON);
    const customer = await createCustomer(f);
    const winter = await booked(f, customer, provider, '2027-03-25T10:00:00.000Z');
    const summer = await booked(f, customer, provider, '2027-03-30T09:00:00.000Z');
    const nairobi = await providerIn(NAIROBI);
    const east = await booked(f, customer, nairobi, '2027-03-26T07:00:00.000Z');

    const { body } = ics(await f.send('GET', '/me/calendar.ics', customer));
    const calendar = new ICAL.Component(ICAL.parse(body));
    // The feed's own VTIMEZONEs, not a time zone database: what a calendar app without one would use.
    for (const zone of calendar.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(zone);
    try {
      const parsed = new Map(
        calendar.getAllSubcomponents('vevent').map((vevent) => {
          const event = new ICAL.Event(vevent);
          return [
            event.uid,
            {
              start: event.startDate.toJSDate().toISOString(),
              end: event.endDate.toJSDate().toISOString(),
              zone: event.startDate.zone?.tzid,
              summary: event.summary,
              status: vevent.getFirstPropertyValue('status'),
            },
          ];
        }),
      );
      for (const [booking, zone] of [
        [winter, LONDON],
        [summer, LONDON],
        [east, NAIROBI],
      ] as const) {
        expect(parsed.get(`${booking.id}@care-platform`)).toEqual({
          start: booking.starts_at,
          end: new Date(Date.parse(booking.starts_at) + 3_600_000).toISOString(),
          zone,
          summary: expect.stringMatching(/^Back massage with Provider /),
          status: 'TENTATIVE',
        });
      }
    } finally {
      ICAL.TimezoneService.reset();
    }
  });

  it('folds a long multi-byte service name within 75 octets and escapes its TEXT', async () => {
    const provider = await providerIn(LONDON);
    const name = 'Глубокий массаж; шея, плечи \\ спина 🙂 — восстановление для очень уставших';
    expect(name.length).toBeLessThanOrEqual(120);
    const service = await f.send('POST', '/provider/services', provider.user, {
      name,
      category_id: f.categoryId,
      duration_minutes: 60,
      buffer_minutes: 0,
      price_minor: 5000,
      currency: 'EUR',
    });
    expect(service.statusCode, service.body).toBe(201);
    const customer = await createCustomer(f);
    const booking = await booked(
      f,
      customer,
      { ...provider, serviceId: service.json().data.id },
      '2027-03-26T10:00:00.000Z',
    );

    const { body, calendar } = ics(await f.send('GET', '/me/calendar.ics', customer));
    const event = eventOf(calendar, booking.id) as Component;
    const summary = value(event, 'SUMMARY') as string;
    expect(summary).toContain('Глубокий массаж\\; шея\\, плечи \\\\ спина 🙂');
    expect(unescapeText(summary)).toBe(`${name} with Provider ${provider.user.id.slice(-4)}`);
    // The SUMMARY line is longer than one physical line: it was folded.
    const line = unfold(body).find((l) => l.startsWith('SUMMARY:') && l.includes('Глубокий')) as string;
    expect(Buffer.byteLength(line, 'utf8')).toBeGreaterThan(75);
    expect(body).toMatch(/\r\n [^\r]/);
  });

  it('writes a zone without daylight saving as one STANDARD observance (Africa/Nairobi, +03:00)', async () => {
    const provider = await providerIn(NAIROBI);
    const customer = await createCustomer(f);
    // 10:00 in Nairobi is 07:00 UTC, all year.
    const booking = await booked(f, customer, provider, '2027-03-25T07:00:00.000Z');
    const { calendar } = ics(await f.send('GET', '/me/calendar.ics', customer));
    const zone = zoneOf(calendar, NAIROBI) as Component;
    expect(zone.components.map((o) => o.name)).toEqual(['STANDARD']);
    expect(value(zone.components[0] as Component, 'TZOFFSETFROM')).toBe('+0300');
    expect(value(zone.components[0] as Component, 'TZOFFSETTO')).toBe('+0300');
    const event = eventOf(calendar, booking.id) as Component;
    expect(event.properties.find((p) => p.name === 'DTSTART')).toMatchObject({
      params: { TZID: NAIROBI },
      value: '20270325T100000',
    });
    expect(instantOf(zone, '20270325T100000').toISOString()).toBe(booking.starts_at);
    // Only the zones used: no London here.
    expect(zoneOf(calendar, LONDON)).toBeUndefined();
  });

  it('shows a moved booking under the same UID with a higher SEQUENCE, and a cancelled one as CANCELLED', async () => {
    const provider = await providerIn(LONDON);
    const customer = await createCustomer(f);
    const moving = await booked(f, customer, provider, '2027-03-25T10:00:00.000Z');
    const cancelled = await booked(f, customer, provider, '2027-03-26T10:00:00.000Z');
    const first = ics(await f.send('GET', '/me/calendar.ics', customer)).calendar;
    const before = Number(value(eventOf(first, moving.id) as Component, 'SEQUENCE'));

    f.clock.advance(60_000);
    const moved = await f.send('POST', `/bookings/${moving.id}/reschedule`, customer, {
      starts_at: '2027-03-25T14:00:00.000Z',
    });
    expect(moved.statusCode, moved.body).toBe(200);
    const cancel = await f.send('POST', `/bookings/${cancelled.id}/cancel`, customer, {});
    expect(cancel.statusCode, cancel.body).toBe(200);

    const { calendar } = ics(await f.send('GET', '/me/calendar.ics', customer));
    const event = eventOf(calendar, moving.id) as Component;
    expect(value(event, 'DTSTART')).toBe('20270325T140000');
    expect(Number(value(event, 'SEQUENCE'))).toBeGreaterThan(before);
    expect(events(calendar).filter((e) => value(e, 'UID') === `${moving.id}@care-platform`)).toHaveLength(1);
    expect(value(eventOf(calendar, cancelled.id) as Component, 'STATUS')).toBe('CANCELLED');
  });

  it("lists only the caller's own bookings, and the same body twice is answered 304 with If-None-Match", async () => {
    const provider = await providerIn(LONDON);
    const [mine, theirs] = [await createCustomer(f), await createCustomer(f)];
    const own = await booked(f, mine, provider, '2027-03-25T10:00:00.000Z');
    const other = await booked(f, theirs, provider, '2027-03-25T14:00:00.000Z');
    const first = await f.send('GET', '/me/calendar.ics', mine);
    const { calendar } = ics(first);
    expect(events(calendar).map((e) => value(e, 'UID'))).toEqual([`${own.id}@care-platform`]);
    expect(first.body).not.toContain(other.id);
    expect(first.headers['cache-control']).toBe('private, no-cache');
    const etag = first.headers.etag as string;
    expect(etag).toBeTruthy();
    const again = await f.send('GET', '/me/calendar.ics', mine, undefined, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
  });

  it('needs a signed-in caller', async () => {
    expect((await f.send('GET', '/me/calendar.ics')).statusCode).toBe(401);
  });
});

describe('GET /provider/calendar.ics', () => {
  it("lists the provider's visits with the customers' display names, never their emails", async () => {
    const provider = await providerIn(NAIROBI);
    const customer = await createUser(f.app, { name: 'Amani Wanjiru' });
    const nameless = await createCustomer(f);
    const a = await booked(f, customer, provider, '2027-03-25T07:00:00.000Z');
    const b = await booked(f, nameless, provider, '2027-03-25T10:00:00.000Z');
    const response = await f.send('GET', '/provider/calendar.ics', provider.user);
    const { body, calendar } = ics(response);
    expect(value(calendar, 'X-WR-TIMEZONE')).toBe(NAIROBI);
    expect(unescapeText(value(eventOf(calendar, a.id) as Component, 'SUMMARY') as string)).toBe(
      'Back massage with Amani Wanjiru',
    );
    expect(unescapeText(value(eventOf(calendar, b.id) as Component, 'SUMMARY') as string)).toBe(
      'Back massage with a customer',
    );
    expect(body).not.toContain(customer.email);
    expect(body).not.toContain(nameless.email);
    expect(body).not.toContain('@example');
  });

  it('is for providers: 403 for a customer, 404 for a provider account without a profile', async () => {
    const customer = await createCustomer(f);
    expect((await f.send('GET', '/provider/calendar.ics', customer)).statusCode).toBe(403);
    const bare = await createUser(f.app, { role: 'provider' });
    const response = await f.send('GET', '/provider/calendar.ics', bare);
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');
  });
});

describe('the secret feed address', () => {
  it('is made once (201), shown only then, rotated (200: the old address answers 404 at once), and turned off', async () => {
    const provider = await providerIn(LONDON);
    const customer = await createCustomer(f);
    const booking = await booked(f, customer, provider, '2027-03-25T10:00:00.000Z');

    const none = await f.send('GET', '/me/calendar-feed', customer);
    expect(none.json().data).toEqual({ enabled: false, created_at: null, rotated_at: null, provider_feed: false });

    const made = await rotate(customer, 201);
    expect(made.provider_url).toBeNull();
    const token = new URL(made.customer_url).searchParams.get('token') as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only the token's SHA-256 is kept.
    const [row] = await feedRows(customer.id);
    expect(row?.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(await feedRows(customer.id))).not.toContain(token);

    const feed = ics(await get(made.customer_url));
    expect(eventOf(feed.calendar, booking.id)).toBeDefined();
    // Same content as the signed-in download.
    expect(feed.body).toBe((await f.send('GET', '/me/calendar.ics', customer)).body);

    const status = (await f.send('GET', '/me/calendar-feed', customer)).json().data;
    expect(status).toMatchObject({ enabled: true, rotated_at: START.toISOString(), provider_feed: false });
    expect(JSON.stringify(status)).not.toContain(token);

    f.clock.advance(60_000);
    const rotated = await rotate(customer, 200);
    expect(rotated.customer_url).not.toBe(made.customer_url);
    expect(rotated.rotated_at).toBe(new Date(START.getTime() + 60_000).toISOString());
    const old = await get(made.customer_url);
    expect(old.statusCode).toBe(404);
    expect(old.json().code).toBe('NOT_FOUND');
    ics(await get(rotated.customer_url));

    const off = await turnOff(customer);
    expect(off.statusCode).toBe(204);
    expect((await get(rotated.customer_url)).statusCode).toBe(404);
    expect(await feedRows(customer.id)).toEqual([]);
    // Turning off what is off is not an error.
    expect((await turnOff(customer)).statusCode).toBe(204);
    expect((await f.send('GET', '/me/calendar-feed', customer)).json().data.enabled).toBe(false);

    const actions = await queryRows<{ action: string }>(
      f.app.platform.db,
      sql`select action from audit_log where actor_id = ${customer.id} and action like 'calendar.%' order by seq`,
    );
    expect(actions.map((a) => a.action)).toEqual([
      'calendar.feed_created',
      'calendar.feed_rotated',
      'calendar.feed_disabled',
    ]);
  });

  it("shows each person only their own bookings: one person's address never shows another's", async () => {
    const provider = await providerIn(LONDON);
    const [alice, bob] = [await createCustomer(f), await createCustomer(f)];
    const hers = await booked(f, alice, provider, '2027-03-25T10:00:00.000Z');
    const his = await booked(f, bob, provider, '2027-03-25T14:00:00.000Z');
    const [aliceFeed, bobFeed] = [await rotate(alice), await rotate(bob)];
    const aliceBody = ics(await get(aliceFeed.customer_url)).body;
    const bobBody = ics(await get(bobFeed.customer_url)).body;
    expect(aliceBody).toContain(hers.id);
    expect(aliceBody).not.toContain(his.id);
    expect(bobBody).toContain(his.id);
    expect(bobBody).not.toContain(hers.id);
    // A customer's token opens no provider feed.
    const asProvider = new URL(aliceFeed.customer_url);
    asProvider.pathname = asProvider.pathname.replace('customer.ics', 'provider.ics');
    expect((await get(asProvider.toString())).statusCode).toBe(404);
  });

  it("gives a provider an address for their visits, with the customers' names", async () => {
    const provider = await providerIn(LONDON);
    const customer = await createUser(f.app, { name: 'Jo Bloggs' });
    const booking = await booked(f, customer, provider, '2027-03-25T10:00:00.000Z');
    const feed = await rotate(provider.user);
    expect(feed.provider_url).toMatch(/\/api\/v1\/calendar\/provider\.ics\?token=/);
    const { calendar } = ics(await get(feed.provider_url as string));
    expect(unescapeText(value(eventOf(calendar, booking.id) as Component, 'SUMMARY') as string)).toBe(
      'Back massage with Jo Bloggs',
    );
    // The provider's own customer feed has none of their visits.
    expect(ics(await get(feed.customer_url)).body).not.toContain(booking.id);
    expect((await f.send('GET', '/me/calendar-feed', provider.user)).json().data.provider_feed).toBe(true);
  });

  it('stops answering when the account is deactivated', async () => {
    const customer = await createCustomer(f);
    const feed = await rotate(customer);
    ics(await get(feed.customer_url));
    const off = await f.send('PATCH', `/admin/users/${customer.id}`, f.admin, { is_active: false });
    expect(off.statusCode, off.body).toBe(200);
    expect((await get(feed.customer_url)).statusCode).toBe(404);
  });

  it('answers 404 for an unknown token and 400 for one that is not a token; needs no sign-in but refuses extra parameters', async () => {
    const unknown = 'A'.repeat(43);
    const missing = await f.app.inject({ method: 'GET', url: `/api/v1/calendar/customer.ics?token=${unknown}` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('NOT_FOUND');
    for (const bad of ['short', `${unknown}A`, `${'A'.repeat(42)}%2F`]) {
      const response = await f.app.inject({ method: 'GET', url: `/api/v1/calendar/customer.ics?token=${bad}` });
      expect(response.statusCode, bad).toBe(400);
      expect(response.json().code).toBe('VALIDATION_ERROR');
    }
    expect((await f.app.inject({ method: 'GET', url: '/api/v1/calendar/provider.ics' })).statusCode).toBe(400);
  });

  it('two rotations at once leave exactly one working address', async () => {
    const customer = await createCustomer(f);
    await rotate(customer, 201);
    const answers = await Promise.all([1, 2, 3].map(() => f.send('POST', '/me/calendar-feed', customer)));
    for (const answer of answers) expect(answer.statusCode, answer.body).toBe(200);
    const statuses = await Promise.all(answers.map((answer) => get(answer.json().data.customer_url)));
    expect(statuses.map((s) => s.statusCode).sort()).toEqual([200, 404, 404]);
    expect(await feedRows(customer.id)).toHaveLength(1);
  });

  it('first creations racing make one row; the answers name one working address', async () => {
    const customer = await createCustomer(f);
    const answers = await Promise.all([1, 2].map(() => f.send('POST', '/me/calendar-feed', customer)));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 201]);
    const statuses = await Promise.all(answers.map((answer) => get(answer.json().data.customer_url)));
    expect(statuses.map((s) => s.statusCode).sort()).toEqual([200, 404]);
    expect(await feedRows(customer.id)).toHaveLength(1);
  });

  it('is erased with the account and exported without its secret', async () => {
    const customer = await createCustomer(f);
    const feed = await rotate(customer);
    const entry = f.app.platform.dataMap.entries().find((e) => e.module === 'calendar');
    expect(entry?.tables).toEqual(['calendar_feeds']);
    const exported = await entry?.export(f.app.platform.db, customer.id);
    expect(exported).toEqual({ enabled: true, created_at: START.toISOString(), rotated_at: START.toISOString() });
    expect(await entry?.erase(f.app.platform.db, customer.id)).toEqual({ action: 'deleted', rows: 1 });
    expect((await get(feed.customer_url)).statusCode).toBe(404);
  });
});
