import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

// Finding 4: a cursor that decodes (base64url JSON, the bookings lists' shape) but whose fields
// are not what the codec writes must be refused as the client's mistake, never reach a query.

let f: BookingsFixture;
let provider: TestProvider;
let customer: TestUser;

const VALID_ID = '01890a5d-ac96-774b-bcce-b302099a8057';
const VALID_TIME = '2027-03-23T09:00:00.000Z';

/** A cursor in the codec's encoding, from any JSON text (so numbers JSON.stringify cannot write fit too). */
const cursorOf = (json: string) => Buffer.from(json, 'utf8').toString('base64url');
const cursor = (value: unknown) => cursorOf(JSON.stringify(value));

const WELL_FORMED_BAD_CURSORS: Record<string, string> = {
  'a non-uuid id': cursor({ startsAt: VALID_TIME, id: 'not-a-uuid' }),
  'a uuid-looking id with SQL': cursor({ startsAt: VALID_TIME, id: `${VALID_ID}' or '1'='1` }),
  'an id one character short': cursor({ startsAt: VALID_TIME, id: VALID_ID.slice(0, -1) }),
  'an empty id': cursor({ startsAt: VALID_TIME, id: '' }),
  'a numeric id': cursor({ startsAt: VALID_TIME, id: 12345 }),
  'an id that is an object': cursor({ startsAt: VALID_TIME, id: { $gt: '' } }),
  'an id that is an array': cursor({ startsAt: VALID_TIME, id: [VALID_ID] }),
  'a null id': cursor({ startsAt: VALID_TIME, id: null }),
  'a boolean startsAt': cursor({ startsAt: true, id: VALID_ID }),
  'a numeric startsAt (epoch ms)': cursor({ startsAt: Date.parse(VALID_TIME), id: VALID_ID }),
  'a huge number for startsAt': cursor({ startsAt: Number.MAX_VALUE, id: VALID_ID }),
  'a number past double range (Infinity once parsed)': cursorOf(`{"startsAt":1e400,"id":"${VALID_ID}"}`),
  'a huge integer id': cursorOf(`{"startsAt":"${VALID_TIME}","id":123456789012345678901234567890}`),
  'a year past what Date holds': cursor({ startsAt: '+275761-01-01T00:00:00.000Z', id: VALID_ID }),
  'a five-digit year': cursor({ startsAt: '99999-01-01T00:00:00Z', id: VALID_ID }),
  'year 0': cursor({ startsAt: '0000-01-01T00:00:00Z', id: VALID_ID }),
  'the 30th of February': cursor({ startsAt: '2027-02-30T09:00:00Z', id: VALID_ID }),
  'month 13': cursor({ startsAt: '2027-13-01T09:00:00Z', id: VALID_ID }),
  'hour 25': cursor({ startsAt: '2027-03-23T25:00:00Z', id: VALID_ID }),
  'a date that is not one': cursor({ startsAt: 'yesterday', id: VALID_ID }),
  'an empty startsAt': cursor({ startsAt: '', id: VALID_ID }),
  'a date without time': cursor({ startsAt: '2027-03-23', id: VALID_ID }),
  'an extra field': cursor({ startsAt: VALID_TIME, id: VALID_ID, providerId: VALID_ID }),
  'a __proto__ field': cursorOf(`{"startsAt":"${VALID_TIME}","id":"${VALID_ID}","__proto__":{"admin":true}}`),
  'an inherited name as a field (constructor)': cursor({ startsAt: VALID_TIME, id: VALID_ID, constructor: 1 }),
  'an inherited name as a field (toString)': cursor({ startsAt: VALID_TIME, id: VALID_ID, toString: 'x' }),
  'snake_case fields': cursor({ starts_at: VALID_TIME, id: VALID_ID }),
  'no id': cursor({ startsAt: VALID_TIME }),
  'no startsAt': cursor({ id: VALID_ID }),
  'an empty object': cursor({}),
  'a JSON array': cursor([VALID_TIME, VALID_ID]),
  'a JSON string': cursor(VALID_ID),
  'a JSON number': cursor(42),
  'JSON null': cursor(null),
};

const LISTS: { name: string; url: string; as: () => TestUser }[] = [
  { name: '/me/bookings', url: '/me/bookings', as: () => customer },
  {
    name: '/provider/bookings',
    url: '/provider/bookings?from=2027-03-01T00:00:00Z&to=2027-05-01T00:00:00Z',
    as: () => provider.user,
  },
  { name: '/admin/bookings', url: '/admin/bookings', as: () => f.admin },
];

/** One booking a page, from `value`'s position (the first page without one). */
const withCursor = (url: string, value?: string) =>
  `${url}${url.includes('?') ? '&' : '?'}limit=1${value === undefined ? '' : `&cursor=${encodeURIComponent(value)}`}`;

beforeAll(async () => {
  f = await setUpBookings();
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  // Two bookings, so each list has a next page and writes a real cursor.
  await booked(f, customer, provider, '2027-03-23T09:00:00Z');
  await booked(f, customer, provider, '2027-03-25T09:00:00Z');
});

afterAll(async () => {
  await f?.close();
});

describe.each(LISTS)('GET $name', (list) => {
  it('writes cursors in the shape these tests forge, and follows its own', async () => {
    const first = await f.send('GET', withCursor(list.url), list.as());
    expect(first.statusCode).toBe(200);
    const next: string = first.json().meta.next_cursor;
    expect(next).toEqual(expect.any(String));
    const decoded = JSON.parse(Buffer.from(next, 'base64url').toString('utf8'));
    expect(Object.keys(decoded).sort()).toEqual(['id', 'startsAt']);
    expect(decoded.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(decoded.startsAt).toISOString()).toBe(decoded.startsAt);

    const second = await f.send('GET', withCursor(list.url, next), list.as());
    expect(second.statusCode).toBe(200);
    expect(second.json().data).toHaveLength(1);
    expect(second.json().data[0].id).not.toBe(first.json().data[0].id);

    // The same shape with a well-formed uuid that names no booking is still a valid position.
    const elsewhere = await f.send(
      'GET',
      withCursor(list.url, cursor({ startsAt: VALID_TIME, id: VALID_ID })),
      list.as(),
    );
    expect(elsewhere.statusCode).toBe(200);
  });

  it.each(Object.entries(WELL_FORMED_BAD_CURSORS))('answers 400 on query.cursor for %s', async (_, value) => {
    const response = await f.send('GET', withCursor(list.url, value), list.as());
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json();
    expect(body).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
    expect(body.details).toEqual([{ field: 'query.cursor', message: expect.any(String) }]);
  });

  it('answers 400, not 500, for bytes that are not base64url JSON', async () => {
    for (const value of ['nonsense', '%%%', cursorOf('{"startsAt":'), cursorOf('\u0000'), 'e30']) {
      const response = await f.send('GET', withCursor(list.url, value), list.as());
      expect(response.statusCode, `${value}: ${response.body}`).toBe(400);
      expect(response.json().code).toBe('VALIDATION_ERROR');
    }
  });
});
