import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

describe('support requests', () => {
  let t: TestApp;
  let free: TestUser;
  let premium: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    free = await createUser(t.app);
    premium = await createUser(t.app, { plan: 'premium' });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const send = (u: TestUser, payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/me/support-requests',
      headers: u.headers,
      payload: payload as object,
    });

  it('records a request, flags premium ones priority and emits support_request without the text', async () => {
    const a = await send(free, { subject: 'Reminder time', message: 'How do I change my reminder time?' });
    expect(a.statusCode).toBe(201);
    expect(a.json().data).toMatchObject({ priority: false, status: 'open' });
    const b = await send(premium, { subject: 'Plan', message: 'Can my plan include more recipes?' });
    expect(b.json().data.priority).toBe(true);
    const events = await queryRows<{ properties: Record<string, unknown> }>(
      t.app.platform.db,
      sql`select properties from product_events where name = 'support_request' and subject = ${await subjectOf(t.app, premium.id)}`,
    );
    expect(events).toEqual([{ properties: { priority: true } }]);
  });

  it('lets admins list them with filters and a cursor; nobody else', async () => {
    const all = await t.app.inject({ method: 'GET', url: '/api/v1/admin/support-requests', headers: admin.headers });
    expect(all.statusCode).toBe(200);
    expect(all.json().data).toHaveLength(2);
    const priority = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/support-requests?priority=true',
      headers: admin.headers,
    });
    expect(priority.json().data.map((r: { user_id: string }) => r.user_id)).toEqual([premium.id]);
    const page = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/support-requests?limit=1',
      headers: admin.headers,
    });
    const next = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/support-requests?limit=1&cursor=${page.json().meta.next_cursor}`,
      headers: admin.headers,
    });
    expect(next.json().data[0].id).not.toBe(page.json().data[0].id);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/admin/support-requests', headers: free.headers })).statusCode,
    ).toBe(403);
  });

  it('refuses empty, oversized or unknown fields and unauthenticated callers', async () => {
    expect((await send(free, { subject: '', message: 'x' })).statusCode).toBe(400);
    expect((await send(free, { subject: 'x', message: 'y'.repeat(5001) })).statusCode).toBe(400);
    expect((await send(free, { subject: 'x', message: 'y', priority: true })).statusCode).toBe(400);
    const anon = await t.app.inject({
      method: 'POST',
      url: '/api/v1/me/support-requests',
      payload: { subject: 'a', message: 'b' },
    });
    expect(anon.statusCode).toBe(401);
    const [row] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from support_requests`,
    );
    expect(row?.n).toBe(2);
  });
});
