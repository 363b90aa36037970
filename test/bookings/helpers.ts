import { sql } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { queryRows } from '../../src/infra/db/client.js';
import type { Schedule } from '../../src/modules/bookings/index.js';
import type { Actor } from '../../src/shared/actor.js';
import { buildTestApp, createTestClock, type TestAppOptions } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** Monday 22 March 2027, 06:00 UTC (GMT in London; the clocks go forward on the 28th). */
export const START = new Date('2027-03-22T06:00:00Z');

/** Weekdays 09:00–17:00 London time, lunch 12:00–13:00, closed on Wednesday 24 March. */
export const WEEKDAY_SCHEDULE: Schedule = {
  time_zone: 'Europe/London',
  weekly: [1, 2, 3, 4, 5].map((day) => ({ day_of_week: day, start: '09:00', end: '17:00' })),
  breaks: [1, 2, 3, 4, 5].map((day) => ({ day_of_week: day, start: '12:00', end: '13:00' })),
  exceptions: [{ date: '2027-03-24', closed: true }],
};

export type TestClock = ReturnType<typeof createTestClock>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH';

/** Sends one request under /api/v1, as `user` or anonymously. */
export type Send = (
  method: Method,
  url: string,
  user?: TestUser,
  payload?: object,
  headers?: Record<string, string>,
) => Promise<LightMyRequestResponse>;

export interface BookingsFixture {
  app: FastifyInstance;
  clock: TestClock;
  send: Send;
  /** Verifies providers and moderates; signed in again by `resetClock`. */
  admin: TestUser;
  /** The category every provider's service is filed under. */
  categoryId: string;
  /** Moves the clock and signs `users` and the admin in again (access tokens expire with the clock). */
  moveClock(to: Date, ...users: TestUser[]): Promise<void>;
  /** Puts the clock back to START, signing the admin and `shared` in again if it had moved. */
  resetClock(...shared: TestUser[]): Promise<void>;
  close(): Promise<void>;
}

const expectStatus = (response: LightMyRequestResponse, status: number, what: string) => {
  if (response.statusCode !== status) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
  return response.json().data;
};

/**
 * The app of one test file, its clock at START, with an admin and a category. Tests only read
 * these; each test makes its own providers, customers and bookings.
 */
export async function setUpBookings(
  options: Pick<TestAppOptions, 'kv' | 'env' | 'redisPrefix' | 'database'> & { clock?: TestClock } = {},
): Promise<BookingsFixture> {
  const clock = options.clock ?? createTestClock(START);
  clock.set(START);
  const t = await buildTestApp({ ...options, clock });
  const { app } = t;
  const send: Send = (method, url, user, payload, headers = {}) =>
    app.inject({ method, url: `/api/v1${url}`, headers: { ...user?.headers, ...headers }, payload });
  const admin = await createUser(app, { role: 'admin' });
  const category = expectStatus(
    await send('POST', '/admin/categories', admin, { slug: `massage-${admin.id}`, name: 'Massage' }),
    201,
    'category',
  );
  let moved = false;
  return {
    app,
    clock,
    send,
    admin,
    categoryId: category.id,
    async moveClock(to, ...users) {
      moved = true;
      clock.set(to);
      await signIn(app, admin, ...users);
    },
    async resetClock(...shared) {
      if (!moved) return;
      moved = false;
      clock.set(START);
      await signIn(app, admin, ...shared);
    },
    close: () => t.close(),
  };
}

/** Signs users in again: after the clock moves, their access tokens have expired with it. */
export async function signIn(app: FastifyInstance, ...users: TestUser[]): Promise<void> {
  for (const user of users) {
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    user.headers = { authorization: `Bearer ${expectStatus(login, 200, 'login').access_token}` };
  }
}

export interface TestProvider {
  user: TestUser;
  providerId: string;
  /** Back massage: 60 minutes plus a 15-minute buffer, 50.00 EUR. */
  serviceId: string;
}

/**
 * A provider made the way providers are: a profile in London (PATCH /provider/profile), verified
 * by the admin, a 60-minute service with a 15-minute buffer, and WEEKDAY_SCHEDULE unless told
 * otherwise (`schedule: null` for none).
 */
export async function createProvider(
  fixture: BookingsFixture,
  options: { autoConfirm?: boolean; schedule?: Schedule | null } = {},
): Promise<TestProvider> {
  const { send } = fixture;
  const user = await createUser(fixture.app, { role: 'provider' });
  const profile = expectStatus(
    await send('PATCH', '/provider/profile', user, {
      display_name: `Provider ${user.id.slice(-4)}`,
      time_zone: 'Europe/London',
      auto_confirm: options.autoConfirm ?? false,
    }),
    200,
    'profile',
  );
  expectStatus(
    await send('PATCH', `/admin/providers/${profile.id}`, fixture.admin, { verification: 'verified' }),
    200,
    'verify',
  );
  const service = expectStatus(
    await send('POST', '/provider/services', user, {
      name: 'Back massage',
      category_id: fixture.categoryId,
      duration_minutes: 60,
      buffer_minutes: 15,
      price_minor: 5000,
      currency: 'EUR',
    }),
    201,
    'service',
  );
  const schedule = options.schedule === undefined ? WEEKDAY_SCHEDULE : options.schedule;
  if (schedule) expectStatus(await send('PUT', '/provider/availability', user, schedule), 200, 'schedule');
  return { user, providerId: profile.id, serviceId: service.id };
}

/** A signed-in user with the plain `user` role: a customer, or a stranger to someone else's booking. */
export const createCustomer = (fixture: BookingsFixture): Promise<TestUser> => createUser(fixture.app);

/** POST /bookings of the provider's service. */
export const book = (
  fixture: BookingsFixture,
  customer: TestUser,
  provider: TestProvider,
  startsAt: string,
  headers: Record<string, string> = {},
) => fixture.send('POST', '/bookings', customer, { service_id: provider.serviceId, starts_at: startsAt }, headers);

/** A booking that must be made: its body, or the test fails here. */
export async function booked(fixture: BookingsFixture, customer: TestUser, provider: TestProvider, startsAt: string) {
  return expectStatus(await book(fixture, customer, provider, startsAt), 201, `booking at ${startsAt}`) as {
    id: string;
    status: string;
    starts_at: string;
  };
}

/**
 * A visit that happened: booked at `startsAt`, confirmed, then (the clock an hour past the
 * start, everyone signed in again) completed.
 */
export async function completedVisit(
  fixture: BookingsFixture,
  customer: TestUser,
  provider: TestProvider,
  startsAt: string,
  others: TestUser[] = [],
) {
  const booking = await booked(fixture, customer, provider, startsAt);
  const { send } = fixture;
  expectStatus(await send('POST', `/bookings/${booking.id}/confirm`, provider.user), 200, 'confirm');
  await fixture.moveClock(new Date(Date.parse(startsAt) + 3_600_000), customer, provider.user, ...others);
  expectStatus(await send('POST', `/bookings/${booking.id}/complete`, provider.user), 200, 'complete');
  return booking;
}

/** The booking's messages of one template: who they went to, and how. */
export const messagesOf = (app: FastifyInstance, bookingId: string, template: string) =>
  queryRows<{ user_id: string; urgent: boolean; priority: boolean }>(
    app.platform.db,
    sql`select user_id, urgent, priority from notifications
        where template = ${template} and data->>'booking_id' = ${bookingId} order by user_id`,
  );

/** What the service tier acts as: the user, signed in. */
export const actorOf = (user: TestUser): Actor => ({
  id: user.id,
  role: user.role,
  sessionId: 'service-test',
  ip: null,
  correlationId: null,
});
