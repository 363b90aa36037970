/**
 * OWASP API1:2023 Broken Object Level Authorization. For every route that addresses something a
 * person owns by its id (a booking and its chat, review and payment; a reminder, device, data
 * export or session; a provider's service; an unpublished article), another user and a provider
 * who is no party to it are told it does not exist (404), and the object is exactly as it was
 * afterwards (checked through its owner or in the database). The table is checked against the
 * app's own OpenAPI document: a new non-admin route with an id in its path fails here until it is
 * added to the table (or named below as not addressing anyone's object).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from '../bookings/helpers.js';
import { drainOutbox } from '../helpers/payments.js';
import type { TestUser } from '../helpers/users.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One route that reaches an owned object by id, and how to tell the object was not touched. */
interface OwnedRoute {
  /** As the OpenAPI document spells it: `METHOD /api/v1/path/{param}`. */
  route: string;
  params: () => Record<string, string>;
  body?: () => object;
  /** Who must not reach it: people who are not the owner (nor a party to it). */
  intruders: () => TestUser[];
  /** What the route documents for someone else's object. */
  status?: 404 | 403;
  /** Fails when the object changed (read through its owner or the database). */
  unchanged: () => Promise<void>;
}

/**
 * Non-admin operations with a path parameter that address no one's object, and why. Everything
 * else with a parameter outside /admin (admins may reach every object: api5 covers who is an
 * admin) must be in OWNED_ROUTES.
 */
const NOT_OWNED: Record<string, string> = {
  'GET /api/v1/providers/{id}': 'a public provider page (the shop window)',
  'GET /api/v1/providers/{id}/slots': "a public provider's free times",
  'GET /api/v1/providers/{id}/reviews': "a public provider's visible reviews",
  'PUT /api/v1/me/consents/{purpose}': "a purpose name from a fixed list; always the caller's own consent",
  'GET /api/v1/services/{id}': 'a public service page of a verified provider (the shop window)',
  'GET /api/v1/media/files/{key}': 'a public image file named by the digest of its bytes (served to anyone, for a CDN)',
};

let f: BookingsFixture;
let providerA: TestProvider & { paidServiceId: string };
let providerB: TestProvider;
let customerA: TestUser;
let customerB: TestUser;
/** customerA's pending booking with providerA (Tuesday 23 March, 09:00 UTC), with one chat message. */
let booking: { id: string };
/** customerA's completed visit with providerA, reviewed by customerA. */
let visit: { id: string };
let reviewId: string;
/** customerA's payment for a booking of providerA's paid service, waiting for the card step. */
let paymentId: string;
let reminderId: string;
let deviceId: string;
let exportId: string;
let sessionId: string;
let draft: { id: string; slug: string };
let mediaId: string;
let waitlistId: string;

const expectStatus = (response: { statusCode: number; body: string }, status: number) => {
  expect(response.statusCode, response.body).toBe(status);
  return response.body ? JSON.parse(response.body) : undefined;
};

/** GET under /api/v1 as `user`; the data of a 200. */
const read = async (user: TestUser, url: string) => expectStatus(await f.send('GET', url, user), 200).data;

const one = async <T>(query: ReturnType<typeof sql>): Promise<T> => {
  const [row] = await queryRows<T>(f.app.platform.db, query);
  return row as T;
};

const bookingState = (id: string) =>
  one<{ status: string; cancelled_by: string | null; updated_at: string }>(
    sql`select status, cancelled_by, updated_at::text from bookings where id = ${id}`,
  );

