import type { FastifyInstance } from 'fastify';
import { runSeeders } from '../../src/infra/db/seed.js';
import { createLogger } from '../../src/infra/logger.js';
import { createAnalyticsRepository, createDemoHistorySeeder } from '../../src/modules/analytics/index.js';

export interface DemoAccount {
  email: string;
  password: string;
  headers: { authorization: string };
}

/**
 * The demo data `npm start` seeds, signed in: the admin, user and provider accounts, the demo
 * provider with an active service paid at the visit and one paid online, a category, and the provider
 * still waiting for verification.
 */
export async function seedDemoData(
  app: FastifyInstance,
  /**
   * `autoConfirm`: the demo provider confirms bookings itself (the demo's provider confirms by hand).
   * `history`: also the synthetic analytics history `npm start` seeds (off in tests unless asked: it costs seconds).
   */
  options: { autoConfirm?: boolean; history?: boolean } = {},
) {
  const { seeders } = app.platform;
  const history = createDemoHistorySeeder({
    repository: createAnalyticsRepository(),
    clock: app.platform.clock,
    ids: app.platform.ids,
    logger: createLogger({ level: 'silent' }),
    rawRetentionDays: app.platform.config.retention.analyticsRawDays,
  });
  const registered = seeders.some((seeder) => seeder.name === history.name);
  await runSeeders(app.platform.db, options.history && !registered ? [...seeders, history] : seeders, {
    clock: app.platform.clock,
    logger: createLogger({ level: 'silent' }),
    isProduction: false,
  });
  const logins = seeders.flatMap((seeder) => seeder.logins ?? []);
  const account = async (role: string): Promise<DemoAccount> => {
    const login = logins.find((candidate) => candidate.role === role);
    if (!login) throw new Error(`no demo ${role}`);
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: login.email, password: login.password },
    });
    if (response.statusCode !== 200) throw new Error(`demo ${role} cannot sign in: ${response.body}`);
    return {
      email: login.email,
      password: login.password,
      headers: { authorization: `Bearer ${response.json().data.access_token}` },
    };
  };
  const [admin, user, provider] = [await account('admin'), await account('user'), await account('provider')];
  const get = async (url: string, who?: DemoAccount) => {
    const response = await app.inject({ method: 'GET', url, headers: who?.headers ?? {} });
    if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode} ${response.body}`);
    return response.json().data;
  };
  if (options.autoConfirm) {
    const changed = await app.inject({
      method: 'PATCH',
      url: '/api/v1/provider/profile',
      headers: provider.headers,
      payload: { auto_confirm: true },
    });
    if (changed.statusCode !== 200) throw new Error(`demo provider auto_confirm: ${changed.body}`);
  }
  const profile = await get('/api/v1/provider/profile', provider);
  const services = (await get('/api/v1/provider/services', provider)) as {
    id: string;
    is_active: boolean;
    payment: 'required' | 'at_visit';
  }[];
  const categories = (await get('/api/v1/categories')) as { id: string }[];
  const pending = (await get('/api/v1/admin/providers?verification=pending', admin)) as { id: string }[];
  const service = services.find((candidate) => candidate.is_active && candidate.payment === 'at_visit');
  const paidService = services.find((candidate) => candidate.is_active && candidate.payment === 'required');
  if (!service || !paidService || !categories[0] || !pending[0])
    throw new Error('the demo seed lacks a service (paid at the visit and online), category or pending provider');
  return {
    admin,
    user,
    provider,
    providerId: profile.id as string,
    /** Paid at the visit. */
    serviceId: service.id,
    /** Paid online at booking (the demo provider is onboarded for payouts). */
    paidServiceId: paidService.id,
    categoryId: categories[0].id,
    pendingProviderId: pending[0].id,
  };
}
