import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('request validation', () => {
  let t: TestApp;
  let user: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    user = await createUser(t.app, { name: 'Ada' });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const send = (method: string, url: string, who?: TestUser, payload?: unknown) =>
    t.app.inject({
      method: method as 'GET',
      url,
      ...(who ? { headers: who.headers } : {}),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  /** 400 VALIDATION_ERROR whose details name `field`. */
  const expectRefused = async (response: Awaited<ReturnType<typeof send>>, field: string) => {
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json();
    expect(body.code).toBe('VALIDATION_ERROR');
    expect(body.details.map((detail: { field: string }) => detail.field)).toContain(field);
  };

  describe('query strings are coerced to their documented type and range only', () => {
    it.each(['Infinity', '-Infinity', 'NaN', '1e308', '99999999999999999999999', '0', '101', '2.5'])(
      'limit=%s is 400 on query.limit',
      async (limit) => {
        for (const url of ['/api/v1/content', '/api/v1/services/search']) {
          await expectRefused(await send('GET', `${url}?limit=${limit}`), 'query.limit');
        }
        await expectRefused(await send('GET', `/api/v1/me/bookings?limit=${limit}`, user), 'query.limit');
      },
    );

    it('refuses prices and ratings beyond their bounds, and still reads numbers sent as text', async () => {
      await expectRefused(await send('GET', '/api/v1/services/search?min_rating=Infinity'), 'query.min_rating');
      await expectRefused(await send('GET', '/api/v1/services/search?min_price=2147483648'), 'query.min_price');
      await expectRefused(await send('GET', '/api/v1/services/search?max_price=1e308'), 'query.max_price');
      const ok = await send('GET', '/api/v1/services/search?limit=5&min_price=100');
      expect(ok.statusCode).toBe(200);
    });
  });

  describe('JSON bodies are validated as sent', () => {
    it('refuses numbers and booleans as strings, null for booleans, scalars for arrays; nothing changes', async () => {
      await expectRefused(await send('PUT', '/api/v1/me/profile', user, { age: '30' }), 'body.age');
      await expectRefused(
        await send('PUT', '/api/v1/me/consents/analytics', user, { granted: 'true' }),
        'body.granted',
      );
      await expectRefused(await send('PUT', '/api/v1/me/consents/analytics', user, { granted: null }), 'body.granted');
      await expectRefused(await send('POST', '/api/v1/events', undefined, { events: 123 }), 'body.events');
      const profile = await send('GET', '/api/v1/me/profile', user);
      expect(profile.json().data.age).toBeNull();
      const consents = (await send('GET', '/api/v1/me/consents', user)).json().data as {
        purpose: string;
        granted: boolean;
      }[];
      expect(consents.find((consent) => consent.purpose === 'analytics')?.granted).toBe(false);
    });

    it('refuses "" and 0 where the schema asks for more; null still clears a nullable field', async () => {
      await expectRefused(await send('PATCH', '/api/v1/me', user, { name: '' }), 'body.name');
      await expectRefused(await send('PATCH', '/api/v1/me', user, { phone: '' }), 'body.phone');
      await expectRefused(await send('PUT', '/api/v1/me/profile', user, { age: 0 }), 'body.age');
      await expectRefused(await send('PUT', '/api/v1/me/profile', user, { birth_year: 0 }), 'body.birth_year');
      expect((await send('GET', '/api/v1/me', user)).json().data.name).toBe('Ada');
      const cleared = await send('PATCH', '/api/v1/me', user, { name: null });
      expect(cleared.statusCode).toBe(200);
      expect(cleared.json().data.name).toBeNull();
      await send('PATCH', '/api/v1/me', user, { name: 'Ada' });
    });

    it('names each field holding text the database cannot store: NUL, unpaired surrogates, also in keys', async () => {
      const nul = await send('PATCH', '/api/v1/me', user, { name: 'Ada\u0000Lovelace' });
      await expectRefused(nul, 'body.name');
      expect(nul.json().details[0].message).toMatch(/NUL/);
      const raw = (json: string) =>
        t.app.inject({
          method: 'PATCH',
          url: '/api/v1/me',
          headers: { ...user.headers, 'content-type': 'application/json' },
          payload: json,
        });
      const lone = await raw('{"name":"Ada \\ud800"}');
      await expectRefused(lone, 'body.name');
      expect(lone.json().details[0].message).toMatch(/surrogate/);
      await expectRefused(await raw('{"\\udc00":"x"}'), 'body');
      // A proper pair written as escapes is an emoji, and welcome.
      const pair = await raw('{"name":"Ada \\ud83d\\ude00"}');
      expect(pair.statusCode).toBe(200);
      expect(pair.json().data.name).toBe('Ada 😀');
      await expectRefused(await send('GET', '/api/v1/content?q=a%00b'), 'query.q');
      await send('PATCH', '/api/v1/me', user, { name: 'Ada' });
    });

    it('refuses impossible dates and years outside 1900–2999', async () => {
      const reminder = { title: 'Screening', time_zone: 'Europe/London', channel: 'email' };
      for (const startsAt of ['0000-01-01T09:00:00Z', '2026-02-30T09:00:00Z', '9999-12-31T09:00:00Z', '2026-11-30']) {
        await expectRefused(
          await send('POST', '/api/v1/me/reminders', user, { ...reminder, starts_at: startsAt }),
          'body.starts_at',
        );
      }
      for (const day of ['2026-13-01', '0000-00-00', '9999-12-31', '2026-02-30']) {
        await expectRefused(
          await send('GET', `/api/v1/admin/analytics/funnel?journey=wellness&to=${day}`, admin),
          'query.to',
        );
      }
      await expectRefused(
        await send('POST', '/api/v1/admin/flags', admin, { key: 'early-flag', enable_at: '0000-01-01T00:00:00Z' }),
        'body.enable_at',
      );
    });
  });

  describe('details say what to send, once per field', () => {
    /** The one detail the 400 answer gives for `field`. */
    const detailOf = async (response: Awaited<ReturnType<typeof send>>, field: string) => {
      await expectRefused(response, field);
      const details = (response.json().details as { field: string; message: string }[]).filter(
        (detail) => detail.field === field,
      );
      expect(details, response.body).toHaveLength(1);
      return details[0]?.message;
    };

    it('an enum names its allowed values, in the path, the query and the body', async () => {
      const purposes = 'must be one of: whatsapp, sms, marketing, analytics, data_processing';
      const path = await send('PUT', '/api/v1/me/consents/smss', user, { granted: true });
      expect(await detailOf(path, 'params.purpose')).toBe(purposes);
      expect(path.json().details).toHaveLength(1);
      const query = await send('GET', '/api/v1/services/search?sort=cheapest');
      expect(await detailOf(query, 'query.sort')).toMatch(/^must be one of: [a-z_]+(, [a-z_]+)+$/);
      const body = await send('PUT', '/api/v1/me/consents/sms', user, { granted: 'yes' });
      expect(body.json().details).toEqual([{ field: 'body.granted', message: 'must be true or false' }]);
    });

    it('a nullable field names what it expects and that null is allowed too', async () => {
      const gender = await detailOf(await send('PATCH', '/api/v1/me/profile', user, { gender: 'x' }), 'body.gender');
      expect(gender).toMatch(/^must be one of: [a-z_]+(, [a-z_]+)+ \(or null\)$/);
      const age = await send('PATCH', '/api/v1/me/profile', user, { age: 'thirty', country: 'G1', region: 5 });
      expect(age.json().details).toEqual([
        { field: 'body.age', message: 'must be an integer (or null)' },
        { field: 'body.country', message: 'must be a two-letter ISO 3166-1 country code, e.g. GB (or null)' },
        { field: 'body.region', message: 'must be a string (or null)' },
      ]);
      expect(await detailOf(await send('PATCH', '/api/v1/me/profile', user, { age: 200 }), 'body.age')).toBe(
        'must be <= 120 (or null)',
      );
      const cleared = await send('PATCH', '/api/v1/me/profile', user, { gender: null });
      expect(cleared.statusCode, cleared.body).toBe(200);
    });

    it('a pattern is named in words when known, shown as it is otherwise', async () => {
      expect(await detailOf(await send('PATCH', '/api/v1/me', user, { phone: '0770' }), 'body.phone')).toBe(
        'must be a phone number in E.164 form, e.g. +447700900123 (or null)',
      );
      const reminder = { title: 'Screening', time_zone: 'Europe/London', channel: 'email', starts_at: 'tomorrow' };
      expect(await detailOf(await send('POST', '/api/v1/me/reminders', user, reminder), 'body.starts_at')).toBe(
        'must be an RFC 3339 date-time with its offset, e.g. 2027-03-25T09:00:00Z (years 1900-2999)',
      );
      expect(await detailOf(await send('GET', '/api/v1/content?limit=Infinity'), 'query.limit')).toBe(
        'must be a finite number',
      );
      expect(await detailOf(await send('GET', '/api/v1/admin/security/events?ip=x', admin), 'query.ip')).toMatch(
        /^must match the pattern \S+$/,
      );
    });

    it('upper-cases country and currency codes before validating them ("gb" is GB), and stores them so', async () => {
      const profile = await send('PATCH', '/api/v1/me/profile', user, { country: 'gb' });
      expect(profile.statusCode, profile.body).toBe(200);
      expect(profile.json().data.country).toBe('GB');
      expect((await send('GET', '/api/v1/me/profile', user)).json().data.country).toBe('GB');

      const provider = await createUser(t.app, { role: 'provider' });
      const own = await send('PATCH', '/api/v1/provider/profile', provider, {
        display_name: 'Case Studio',
        country: 'ke',
        languages: ['EN', 'sw'],
      });
      expect(own.statusCode, own.body).toBe(200);
      expect(own.json().data).toMatchObject({ country: 'KE', languages: ['en', 'sw'] });
      const category = await send('POST', '/api/v1/admin/categories', admin, { slug: 'case-care', name: 'Case care' });
      const service = await send('POST', '/api/v1/provider/services', provider, {
        name: 'Foot massage',
        category_id: category.json().data.id,
        duration_minutes: 30,
        price_minor: 2500,
        currency: 'gbp',
      });
      expect(service.statusCode, service.body).toBe(201);
      expect(service.json().data.currency).toBe('GBP');
    });
  });

  describe('cursors and path parameters', () => {
    it('refuses a cursor that is not one the list wrote, whatever it holds', async () => {
      const crafted = [
        b64({ startsAt: '2026-01-01T00:00:00.000Z', id: 'not-a-uuid' }),
        b64({ startsAt: '0000-01-01T00:00:00.000Z', id: '01a22bd6-ef17-7000-aefc-adc9ed75e1e6' }),
        b64({ startsAt: 1, id: '01a22bd6-ef17-7000-aefc-adc9ed75e1e6' }),
        b64({ startsAt: '2026-01-01T00:00:00.000Z', id: '01a22bd6-ef17-7000-aefc-adc9ed75e1e6', extra: 1 }),
        b64([1, 2]),
        'not base64 json',
      ];
      for (const cursor of crafted) {
        const url = `?cursor=${encodeURIComponent(cursor)}`;
        await expectRefused(await send('GET', `/api/v1/me/bookings${url}`, user), 'query.cursor');
        await expectRefused(await send('GET', `/api/v1/admin/bookings${url}`, admin), 'query.cursor');
        await expectRefused(await send('GET', `/api/v1/services/search${url}`), 'query.cursor');
        await expectRefused(await send('GET', `/api/v1/content${url}`), 'query.cursor');
        await expectRefused(await send('GET', `/api/v1/admin/analytics/events${url}`, admin), 'query.cursor');
      }
      await expectRefused(
        await send('GET', '/api/v1/admin/audit?cursor=99999999999999999999999', admin),
        'query.cursor',
      );
    });

    it('answers 400 for a malformed id or percent-encoding in the path', async () => {
      await expectRefused(await send('GET', '/api/v1/bookings/not-a-uuid', user), 'params.id');
      const malformed = await send('GET', '/api/v1/bookings/%ZZ', user);
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().code).toBe('BAD_REQUEST');
    });
  });
});
