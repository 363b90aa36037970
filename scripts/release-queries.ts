// npx tsx scripts/release-queries.ts [--out <file>]: records every distinct SQL statement (text and
// one set of parameters) the app issues during a representative journey on a fresh embedded
// database, into test/fixtures/release-queries/<package.json version>.json. Run at each release:
// the file then stands for "the previous release" in test/platform/migration-compat.test.ts,
// which replays it against the schema the next migrations make (docs/migrations.md).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { PGlite } from '@electric-sql/pglite';
import { and, desc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../src/infra/clock.js';
import { createPglite, openDatabase } from '../src/infra/db/client.js';
import { MIGRATIONS_FOLDER, migrate } from '../src/infra/db/migrate.js';
import { createMemoryStore } from '../src/infra/kv/memory.js';
import { ensurePartitions } from '../src/modules/analytics/analytics.maintenance.js';
import { notifications } from '../src/modules/notifications/notifications.tables.js';
import { listOperations, type OpenApiDocument } from '../test/fuzz/openapi.js';
import { collectPools, PATH_PARAM_POOLS } from '../test/fuzz/pools.js';
import { buildTestApp, createTestClock } from '../test/helpers/app.js';
import { seedDemoData } from '../test/helpers/demo.js';
import { createUser } from '../test/helpers/users.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

export interface RecordedStatement {
  sql: string;
  /** JSON-safe: dates as ISO strings, bigints as strings, bytes as { "$bytea": base64 }. */
  params: unknown[];
}

export interface ReleaseQueries {
  release: string;
  migrations: { count: number; last: string | null };
  statements: RecordedStatement[];
}

/** Transaction control: the replay wraps each statement in its own savepoint instead. */
const TRANSACTION_CONTROL = /^\s*(begin|start transaction|commit|end|rollback|savepoint|release)\b/i;

function encodeParam(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return { $bytea: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(encodeParam);
  return value;
}

/** Keeps the first use of every distinct statement the instance runs, in the order first seen. */
function recordStatements(instance: PGlite): Map<string, unknown[]> {
  const seen = new Map<string, unknown[]>();
  const wrap = <T extends { query: PGlite['query'] }>(target: T) => {
    const original = target.query.bind(target) as (text: string, params?: unknown[], ...rest: unknown[]) => unknown;
    target.query = ((text: string, params?: unknown[], ...rest: unknown[]) => {
      const statement = text.trim();
      if (!seen.has(statement) && !TRANSACTION_CONTROL.test(statement)) {
        seen.set(statement, (params ?? []).map(encodeParam));
      }
      return original(text, params, ...rest);
    }) as T['query'];
  };
  wrap(instance);
  const transaction = instance.transaction.bind(instance);
  instance.transaction = ((fn: Parameters<PGlite['transaction']>[0]) =>
    transaction((tx) => {
      wrap(tx);
      return fn(tx);
    })) as PGlite['transaction'];
  return seen;
}

type Headers = { authorization: string };

/** One request of the journey; a status other than `status` stops the recording (the journey would lie). */
function caller(app: FastifyInstance) {
  return async (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: { as?: { headers: Headers }; body?: object; status: number },
  ) => {
    const response = await app.inject({
      method,
      url,
      headers: options.as?.headers ?? {},
      ...(options.body === undefined ? {} : { payload: options.body }),
    });
    if (response.statusCode !== options.status) {
      throw new Error(`${method} ${url}: ${response.statusCode} (expected ${options.status}) ${response.body}`);
    }
    return response.statusCode === 204 ? undefined : response.json();
  };
}

async function signIn(app: FastifyInstance, person: { email: string; password: string }) {
  const body = { email: person.email, password: person.password };
  const data = (await caller(app)('POST', '/api/v1/auth/login', { body, status: 200 })).data;
  return { ...person, headers: { authorization: `Bearer ${data.access_token}` } };
}

type Demo = Awaited<ReturnType<typeof seedDemoData>>;
type Clock = ReturnType<typeof createTestClock>;

/** Sign-up to erasure: sessions, profile, consents, devices, reminders, exports, flags, notices. */
async function accountsJourney(app: FastifyInstance, demo: Demo, clock: Clock) {
  const call = caller(app);
  const email = `release.${Date.now()}@example.test`;
  const password = 'Release-passphrase-2026';
  await call('POST', '/api/v1/auth/signup', { body: { email, password }, status: 201 });
  const login = await call('POST', '/api/v1/auth/login', { body: { email, password }, status: 200 });
  const refreshed = await call('POST', '/api/v1/auth/refresh', {
    body: { refresh_token: login.data.refresh_token },
    status: 200,
  });
  const me = { headers: { authorization: `Bearer ${refreshed.data.access_token}` } };
  await call('PATCH', '/api/v1/me', { as: me, body: { name: 'Release', phone: '+447700900111' }, status: 200 });
  await call('POST', '/api/v1/me/trial', { as: me, status: 201 });
  await call('PUT', '/api/v1/me/consents/whatsapp', { as: me, body: { granted: true }, status: 200 });
  const device = await call('POST', '/api/v1/me/devices', {
    as: me,
    body: { kind: 'fcm', platform: 'android', token: `release-token-${Date.now()}` },
    status: 201,
  });
  await call('DELETE', `/api/v1/me/devices/${device.data.id}`, { as: me, status: 204 });
  await call('PUT', '/api/v1/me/profile', {
    as: me,
    body: { age: 34, country: 'GB', diet_preference: 'vegetarian' },
    status: 200,
  });
  await call('PATCH', '/api/v1/me/profile', { as: me, body: { activity_level: 'active' }, status: 200 });
  await call('POST', '/api/v1/me/support-requests', {
    as: me,
    body: { subject: 'Reminder times', message: 'Can reminders follow my time zone?' },
    status: 201,
  });
  await call('POST', '/api/v1/me/data-export', { as: me, status: 202 });
  await call('POST', '/api/v1/events', {
    as: me,
    body: { events: [{ name: 'diet_plan_viewed', time: clock.now().toISOString(), device_id: 'r-1', properties: {} }] },
    status: 202,
  });
  const reminder = await call('POST', '/api/v1/me/reminders', {
    as: me,
    body: {
      title: 'Screening',
      starts_at: new Date(clock.now().getTime() + 7 * 86_400_000).toISOString(),
      time_zone: 'Europe/London',
      channel: 'email',
    },
    status: 201,
  });
  await call('PATCH', `/api/v1/me/reminders/${reminder.data.id}`, {
    as: me,
    body: { channel: 'whatsapp' },
    status: 200,
  });

  const other = await createUser(app);
  const sessions = await call('GET', '/api/v1/auth/sessions', { as: other, status: 200 });
  await call('DELETE', `/api/v1/auth/sessions/${sessions.data[0].id}`, { as: await signIn(app, other), status: 200 });
  await call('POST', '/api/v1/auth/password', {
    as: await signIn(app, other),
    body: { current_password: other.password, new_password: 'Another-passphrase-2026' },
    status: 200,
  });
  await call('POST', '/api/v1/auth/password-reset/request', { body: { email: other.email }, status: 202 });
  await app.platform.dispatcher.runOnce();
  const [reset] = await app.platform.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.userId, other.id), eq(notifications.template, 'password_reset')))
    .orderBy(desc(notifications.createdAt))
    .limit(1);
  await call('POST', '/api/v1/auth/password-reset/confirm', {
    body: { token: (reset?.data as { token?: string } | null)?.token, password: 'Reset-passphrase-2026' },
    status: 200,
  });
  const leaving = await createUser(app);
  await call('POST', '/api/v1/auth/logout', { as: leaving, status: 200 });
  await call('POST', '/api/v1/auth/logout-all', { as: await signIn(app, leaving), status: 200 });
  await call('DELETE', '/api/v1/me', {
    as: await signIn(app, leaving),
    body: { password: leaving.password },
    status: 200,
  });

  const managed = await createUser(app);
  await call('PATCH', `/api/v1/admin/users/${managed.id}`, { as: demo.admin, body: { plan: 'premium' }, status: 200 });
  await call('POST', `/api/v1/admin/users/${managed.id}/erase`, {
    as: demo.admin,
    body: { reason: 'asked by email' },
    status: 200,
  });
  await call('POST', '/api/v1/admin/consent-notices', {
    as: demo.admin,
    body: { purpose: 'analytics', title: 'Analytics, version 2', body: 'We count page views without names.' },
    status: 201,
  });
  const key = `release-${Date.now()}`;
  await call('POST', '/api/v1/admin/flags', {
    as: demo.admin,
    body: { key, description: 'release', enabled: true, rollout_percentage: 50 },
    status: 201,
  });
  await call('PATCH', `/api/v1/admin/flags/${key}`, {
    as: demo.admin,
    body: { description: 'released', rules: { plans: ['premium'] } },
    status: 200,
  });
}

