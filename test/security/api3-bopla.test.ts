/**
 * OWASP API3:2023 Broken Object Property Level Authorization. Writes: a field the caller may not
 * set (role, plan, is_active, a booking's status or price, a provider's verification…) is refused
 * with 400 VALIDATION_ERROR naming it and nothing is stored, and every JSON body in the API refuses
 * unknown fields (walked over the OpenAPI document). Reads: no response schema documents a password
 * or token hash, and no answer to a user, a provider or an anonymous caller carries a password
 * hash, a stored token hash, or anyone else's email or phone number (walked over every GET route,
 * the provider's view of a customer's booking and the public provider page and reviews included).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import type { AccessRule } from '../../src/shared/access-rules.js';
import type { Role } from '../../src/shared/actor.js';
import { can } from '../../src/shared/permissions.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  setUpBookings,
  type TestProvider,
} from '../bookings/helpers.js';
import type { TestUser } from '../helpers/users.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

let f: BookingsFixture;
let provider: TestProvider;
let customerA: TestUser;
let customerB: TestUser;
let booking: { id: string };
let visit: { id: string };
const phones = new Map<string, string>();

const expectStatus = (response: { statusCode: number; body: string }, status: number) => {
  expect(response.statusCode, response.body).toBe(status);
  return response.body ? JSON.parse(response.body) : undefined;
};

const userRow = async (id: string) =>
  (
    await queryRows<{ role: string; plan: string; is_active: boolean; email: string; name: string | null }>(
      f.app.platform.db,
      sql`select role, plan, is_active, email, name from users where id = ${id}`,
    )
  )[0];

/** The refusal of a field nobody may set: 400 VALIDATION_ERROR with `body.<field>` among its details. */
const expectRefusedField = (response: { statusCode: number; body: string }, field: string, where: string) => {
  expect(response.statusCode, `${where}: ${response.body}`).toBe(400);
  const body = JSON.parse(response.body);
  expect(body.code, where).toBe('VALIDATION_ERROR');
  expect(body.details, where).toEqual(
    expect.arrayContaining([{ field: `body.${field}`, message: 'is not an accepted field' }]),
  );
};

beforeAll(async () => {
  f = await setUpBookings();
  [provider, customerA, customerB] = await Promise.all([createProvider(f), createCustomer(f), createCustomer(f)]);
  // Everyone has a phone number, so a leak of one would show.
  for (const [index, user] of [customerA, customerB, provider.user, f.admin].entries()) {
    const phone = `+4477009${String(10_000 + index).slice(-5)}`;
    expectStatus(await f.send('PATCH', '/me', user, { phone, name: `Person ${index}` }), 200);
    phones.set(user.id, phone);
  }
  visit = await completedVisit(f, customerA, provider, '2027-03-22T09:00:00Z');
  expectStatus(await f.send('POST', `/bookings/${visit.id}/review`, customerA, { rating: 5, text: 'Lovely' }), 201);
  await f.resetClock(customerA, customerB, provider.user);
  booking = await booked(f, customerA, provider, '2027-03-23T09:00:00Z');
  expectStatus(await f.send('POST', `/bookings/${booking.id}/messages`, customerA, { text: 'See you then' }), 201);
});

afterAll(async () => {
  await f?.close();
});