beforeAll(async () => {
  f = await setUpBookings();
  const [a, b, ca, cb] = await Promise.all([
    createProvider(f),
    createProvider(f),
    createCustomer(f),
    createCustomer(f),
  ]);
  [providerB, customerA, customerB] = [b, ca, cb];

  // providerA also sells a service paid online (payouts on the simulated gateway are ready at once).
  expectStatus(await f.send('POST', '/provider/payouts/onboarding', a.user), 200);
  await drainOutbox(f);
  const paid = expectStatus(
    await f.send('POST', '/provider/services', a.user, {
      name: 'Sports massage',
      category_id: f.categoryId,
      duration_minutes: 60,
      price_minor: 6000,
      currency: 'EUR',
      payment: 'required',
    }),
    201,
  ).data;
  providerA = { ...a, paidServiceId: paid.id };

  // A completed, reviewed visit (the clock moves past it), then back to the start for the rest.
  visit = await completedVisit(f, customerA, providerA, '2027-03-22T09:00:00Z');
  reviewId = expectStatus(
    await f.send('POST', `/bookings/${visit.id}/review`, customerA, { rating: 4, text: 'Good hands' }),
    201,
  ).data.id;
  await f.resetClock(customerA, customerB, providerA.user, providerB.user);

  booking = await booked(f, customerA, providerA, '2027-03-23T09:00:00Z');
  expectStatus(await f.send('POST', `/bookings/${booking.id}/messages`, customerA, { text: 'Is there parking?' }), 201);

  const paidBooking = expectStatus(
    await f.send('POST', '/bookings', customerA, {
      service_id: providerA.paidServiceId,
      starts_at: '2027-03-23T14:00:00Z',
    }),
    201,
  ).data;
  paymentId = paidBooking.payment.id;

  reminderId = expectStatus(
    await f.send('POST', '/me/reminders', customerA, {
      title: 'Book a screening',
      starts_at: '2027-04-01T09:00:00Z',
      time_zone: 'Europe/London',
      channel: 'email',
    }),
    201,
  ).data.id;
  deviceId = expectStatus(
    await f.send('POST', '/me/devices', customerA, {
      kind: 'fcm',
      platform: 'android',
      token: 'fcm-token-of-customer-a-0123456789',
    }),
    201,
  ).data.id;
  exportId = expectStatus(await f.send('POST', '/me/data-export', customerA, {}), 202).data.id;
  const sessions = (await read(customerA, '/auth/sessions')) as { id: string; current: boolean }[];
  sessionId = (sessions.find((session) => session.current) ?? sessions[0])?.id as string;

  draft = expectStatus(
    await f.send('POST', '/admin/content', f.admin, {
      type: 'article',
      slug: 'unpublished-screening-guide',
      title: 'Unpublished screening guide',
      summary: 'Not out yet',
      body: 'Still being written.',
      status: 'draft',
    }),
    201,
  ).data;

  // customerA waits for a time with providerA on Thursday.
  waitlistId = expectStatus(
    await f.send('POST', '/waitlist', customerA, {
      provider_id: providerA.providerId,
      service_id: providerA.serviceId,
      day: '2027-03-25',
    }),
    201,
  ).data.id;

  // An uploaded image of customerA's (the row as an upload leaves it; its files are not needed here).
  mediaId = f.app.platform.ids();
  await f.app.platform.db.execute(
    sql`insert into media (id, user_id, purpose, source_type, source_bytes, width, height, variants, keys, created_at)
        values (${mediaId}, ${customerA.id}, 'avatar', 'image/png', 100, 10, 10,
                '{"thumbnail":[],"card":[],"full":[]}'::jsonb, array[]::text[], now())`,
  );
});

afterAll(async () => {
  await f?.close();
});

const mediaRow = () => one<{ n: number }>(sql`select count(*)::int as n from media where id = ${mediaId}`);

const strangers = () => [customerB, providerB.user];

const waitlistUnchanged = async () => {
  const entry = await one<{ status: string; booking_id: string | null }>(
    sql`select status, booking_id from waitlist_entries where id = ${waitlistId}`,
  );
  expect(entry).toEqual({ status: 'waiting', booking_id: null });
};

const bookingUnchanged = (id: () => string, status: string) => async () => {
  const before = await bookingState(id());
  expect(before.status).toBe(status);
  expect((await read(customerA, `/bookings/${id()}`)).status).toBe(status);
  expect(await bookingState(id())).toEqual(before);
};