/** Content, categories, a provider's profile, services and hours. */
async function catalogueJourney(app: FastifyInstance, demo: Demo) {
  const call = caller(app);
  const slug = `release-${Date.now()}`;
  const item = await call('POST', '/api/v1/admin/content', {
    as: demo.admin,
    body: {
      type: 'article',
      slug,
      title: 'Walking',
      summary: 'Why walking helps',
      body: 'Walk daily.',
      status: 'published',
    },
    status: 201,
  });
  await call('PATCH', `/api/v1/admin/content/${item.data.id}`, {
    as: demo.admin,
    body: { title: 'Walking more' },
    status: 200,
  });
  const category = await call('POST', '/api/v1/admin/categories', {
    as: demo.admin,
    body: { slug, name: 'Walking groups' },
    status: 201,
  });
  await call('PATCH', `/api/v1/admin/categories/${category.data.id}`, {
    as: demo.admin,
    body: { name: 'Walks' },
    status: 200,
  });
  await call('PATCH', `/api/v1/admin/providers/${demo.pendingProviderId}`, {
    as: demo.admin,
    body: { verification: 'verified' },
    status: 200,
  });
  await call('PATCH', '/api/v1/provider/profile', {
    as: demo.provider,
    body: { bio: 'Sports massage in central London.', auto_confirm: false },
    status: 200,
  });
  const service = await call('POST', '/api/v1/provider/services', {
    as: demo.provider,
    body: {
      name: 'Walking consult',
      category_id: demo.categoryId,
      duration_minutes: 30,
      price_minor: 2500,
      currency: 'GBP',
    },
    status: 201,
  });
  await call('PATCH', `/api/v1/provider/services/${service.data.id}`, {
    as: demo.provider,
    body: { price_minor: 3000 },
    status: 200,
  });
  const schedule = await call('GET', '/api/v1/provider/availability', { as: demo.provider, status: 200 });
  const { time_zone, weekly, breaks, exceptions } = schedule.data;
  await call('PUT', '/api/v1/provider/availability', {
    as: demo.provider,
    body: { time_zone, weekly, breaks, exceptions },
    status: 200,
  });
}

