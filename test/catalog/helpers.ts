import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { queryRows } from '../../src/infra/db/client.js';
import { createUser, type TestUser } from '../helpers/users.js';

let slugCounter = 0;

export async function createCategory(
  app: FastifyInstance,
  admin: TestUser,
  body: { name: string; slug?: string; parent_id?: string | null; active?: boolean },
): Promise<{ id: string; slug: string; name: string; parent_id: string | null }> {
  slugCounter += 1;
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/admin/categories',
    headers: admin.headers,
    payload: { slug: body.slug ?? `cat-${slugCounter}-${Date.now()}`, ...body },
  });
  if (res.statusCode !== 201) throw new Error(`category: ${res.statusCode} ${res.body}`);
  return res.json().data;
}

/** A provider user with a profile, verified by the admin unless told otherwise. */
export async function createProvider(
  app: FastifyInstance,
  admin: TestUser,
  profile: Record<string, unknown> = {},
  options: { verified?: boolean } = {},
): Promise<{ user: TestUser; providerId: string }> {
  const user = await createUser(app, { role: 'provider' });
  const res = await app.inject({
    method: 'PATCH',
    url: '/api/v1/provider/profile',
    headers: user.headers,
    payload: { display_name: `Provider ${user.id.slice(-6)}`, ...profile },
  });
  if (res.statusCode !== 200) throw new Error(`profile: ${res.statusCode} ${res.body}`);
  const providerId = res.json().data.id as string;
  if (options.verified !== false) {
    const verify = await app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/providers/${providerId}`,
      headers: admin.headers,
      payload: { verification: 'verified' },
    });
    if (verify.statusCode !== 200) throw new Error(`verify: ${verify.statusCode} ${verify.body}`);
  }
  return { user, providerId };
}

export async function createService(
  app: FastifyInstance,
  provider: TestUser,
  body: Record<string, unknown> & { category_id: string },
): Promise<{ id: string; name: string; price_minor: number }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/provider/services',
    headers: provider.headers,
    payload: { name: 'Service', duration_minutes: 60, price_minor: 5000, currency: 'GBP', ...body },
  });
  if (res.statusCode !== 201) throw new Error(`service: ${res.statusCode} ${res.body}`);
  return res.json().data;
}

export const searchTextOf = async (app: FastifyInstance, serviceId: string) =>
  (
    await queryRows<{ search_text: string }>(
      app.platform.db,
      sql`select search_text from services where id = ${serviceId}`,
    )
  )[0]?.search_text;