const chatUnchanged = async () => {
  const messages = (await read(customerA, `/bookings/${booking.id}/messages`)) as { text: string }[];
  expect(messages.map((message) => message.text)).toEqual(['Is there parking?']);
  const unread = await one<{ n: number }>(
    sql`select count(*)::int as n from booking_messages where booking_id = ${booking.id} and read_at is null`,
  );
  expect(unread.n).toBe(1);
};

const OWNED_ROUTES: OwnedRoute[] = [
  {
    route: 'GET /api/v1/bookings/{id}',
    params: () => ({ id: booking.id }),
    intruders: strangers,
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'POST /api/v1/bookings/{id}/cancel',
    params: () => ({ id: booking.id }),
    body: () => ({ reason: 'Not mine to cancel' }),
    intruders: strangers,
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'POST /api/v1/bookings/{id}/reschedule',
    params: () => ({ id: booking.id }),
    body: () => ({ starts_at: '2027-03-26T14:00:00Z' }),
    intruders: strangers,
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'POST /api/v1/bookings/{id}/confirm',
    params: () => ({ id: booking.id }),
    body: () => ({}),
    // Confirming is for providers (users get 403 by permission, api5): the other provider here.
    intruders: () => [providerB.user],
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'POST /api/v1/bookings/{id}/complete',
    params: () => ({ id: booking.id }),
    body: () => ({}),
    intruders: () => [providerB.user],
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'POST /api/v1/bookings/{id}/no-show',
    params: () => ({ id: booking.id }),
    body: () => ({}),
    intruders: () => [providerB.user],
    unchanged: bookingUnchanged(() => booking.id, 'pending'),
  },
  {
    route: 'GET /api/v1/bookings/{id}/messages',
    params: () => ({ id: booking.id }),
    intruders: strangers,
    unchanged: chatUnchanged,
  },
  {
    route: 'POST /api/v1/bookings/{id}/messages',
    params: () => ({ id: booking.id }),
    body: () => ({ text: 'Hello from a stranger' }),
    intruders: strangers,
    unchanged: chatUnchanged,
  },
  {
    route: 'POST /api/v1/bookings/{id}/messages/read',
    params: () => ({ id: booking.id }),
    body: () => ({}),
    intruders: strangers,
    unchanged: chatUnchanged,
  },
  {
    route: 'POST /api/v1/bookings/{id}/review',
    params: () => ({ id: visit.id }),
    body: () => ({ rating: 1, text: 'Terrible (I was never there)' }),
    intruders: strangers,
    unchanged: async () => {
      const rows = await queryRows<{ customer_id: string; rating: number }>(
        f.app.platform.db,
        sql`select customer_id, rating from reviews where booking_id = ${visit.id}`,
      );
      expect(rows).toEqual([{ customer_id: customerA.id, rating: 4 }]);
    },
  },
  {
    route: 'POST /api/v1/provider/reviews/{id}/reply',
    params: () => ({ id: reviewId }),
    body: () => ({ text: 'A reply from a provider who never met you' }),
    intruders: () => [providerB.user],
    unchanged: async () => {
      const row = await one<{ reply: string | null; replied_at: string | null }>(
        sql`select reply, replied_at::text from reviews where id = ${reviewId}`,
      );
      expect(row).toEqual({ reply: null, replied_at: null });
    },
  },
  {
    route: 'GET /api/v1/payments/{id}',
    params: () => ({ id: paymentId }),
    // Not even the provider who is paid: a payment is its payer's.
    intruders: () => [customerB, providerB.user],
    unchanged: async () => {
      expect(await read(customerA, `/payments/${paymentId}`)).toMatchObject({ id: paymentId });
    },
  },
  {
    route: 'POST /api/v1/payments/{id}/simulate',
    params: () => ({ id: paymentId }),
    body: () => ({ outcome: 'failed' }),
    intruders: () => [customerB, providerB.user, providerA.user],
    unchanged: async () => {
      const payment = await read(customerA, `/payments/${paymentId}`);
      expect(payment.status).not.toBe('failed');
      const row = await one<{ status: string; payer_id: string }>(
        sql`select status, payer_id from payments where id = ${paymentId}`,
      );
      expect(row).toEqual({ status: payment.status, payer_id: customerA.id });
    },
  },
  {
    route: 'GET /api/v1/me/reminders/{id}',
    params: () => ({ id: reminderId }),
    intruders: strangers,
    unchanged: async () => {
      expect(await read(customerA, `/me/reminders/${reminderId}`)).toMatchObject({
        title: 'Book a screening',
        active: true,
      });
    },
  },
  {
    route: 'PATCH /api/v1/me/reminders/{id}',
    params: () => ({ id: reminderId }),
    body: () => ({ title: 'Hijacked', active: false }),
    intruders: strangers,
    unchanged: async () => {
      expect(await read(customerA, `/me/reminders/${reminderId}`)).toMatchObject({
        title: 'Book a screening',
        active: true,
      });
    },
  },
  {
    route: 'DELETE /api/v1/me/reminders/{id}',
    params: () => ({ id: reminderId }),
    intruders: strangers,
    unchanged: async () => {
      expect(await read(customerA, `/me/reminders/${reminderId}`)).toMatchObject({ id: reminderId });
    },
  },
  {
    route: 'DELETE /api/v1/me/devices/{id}',
    params: () => ({ id: deviceId }),
    intruders: strangers,
    unchanged: async () => {
      const devices = (await read(customerA, '/me/devices')) as { id: string }[];
      expect(devices.map((device) => device.id)).toEqual([deviceId]);
    },
  },
  {
    route: 'GET /api/v1/me/data-export/{id}',
    params: () => ({ id: exportId }),
    intruders: strangers,
    unchanged: async () => {
      expect(await read(customerA, `/me/data-export/${exportId}`)).toMatchObject({ id: exportId });
    },
  },
  {
    route: 'DELETE /api/v1/auth/sessions/{id}',
    params: () => ({ id: sessionId }),
    intruders: strangers,
    unchanged: async () => {
      // The session still stands: its access token still works.
      expect((await read(customerA, '/me')).id).toBe(customerA.id);
      const row = await one<{ revoked_at: string | null }>(
        sql`select revoked_at::text from sessions where id = ${sessionId}`,
      );
      expect(row.revoked_at).toBeNull();
    },
  },
  {
    route: 'PATCH /api/v1/provider/services/{id}',
    params: () => ({ id: providerA.serviceId }),
    body: () => ({ price_minor: 1, name: 'Hijacked' }),
    intruders: () => [providerB.user],
    unchanged: async () => {
      const services = (await read(providerA.user, '/provider/services')) as {
        id: string;
        name: string;
        price_minor: number;
        is_active: boolean;
      }[];
      expect(services.find((service) => service.id === providerA.serviceId)).toMatchObject({
        name: 'Back massage',
        price_minor: 5000,
        is_active: true,
      });
    },
  },
  {
    route: 'DELETE /api/v1/provider/services/{id}',
    params: () => ({ id: providerA.serviceId }),
    intruders: () => [providerB.user],
    unchanged: async () => {
      const services = (await read(providerA.user, '/provider/services')) as { id: string; is_active: boolean }[];
      expect(services.find((service) => service.id === providerA.serviceId)?.is_active).toBe(true);
    },
  },
  {
    route: 'DELETE /api/v1/waitlist/{id}',
    params: () => ({ id: waitlistId }),
    intruders: strangers,
    unchanged: waitlistUnchanged,
  },
  {
    route: 'POST /api/v1/waitlist/{id}/accept',
    params: () => ({ id: waitlistId }),
    body: () => ({}),
    intruders: strangers,
    unchanged: waitlistUnchanged,
  },
  {
    route: 'DELETE /api/v1/media/{id}',
    params: () => ({ id: mediaId }),
    intruders: strangers,
    unchanged: async () => expect((await mediaRow()).n).toBe(1),
  },
  {
    route: 'GET /api/v1/content/{slug}',
    params: () => ({ slug: draft.slug }),
    // A draft is its authors' (the admins'): readers, providers included, do not see it exist.
    intruders: strangers,
    unchanged: async () => {
      const row = await one<{ status: string }>(sql`select status from content_items where id = ${draft.id}`);
      expect(row.status).toBe('draft');
    },
  },
];