/** Bookings paid at the visit through their states, a review, chat; one paid online and refunded. */
async function bookingsJourney(app: FastifyInstance, demo: Demo, clock: Clock) {
  const call = caller(app);
  const customer = await createUser(app);
  const slotsOf = async (serviceId: string) =>
    (await call('GET', `/api/v1/providers/${demo.providerId}/slots?service_id=${serviceId}`, { status: 200 })).data
      .slots as string[];
  /** The slot at `index` of the list as it is now (each booking takes its slot out of it). */
  const book = async (index: number) =>
    (
      await call('POST', '/api/v1/bookings', {
        as: customer,
        body: { service_id: demo.serviceId, starts_at: (await slotsOf(demo.serviceId))[index], note: 'First visit' },
        status: 201,
      })
    ).data as { id: string; starts_at: string };
  const visited = await book(0);
  const missed = await book(1);
  const cancelled = await book(2);
  for (const booking of [visited, missed]) {
    await call('POST', `/api/v1/bookings/${booking.id}/confirm`, { as: demo.provider, status: 200 });
  }
  await call('POST', `/api/v1/bookings/${cancelled.id}/cancel`, {
    as: demo.provider,
    body: { reason: 'Called in sick' },
    status: 200,
  });

  const paid = (
    await call('POST', '/api/v1/bookings', {
      as: customer,
      body: {
        service_id: demo.paidServiceId,
        starts_at: (await slotsOf(demo.paidServiceId))[0],
        payment_token: 'sim_success',
      },
      status: 201,
    })
  ).data;
  await drain(app);
  await call('POST', `/api/v1/admin/payments/${paid.payment.id}/refunds`, {
    as: demo.admin,
    body: { amount_minor: 1000, reason: 'goodwill' },
    status: 202,
  });
  await call('PUT', '/api/v1/admin/commission-rules', {
    as: demo.admin,
    body: { category_id: demo.categoryId, rate_bps: 1500, limits: { GBP: { min_minor: 100 } } },
    status: 200,
  });

  clock.set(new Date(new Date(missed.starts_at).getTime() + 3_600_000));
  const provider = await signIn(app, demo.provider);
  const again = await signIn(app, customer);
  const admin = await signIn(app, demo.admin);
  await call('POST', `/api/v1/bookings/${visited.id}/complete`, { as: provider, status: 200 });
  await call('POST', `/api/v1/bookings/${missed.id}/no-show`, { as: provider, status: 200 });
  const review = await call('POST', `/api/v1/bookings/${visited.id}/review`, {
    as: again,
    body: { rating: 5, text: 'Kind and on time.' },
    status: 201,
  });
  await call('POST', `/api/v1/provider/reviews/${review.data.id}/reply`, {
    as: provider,
    body: { text: 'Thank you!' },
    status: 200,
  });
  const message = await call('POST', `/api/v1/bookings/${visited.id}/messages`, {
    as: again,
    body: { text: 'Thank you for today.' },
    status: 201,
  });
  await call('POST', `/api/v1/bookings/${visited.id}/messages/read`, {
    as: provider,
    body: { up_to_id: message.data.id },
    status: 200,
  });
  await call('PATCH', `/api/v1/admin/reviews/${review.data.id}`, {
    as: admin,
    body: { visible: false, reason: 'checking a complaint' },
    status: 200,
  });
  const block = await call('POST', '/api/v1/admin/security/blocks', {
    as: admin,
    body: { ip: '203.0.113.77', minutes: 30, reason: 'release journey' },
    status: 201,
  });
  await call('DELETE', `/api/v1/admin/security/blocks/${block.data.id}`, { as: admin, status: 200 });
}

