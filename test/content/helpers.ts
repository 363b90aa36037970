import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import type { TestUser } from '../helpers/users.js';

let counter = 0;

/** A valid create body; override any field. */
export function contentBody(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    type: 'article',
    slug: `item-${counter}-${Date.now()}`,
    title: `Item ${counter}`,
    summary: `Summary of item ${counter}`,
    body: `Body of item ${counter}.`,
    ...overrides,
  };
}

export async function createContent(app: FastifyInstance, admin: TestUser, overrides: Record<string, unknown> = {}) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/admin/content',
    headers: admin.headers,
    payload: contentBody(overrides),
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data as { id: string; slug: string; version: number; published_version: number | null };
}

export async function patchContent(
  app: FastifyInstance,
  admin: TestUser,
  id: string,
  payload: Record<string, unknown>,
) {
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/admin/content/${id}`,
    headers: admin.headers,
    payload,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

/** Row counts of every table content writes to (and its audit and events), to show a refused write changed nothing. */
export async function contentCounts(app: FastifyInstance) {
  const [row] = await queryRows<Record<string, number>>(
    app.platform.db,
    sql`select
      (select count(*)::int from content_items) as items,
      (select count(*)::int from content_versions) as versions,
      (select count(*)::int from content_views) as views,
      (select count(*)::int from audit_log) as audit,
      (select count(*)::int from product_events) as events`,
  );
  return row as Record<'items' | 'versions' | 'views' | 'audit' | 'events', number>;
}

/** Signs in again (the test clock may have outrun the access token). */
export async function signIn(app: FastifyInstance, user: TestUser): Promise<TestUser> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: user.email, password: user.password },
  });
  expect(res.statusCode, res.body).toBe(200);
  const accessToken = res.json().data.access_token as string;
  return { ...user, accessToken, headers: { authorization: `Bearer ${accessToken}` } };
}