const pathOf = (route: string) => route.slice(route.indexOf(' ') + 1);
const fill = (path: string, params: Record<string, string>) =>
  path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(params[name] as string));

describe('the table covers every non-admin route with an id in its path', () => {
  it('lists each such operation of the OpenAPI document as owned (tested below) or as addressing no one', () => {
    const spec = f.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const withIds = Object.entries(spec.paths).flatMap(([path, operations]) =>
      path.includes('{') && !path.includes('/admin/')
        ? Object.keys(operations)
            .filter((method) => method !== 'head')
            .map((method) => `${method.toUpperCase()} ${path}`)
        : [],
    );
    const listed = new Set([...OWNED_ROUTES.map((entry) => entry.route), ...Object.keys(NOT_OWNED)]);
    const missing = withIds.filter((operation) => !listed.has(operation));
    expect(missing, 'add these to OWNED_ROUTES (or NOT_OWNED, saying why)').toEqual([]);
    const stale = [...listed].filter((operation) => !withIds.includes(operation));
    expect(stale, 'these are no longer in the API').toEqual([]);
  });
});

describe("someone else's object is not found, and stays as it was", () => {
  it.each(OWNED_ROUTES.map((entry) => [entry.route, entry] as const))('%s', async (route, entry) => {
    const method = route.slice(0, route.indexOf(' ')) as Method;
    const url = fill(pathOf(route), entry.params());
    const expected = entry.status ?? 404;
    for (const intruder of entry.intruders()) {
      const response = await f.app.inject({
        method,
        url,
        headers: intruder.headers,
        ...(entry.body ? { payload: entry.body() } : {}),
      });
      const who = intruder === customerB ? 'another user' : 'a provider who is no party';
      expect(response.statusCode, `${who}: ${response.body}`).toBe(expected);
      const body = response.json();
      expect(body.code, who).toBe(expected === 404 ? 'NOT_FOUND' : 'FORBIDDEN');
      // The answer carries nothing of the object.
      expect(body.data).toBeUndefined();
    }
    await entry.unchanged();
  });

  it('answers the same for an id that does not exist, so existence cannot be probed', async () => {
    const ghost = '00000000-0000-4000-8000-000000000000';
    const real = await f.send('GET', `/bookings/${booking.id}`, customerB);
    const none = await f.send('GET', `/bookings/${ghost}`, customerB);
    expect([real.statusCode, none.statusCode]).toEqual([404, 404]);
    expect(real.json().code).toBe(none.json().code);
    expect(real.json().message).toBe(none.json().message);
  });
});

describe('lists show only the caller’s own objects', () => {
  it("another user's lists hold none of customerA's bookings, reminders, devices or sessions", async () => {
    const bookings = (await read(customerB, '/me/bookings')) as { id: string }[];
    expect(bookings.map((entry) => entry.id)).not.toContain(booking.id);
    expect(await read(customerB, '/me/reminders')).toEqual([]);
    expect(await read(customerB, '/me/devices')).toEqual([]);
    const sessions = (await read(customerB, '/auth/sessions')) as { id: string }[];
    expect(sessions.map((session) => session.id)).not.toContain(sessionId);
  });

  it("another provider's calendar, services and earnings hold nothing of providerA's", async () => {
    const calendar = (await read(providerB.user, '/provider/bookings?from=2027-03-01T00:00:00Z')) as { id: string }[];
    expect(calendar.map((entry) => entry.id)).not.toContain(booking.id);
    expect(calendar.map((entry) => entry.id)).not.toContain(visit.id);
    const services = (await read(providerB.user, '/provider/services')) as { id: string }[];
    expect(services.map((service) => service.id)).toEqual([providerB.serviceId]);
    const earnings = await read(providerB.user, '/provider/earnings');
    expect(JSON.stringify(earnings)).not.toContain(paymentId);
  });
});
