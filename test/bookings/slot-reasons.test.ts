import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bookings } from '../../src/modules/bookings/bookings.tables.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  book,
  booked,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;

beforeAll(async () => {
  f = await setUpBookings();
});

afterAll(async () => {
  await f?.close();
});

/**
 * 409 SLOT_UNAVAILABLE says why: one detail on `body.starts_at` whose `reason` a client can switch
 * on and whose message (also the answer's) says what to do. The clock is at START, Monday 22 March
 * 2027 06:00 UTC; the provider works weekdays 09:00–17:00 London time (GMT until the 28th), lunch
 * 12:00–13:00, closed on Wednesday 24th; the service is 60 minutes plus a 15-minute buffer.
 */
describe('POST /bookings: why a time cannot be booked', () => {
  let provider: TestProvider;
  let customer: TestUser;

  beforeEach(async () => {
    await f.resetClock();
    [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  });

  const bookingsOfProvider = (of: TestProvider) =>
    f.app.platform.db.select().from(bookings).where(eq(bookings.providerId, of.providerId));

  /** The refusal of `startsAt` for `reason`, whose message matches `says`; nothing is stored. */
  const expectRefusal = async (startsAt: string, reason: string, says: RegExp, of = provider) => {
    const before = (await bookingsOfProvider(of)).length;
    const res = await book(f, customer, of, startsAt);
    expect(res.statusCode, `${startsAt}: ${res.body}`).toBe(409);
    const body = res.json();
    expect(body).toMatchObject({ success: false, code: 'SLOT_UNAVAILABLE' });
    expect(body.message).toMatch(says);
    expect(body.message).toMatch(/GET \/providers\/:id\/slots/);
    expect(body.details).toEqual([{ field: 'body.starts_at', message: body.message, reason }]);
    expect(await bookingsOfProvider(of)).toHaveLength(before);
  };

  it('past: a time already gone', async () => {
    await expectRefusal('2027-03-22T05:00:00Z', 'past', /already passed/);
    await expectRefusal('2027-03-22T06:00:00Z', 'past', /already passed/);
  });

  it('notice: a future time closer than the minimum notice (2 hours)', async () => {
    await expectRefusal('2027-03-22T07:45:00Z', 'notice', /at least 2 hours' notice/);
  });

  it('beyond_horizon: further ahead than bookings open (60 days)', async () => {
    // Monday 24 May 2027 09:00 BST, 63 days after START: open hours, on the grid, too far.
    await expectRefusal('2027-05-24T08:00:00Z', 'beyond_horizon', /at most 60 days ahead/);
  });

  it("off_grid: a start between the 15-minute marks of the provider's local time, or with seconds", async () => {
    await expectRefusal('2027-03-25T09:10:00Z', 'off_grid', /15-minute grid/);
    await expectRefusal('2027-03-25T09:15:30Z', 'off_grid', /15-minute grid/);
  });

  it('outside_hours: a break, a closed day, after hours, a visit running past closing, or no schedule', async () => {
    for (const at of [
      '2027-03-25T12:00:00Z', // lunch
      '2027-03-24T10:00:00Z', // closed on Wednesday 24th
      '2027-03-25T19:00:00Z', // after hours
      '2027-03-25T16:30:00Z', // a 60-minute visit would end at 17:30
      '2027-03-27T10:00:00Z', // Saturday
    ]) {
      await expectRefusal(at, 'outside_hours', /not open for the whole visit/);
    }
    const unscheduled = await createProvider(f, { schedule: null });
    await expectRefusal('2027-03-25T10:00:00Z', 'outside_hours', /not open for the whole visit/, unscheduled);
  });

  it('taken: another active booking holds the time or its buffer (the exclusion constraint)', async () => {
    const other = await createCustomer(f);
    await booked(f, other, provider, '2027-03-25T09:00:00Z');
    await expectRefusal('2027-03-25T09:00:00Z', 'taken', /Another booking already holds this time/);
    // 10:00 is free in the schedule but inside the first visit's buffer (until 10:15).
    await expectRefusal('2027-03-25T10:00:00Z', 'taken', /Another booking already holds this time/);
    expect((await book(f, customer, provider, '2027-03-25T10:15:00Z')).statusCode).toBe(201);
  });

  it('documents `reason` on the error detail in the OpenAPI document', async () => {
    const doc = (await f.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const detail = JSON.stringify(doc.components.schemas.ErrorResponse.properties.details);
    for (const reason of ['past', 'notice', 'beyond_horizon', 'off_grid', 'outside_hours', 'taken']) {
      expect(detail).toContain(`"${reason}"`);
    }
  });
});