/** Delivers every outbox message due. */
async function drain(app: FastifyInstance) {
  for (let pass = 0; pass < 50; pass += 1) {
    if ((await app.platform.dispatcher.runOnce()) === 0) return;
  }
}

/** The background work: the outbox, retention and every periodic job, once each. */
async function backgroundJourney(app: FastifyInstance) {
  await drain(app);
  await app.platform.retention.runOnce();
  for (const [name, job] of Object.entries(app.platform.jobs)) {
    await job.runOnce().catch((error: unknown) => process.stderr.write(`job ${name}: ${String(error)}\n`));
  }
}

/**
 * Every GET operation of the OpenAPI document, as each role, a premium member and anonymously, with path
 * parameters drawn from the database (the fuzz suite's pools): the reads of every screen.
 */
async function readsJourney(app: FastifyInstance, demo: Demo): Promise<{ operations: number; answered: number }> {
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApiDocument;
  const gets = listOperations(doc).filter((operation) => operation.method === 'GET');
  const admin = await signIn(app, demo.admin);
  const callers = [
    admin,
    await signIn(app, demo.user),
    await signIn(app, demo.provider),
    // Premium screens (insights, advanced analytics) answer only a premium member.
    await createUser(app, { plan: 'premium' }),
    { headers: {} },
  ];
  const idOf = async (who: { headers: Record<string, string> }) =>
    (await app.inject({ method: 'GET', url: '/api/v1/me', headers: who.headers })).json().data.id as string;
  const [adminId, userId, providerUserId] = await Promise.all(callers.slice(0, 3).map(idOf));
  const pools = await collectPools(app.platform.db, {
    userId: userId as string,
    providerUserId: providerUserId as string,
    protectedUserIds: [adminId as string],
  });
  let answered = 0;
  for (const operation of gets) {
    const url = operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
      const pool = PATH_PARAM_POOLS[operation.path]?.[name];
      return encodeURIComponent((pool && pools[pool][0]) ?? '00000000-0000-7000-8000-000000000000');
    });
    for (const who of callers) {
      const response = await app.inject({ method: 'GET', url, headers: who.headers });
      if (response.statusCode < 300) answered += 1;
    }
  }
  // Reports whose query parameters are required.
  for (const journey of ['wellness', 'marketplace']) {
    await caller(app)('GET', `/api/v1/admin/analytics/funnel?journey=${journey}`, { as: admin, status: 200 });
  }
  return { operations: gets.length, answered };
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = values.out ?? join(ROOT, 'test', 'fixtures', 'release-queries', `${VERSION}.json`);
  const instance = await createPglite();
  const database = await openDatabase({ kind: 'pglite', instance });
  const migrations = await migrate(database.db);
  await ensurePartitions(database.db, new Date());
  const statements = recordStatements(instance);

  const clock = createTestClock(new Date());
  const t = await buildTestApp({ clock, database, kv: createMemoryStore(systemClock) });
  let reads: { operations: number; answered: number };
  try {
    const demo = await seedDemoData(t.app);
    await accountsJourney(t.app, demo, clock);
    await catalogueJourney(t.app, demo);
    await bookingsJourney(t.app, demo, clock);
    await backgroundJourney(t.app);
    reads = await readsJourney(t.app, demo);
  } finally {
    await t.close();
  }

  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string }[];
  };
  const fixture: ReleaseQueries = {
    release: VERSION,
    migrations: { count: migrations, last: journal.entries.at(-1)?.tag ?? null },
    statements: [...statements].map(([sql, params]) => ({ sql, params })),
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  // In the repository's JSON style, so a fresh recording passes `npm run lint` as it is.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/@biomejs/biome/bin/biome'), 'format', '--write', out], {
    stdio: 'ignore',
  });
  process.stdout.write(
    `Recorded ${fixture.statements.length} distinct statements of release ${VERSION} ` +
      `(${reads.operations} GET operations, ${reads.answered} answers under 300) into ${relative(ROOT, out)}\n`,
  );
}

await main();
