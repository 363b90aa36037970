import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { uuidv7 } from '../../src/infra/ids.js';
import { availability } from '../../src/modules/bookings/bookings.tables.js';
import { bookingsSeeder } from '../../src/modules/bookings/index.js';
import {
  type BookingsFixture,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
  WEEKDAY_SCHEDULE,
} from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock();
});

describe('PUT /provider/availability', () => {
  let provider: TestProvider;

  beforeEach(async () => {
    provider = await createProvider(f, { schedule: null });
  });

  it('refuses weekly hours that overlap on one day, naming the second interval', async () => {
    const res = await f.send('PUT', '/provider/availability', provider.user, {
      time_zone: 'Europe/London',
      weekly: [
        { day_of_week: 1, start: '09:00', end: '12:00' },
        { day_of_week: 1, start: '11:00', end: '13:00' },
      ],
      breaks: [],
      exceptions: [],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0].field).toBe('body.weekly.1');
  });

  it('refuses a day of week or a time the schema does not allow', async () => {
    const res = await f.send('PUT', '/provider/availability', provider.user, {
      time_zone: 'Europe/London',
      weekly: [{ day_of_week: 8, start: '9:00', end: '17:00' }],
      breaks: [],
      exceptions: [],
    });
    expect(res.statusCode).toBe(400);
  });

  it('is for providers only', async () => {
    const customer = await createCustomer(f);
    expect((await f.send('PUT', '/provider/availability', customer, {})).statusCode).toBe(403);
  });

  it('stores the schedule', async () => {
    const put = await f.send('PUT', '/provider/availability', provider.user, WEEKDAY_SCHEDULE);
    expect(put.statusCode).toBe(200);
    expect(put.json().data).toMatchObject(WEEKDAY_SCHEDULE);
  });
});

describe('GET /provider/availability', () => {
  it('needs a signed-in provider', async () => {
    expect((await f.send('GET', '/provider/availability')).statusCode).toBe(401);
  });

  it('answers the stored schedule', async () => {
    const provider = await createProvider(f);
    const got = await f.send('GET', '/provider/availability', provider.user);
    expect(got.json().data).toMatchObject(WEEKDAY_SCHEDULE);
  });
});

describe('GET /providers/:id/slots', () => {
  let provider: TestProvider;
  const slotsOf = (query: string, providerId = provider.providerId) =>
    f.send('GET', `/providers/${providerId}/slots?service_id=${provider.serviceId}${query}`);

  // Listing slots changes nothing: one provider serves every test here.
  beforeAll(async () => {
    provider = await createProvider(f);
  });

  it('lists free start times publicly: 2 h notice, no visit running into lunch, closed days left out', async () => {
    const res = await slotsOf('&from=2027-03-22T00:00:00Z&to=2027-03-25T00:00:00Z');
    expect(res.statusCode).toBe(200);
    const slots: string[] = res.json().data.slots;
    // 06:00 now + 2 h notice → 09:00 local (GMT) is the first; lunch 12–13; Wednesday closed.
    expect(slots[0]).toBe('2027-03-22T09:00:00.000Z');
    expect(slots).not.toContain('2027-03-22T11:15:00.000Z'); // would run into lunch
    expect(slots).toContain('2027-03-22T11:00:00.000Z');
    expect(slots.some((slot) => slot.startsWith('2027-03-24'))).toBe(false);
    expect(slots.at(-1)).toBe('2027-03-23T16:00:00.000Z');
  });

  it('records slot_viewed', async () => {
    const viewed = async () =>
      (
        await queryRows<{ n: number }>(
          f.app.platform.db,
          sql`select count(*)::int as n from product_events where name = 'slot_viewed'`,
        )
      )[0]?.n ?? 0;
    const before = await viewed();
    expect((await slotsOf('')).statusCode).toBe(200);
    // Recorded after the answer, batched: stored by the next flush (at the latest when the app closes).
    await f.app.platform.track.flush();
    expect(await viewed()).toBeGreaterThan(before);
  });

  it('answers 404 when the service is not this provider’s', async () => {
    expect((await slotsOf('', uuidv7())).statusCode).toBe(404);
  });

  it('refuses a range longer than the 60-day horizon', async () => {
    expect((await slotsOf('&from=2027-03-22T00:00:00Z&to=2027-06-22T00:00:00Z')).statusCode).toBe(400);
  });
});

describe('bookingsSeeder', () => {
  it('gives verified providers without a schedule the demo one, once, and leaves set schedules alone', async () => {
    const [own, bare] = await Promise.all([createProvider(f), createProvider(f, { schedule: null })]);
    await bookingsSeeder.run(f.app.platform.db);
    await bookingsSeeder.run(f.app.platform.db);
    const rows = (await f.app.platform.db.select().from(availability)).filter((row) =>
      [own.providerId, bare.providerId].includes(row.providerId),
    );
    expect(rows).toHaveLength(2);
    expect(rows.find((row) => row.providerId === own.providerId)?.exceptions).toEqual([
      { date: '2027-03-24', closed: true },
    ]);
  });
});