describe('mass assignment', () => {
  it.each(['role', 'plan', 'is_active', 'email_verified', 'email', 'password_hash', 'id'])(
    'PATCH /me refuses %s with 400 VALIDATION_ERROR naming it, and changes nothing',
    async (field) => {
      const before = await userRow(customerA.id);
      const value =
        { role: 'admin', plan: 'premium', is_active: true, email_verified: true }[field] ?? 'x@example.test';
      // A legitimate change alongside: the request is refused as a whole.
      const response = await f.send('PATCH', '/me', customerA, { name: 'Renamed', [field]: value });
      expectRefusedField(response, field, `PATCH /me ${field}`);
      expect(await userRow(customerA.id)).toEqual(before);
      const me = expectStatus(await f.send('GET', '/me', customerA), 200).data;
      expect(me).toMatchObject({ role: 'user', plan: 'free', is_active: true, name: 'Person 0' });
    },
  );

  it('sign-up refuses a role or a plan, and no account is made', async () => {
    for (const [field, value] of [
      ['role', 'admin'],
      ['plan', 'premium'],
      ['is_active', true],
    ] as const) {
      const email = `mass-${field.replace('_', '-')}-${randomUUID()}@example.test`;
      const response = await f.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        payload: { email, password: 'A-long-enough-passphrase-1', [field]: value },
      });
      expectRefusedField(response, field, `signup ${field}`);
      const rows = await queryRows(f.app.platform.db, sql`select id from users where email = ${email}`);
      expect(rows).toEqual([]);
    }
  });

  const privileged: { name: string; method: Method; url: () => string; who: () => TestUser; body: () => object }[] = [
    {
      name: 'a booking made as confirmed, cheaper, for someone else',
      method: 'POST',
      url: () => '/bookings',
      who: () => customerB,
      body: () => ({
        service_id: provider.serviceId,
        starts_at: '2027-03-23T13:00:00Z',
        status: 'confirmed',
        price_minor: 1,
        customer_id: customerA.id,
        payment_status: 'succeeded',
      }),
    },
    {
      name: 'a provider verifying themselves or setting their rating',
      method: 'PATCH',
      url: () => '/provider/profile',
      who: () => provider.user,
      body: () => ({ verification: 'verified', rating_avg: 5, rating_count: 1000, user_id: customerA.id }),
    },
    {
      name: 'a review posted as visible for another customer',
      method: 'POST',
      url: () => `/bookings/${visit.id}/review`,
      who: () => customerA,
      body: () => ({ rating: 5, text: 'Again', visible: true, customer_id: customerB.id }),
    },
    {
      name: 'a reminder with priority for another user',
      method: 'POST',
      url: () => '/me/reminders',
      who: () => customerB,
      body: () => ({
        title: 'Mine',
        starts_at: '2027-04-01T09:00:00Z',
        time_zone: 'Europe/London',
        channel: 'email',
        priority: true,
        user_id: customerA.id,
      }),
    },
    {
      name: 'a chat message sent as the provider',
      method: 'POST',
      url: () => `/bookings/${booking.id}/messages`,
      who: () => customerA,
      body: () => ({ text: 'From "the provider"', sender: 'provider', sender_id: provider.user.id }),
    },
  ];

  it.each(privileged.map((entry) => [entry.name, entry] as const))('refuses %s', async (_name, entry) => {
    const body = entry.body();
    const before = await queryRows(
      f.app.platform.db,
      sql`select (select count(*)::int from bookings) as bookings, (select count(*)::int from reviews) as reviews,
                 (select count(*)::int from reminders) as reminders, (select count(*)::int from booking_messages) as messages,
                 (select verification from providers where id = ${provider.providerId}) as verification`,
    );
    const response = await f.send(entry.method as 'POST', entry.url(), entry.who(), body);
    expect(response.statusCode, response.body).toBe(400);
    const refused = (JSON.parse(response.body).details as { field: string }[]).map((detail) => detail.field);
    // Every field the caller may not set is named (the legitimate ones are not).
    const extra = Object.keys(body).filter((field) => refused.includes(`body.${field}`));
    expect(extra.length, JSON.stringify(refused)).toBeGreaterThan(0);
    const after = await queryRows(
      f.app.platform.db,
      sql`select (select count(*)::int from bookings) as bookings, (select count(*)::int from reviews) as reviews,
                 (select count(*)::int from reminders) as reminders, (select count(*)::int from booking_messages) as messages,
                 (select verification from providers where id = ${provider.providerId}) as verification`,
    );
    expect(after).toEqual(before);
  });

  it('every JSON request body in the API refuses an unknown field with 400 naming it', async () => {
    const spec = f.app.swagger() as {
      paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
    };
    const rules = new Map(f.app.guardedRoutes.map((route) => [`${route.method} ${route.url}`, route.rule]));
    const callers: Record<Role, TestUser> = { user: customerB, provider: provider.user, admin: f.admin };
    const callerFor = (rule: AccessRule | undefined): TestUser | undefined => {
      if (!rule) return undefined;
      const role = (['user', 'provider', 'admin'] as const).find(
        (candidate) =>
          (!rule.roles || rule.roles.includes(candidate)) && (!rule.permission || can(candidate, rule.permission)),
      );
      return role ? callers[role] : undefined;
    };
    const concrete = (path: string) =>
      path.replace(/\{(\w+)\}/g, (_match, name: string) =>
        name === 'key' ? 'walk_flag' : name === 'purpose' ? 'analytics' : name === 'slug' ? 'a-slug' : randomUUID(),
      );
    let walked = 0;
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!operation.requestBody?.content?.['application/json']) continue;
        const pattern = `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
        // Gateways' webhooks: the body is the gateway's, verified by signature, not a schema.
        if (pattern.startsWith('POST /api/v1/webhooks/')) continue;
        const caller = callerFor(rules.get(pattern));
        const response = await f.app.inject({
          method: method.toUpperCase() as Method,
          url: concrete(path),
          headers: caller?.headers ?? {},
          payload: { unexpected_field_probe: true },
        });
        expectRefusedField(response, 'unexpected_field_probe', pattern);
        walked += 1;
      }
    }
    expect(walked).toBeGreaterThan(40);
    // The walk ended nobody's session (logout and DELETE /me were refused before doing anything).
    for (const user of [customerB, provider.user, f.admin]) {
      expect((await f.send('GET', '/me', user)).statusCode).toBe(200);
    }
  });
});

/** Properties whose names look like secrets but are not, and why. */
const NOT_SECRET: Record<string, string> = {
  'GET /api/v1/admin/audit: hash': "the audit log's tamper-evident chain (admins only), not a credential",
  'GET /api/v1/admin/audit: prev_hash': "the audit log's tamper-evident chain (admins only), not a credential",
};

describe('what responses expose', () => {
  it('no response schema in the OpenAPI document has a password, hash or secret property', () => {
    const spec = f.app.swagger() as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components?: { schemas?: Record<string, unknown> };
    };
    const found: string[] = [];
    const walk = (node: unknown, where: string, seen: Set<unknown>) => {
      if (node === null || typeof node !== 'object' || seen.has(node)) return;
      seen.add(node);
      const properties = (node as { properties?: Record<string, unknown> }).properties;
      if (properties) {
        for (const name of Object.keys(properties)) {
          const entry = `${where}: ${name}`;
          if (
            /password|hash|secret_token|webhook_secret|private_key|auth_token/i.test(name) &&
            !(entry in NOT_SECRET)
          ) {
            found.push(entry);
          }
        }
      }
      for (const value of Object.values(node)) walk(value, where, seen);
    };
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        walk(operation.responses, `${method.toUpperCase()} ${path}`, new Set());
      }
    }
    walk(spec.components?.schemas, 'components', new Set());
    expect(found).toEqual([]);
  });

  it("no answer to a user, a provider or an anonymous caller carries a hash, a token hash or another person's email or phone", async () => {
    const users = await queryRows<{ id: string; email: string; password_hash: string }>(
      f.app.platform.db,
      sql`select id, email, password_hash from users`,
    );
    const tokenHashes = (
      await queryRows<{ token_hash: string }>(f.app.platform.db, sql`select token_hash from refresh_tokens`)
    ).map((row) => row.token_hash);
    expect(tokenHashes.length).toBeGreaterThan(0);
    const spec = f.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const withIds: Record<string, () => string> = {
      '/api/v1/bookings/{id}': () => booking.id,
      '/api/v1/bookings/{id}/messages': () => booking.id,
      '/api/v1/providers/{id}': () => provider.providerId,
      '/api/v1/providers/{id}/reviews': () => provider.providerId,
    };
    const urls = Object.entries(spec.paths)
      // /metrics is Prometheus text about the process (its protection in production: api8).
      .filter(([path, operations]) => 'get' in operations && !path.includes('/admin/') && path !== '/metrics')
      .flatMap(([path]) => {
        if (!path.includes('{')) return [path];
        const id = withIds[path];
        return id ? [path.replace('{id}', id())] : [];
      });
    urls.push(`/api/v1/providers/${provider.providerId}/slots?service_id=${provider.serviceId}`);
    urls.push('/api/v1/services/search?q=massage');

    const callers: { name: string; user?: TestUser }[] = [
      { name: 'customerA', user: customerA },
      { name: 'customerB', user: customerB },
      { name: 'provider', user: provider.user },
      { name: 'anonymous' },
    ];
    let checked = 0;
    for (const caller of callers) {
      const secrets = [
        ...users.flatMap((user) => [user.password_hash, user.password_hash.split('$').pop() as string]),
        ...tokenHashes,
        ...users.filter((user) => user.id !== caller.user?.id).map((user) => user.email),
        ...[...phones].filter(([id]) => id !== caller.user?.id).map(([, phone]) => phone),
      ];
      for (const url of urls) {
        const response = await f.app.inject({ method: 'GET', url, headers: caller.user?.headers ?? {} });
        if (response.statusCode >= 500) throw new Error(`${caller.name} GET ${url}: ${response.statusCode}`);
        const body = response.body.toLowerCase();
        for (const secret of secrets) {
          expect(body.includes(secret.toLowerCase()), `${caller.name} GET ${url} carries ${secret}`).toBe(false);
        }
        expect(body, `${caller.name} GET ${url}`).not.toMatch(/password_hash|token_hash|\$argon2/);
        if (response.statusCode === 200) checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it("the provider's view of a customer's booking shows the customer's display name, never their email or phone", async () => {
    const detail = expectStatus(await f.send('GET', `/bookings/${booking.id}`, provider.user), 200).data;
    expect(detail.customer_id).toBe(customerA.id);
    const calendar = expectStatus(
      await f.send('GET', '/provider/bookings?from=2027-03-22T00:00:00Z', provider.user),
      200,
    ).data as Record<string, unknown>[];
    expect(calendar.map((entry) => entry.id)).toContain(booking.id);
    // The display name is what a provider needs to greet the customer (issue 19); nothing that reaches them.
    const shown = new Set(['display_name', 'customer_name', 'service_name', 'provider_name']);
    for (const answer of [detail, ...calendar]) {
      const fields = Object.keys(answer);
      expect(fields.filter((field) => /email|phone|name$/.test(field) && !shown.has(field))).toEqual([]);
      expect(JSON.stringify(answer)).not.toMatch(/@example\.test/);
    }
  });

  it('the public provider page and reviews show neither the account behind the provider nor the reviewer', async () => {
    const page = expectStatus(await f.send('GET', `/providers/${provider.providerId}`), 200).data;
    expect(Object.keys(page)).not.toEqual(expect.arrayContaining(['user_id']));
    expect(page).not.toHaveProperty('user_id');
    expect(page).not.toHaveProperty('verification');
    expect(page).not.toHaveProperty('auto_confirm');
    const reviews = expectStatus(await f.send('GET', `/providers/${provider.providerId}/reviews`), 200).data as Record<
      string,
      unknown
    >[];
    expect(reviews).toHaveLength(1);
    for (const review of reviews) {
      expect(review).not.toHaveProperty('customer_id');
      expect(review).not.toHaveProperty('visible');
      expect(review).not.toHaveProperty('hidden_reason');
    }
  });
});
