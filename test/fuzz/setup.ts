import { sql } from 'drizzle-orm';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { queryRows } from '../../src/infra/db/client.js';
import { runSeeders } from '../../src/infra/db/seed.js';
import { createLogger } from '../../src/infra/logger.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { type Accounts, createAccounts } from './accounts.js';
import { listOperations, type OpenApiDocument, type Operation } from './openapi.js';
import type { Pools } from './pools.js';

export interface FuzzApp {
  t: TestApp;
  doc: OpenApiDocument;
  operations: Operation[];
  accounts: Accounts;
  /** The server's error log lines, parsed: they carry the cause of a 5xx by correlation id. */
  logLines: Record<string, unknown>[];
  setupSeconds: number;
}

async function expectStatus(app: FastifyInstance, what: string, status: number, options: InjectOptions) {
  const answer = await app.inject(options);
  if (answer.statusCode !== status) throw new Error(`fuzz setup, ${what}: ${answer.statusCode} ${answer.body}`);
  return answer.json();
}

const bearer = (accounts: Accounts, role: 'user' | 'provider' | 'admin') => ({
  authorization: `Bearer ${accounts.token(role)}`,
});

/** A booking with the demo provider, which also queues notifications (for the notification pool). */
async function addBooking(app: FastifyInstance, accounts: Accounts): Promise<void> {
  const [own] = await queryRows<{ provider: string; service: string }>(
    app.platform.db,
    sql`select p.id::text as provider, s.id::text as service from providers p join services s on s.provider_id = p.id
        where p.user_id = ${accounts.owners().providerUserId} order by s.id limit 1`,
  );
  if (!own) throw new Error('fuzz setup: the demo provider has no service');
  const slots = await expectStatus(app, 'slots', 200, {
    method: 'GET',
    url: `/api/v1/providers/${own.provider}/slots?service_id=${own.service}`,
  });
  const [start] = slots.data.slots as string[];
  if (!start) throw new Error('fuzz setup: the demo provider has no free slot this week');
  await expectStatus(app, 'a booking', 201, {
    method: 'POST',
    url: '/api/v1/bookings',
    headers: bearer(accounts, 'user'),
    payload: { service_id: own.service, starts_at: start, note: 'booked by the fuzz suite' },
  });
}

/**
 * Puts back what fuzzed deletes took from the pools the route table relies on: the demo
 * user's reminders and data export, the demo provider's services, a feature flag. Without
 * it the routes on those ids would see only 404s after the first few rounds. Answers are
 * not checked: a fuzzed request may have filled the free plan's reminders, for instance.
 */
export async function replenish(
  app: FastifyInstance,
  accounts: Accounts,
  pools: Pools,
  round: number,
): Promise<boolean> {
  const requests: InjectOptions[] = [];
  for (let count = pools.reminders.length; count < 2; count += 1) {
    requests.push({
      method: 'POST',
      url: '/api/v1/me/reminders',
      headers: bearer(accounts, 'user'),
      payload: {
        title: 'Fuzz reminder',
        starts_at: '2027-01-04T09:00:00Z',
        time_zone: 'Europe/London',
        channel: 'email',
      },
    });
  }
  if (pools.dataExports.length === 0) {
    requests.push({ method: 'POST', url: '/api/v1/me/data-export', headers: bearer(accounts, 'user') });
  }
  const [category] = pools.categories;
  for (let count = pools.ownServices.length; count < 2 && category; count += 1) {
    requests.push({
      method: 'POST',
      url: '/api/v1/provider/services',
      headers: bearer(accounts, 'provider'),
      payload: {
        name: 'Fuzz service',
        category_id: category,
        duration_minutes: 60,
        price_minor: 5000,
        currency: 'GBP',
      },
    });
  }
  if (pools.flagKeys.length === 0) {
    requests.push({
      method: 'POST',
      url: '/api/v1/admin/flags',
      headers: bearer(accounts, 'admin'),
      payload: { key: `fuzz_flag_round_${round}`, description: 'made by the fuzz suite', enabled: true },
    });
  }
  for (const request of requests) await app.inject(request);
  return requests.length > 0;
}

/** The real app on a fresh database, seeded with the demo data, its role accounts signed in. */
export async function startFuzzApp(): Promise<FuzzApp> {
  const started = performance.now();
  const logLines: Record<string, unknown>[] = [];
  // Error lines only: the per-request lines would cost time and say nothing a check needs.
  // Generated values look like attacks now and then: refused (403 REQUEST_REJECTED, documented),
  // but the fuzzer's own address is never blocked for it.
  const t = await buildTestApp({ logLines, env: { LOG_LEVEL: 'error', SECURITY_ALLOWLIST: '127.0.0.1' } });
  const { app } = t;
  const { seeders } = app.platform;
  await runSeeders(app.platform.db, seeders, {
    clock: app.platform.clock,
    logger: createLogger({ level: 'silent' }),
    isProduction: false,
  });
  const doc: OpenApiDocument = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
  const accounts = createAccounts(
    app,
    seeders.flatMap((seeder) => seeder.logins ?? []),
  );
  await accounts.signInAll();
  await addBooking(app, accounts);
  logLines.length = 0;
  const setupSeconds = (performance.now() - started) / 1000;
  return { t, doc, operations: listOperations(doc), accounts, logLines, setupSeconds };
}
