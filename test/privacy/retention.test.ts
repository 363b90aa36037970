import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const DAY = 86_400_000;

describe('retention job', () => {
  const clock = createTestClock(new Date('2026-01-01T12:00:00Z'));
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    user = await createUser(t.app);
  });
  afterAll(() => t.close());

  const ids = async (query: ReturnType<typeof sql>) =>
    (await queryRows<{ id: string }>(t.app.platform.db, query)).map((row) => row.id);

  it('removes what passed its retention period and nothing else, once across concurrent runs', async () => {
    const db = t.app.platform.db;
    const { outbox } = t.app.platform;
    // An old revoked session, an old reset token, outbox rows in each state.
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: user.email } });
    // The worker turns the request (an outbox row holding the email) into a token and an email.
    await t.app.platform.dispatcher.runOnce();
    const resetRequests = await ids(
      sql`select id from outbox where type = 'identity.password_reset_requested' and status = 'delivered'`,
    );
    expect(resetRequests).toHaveLength(1);
    const deliveredBefore = await ids(sql`select id from outbox where status = 'delivered'`);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(login.statusCode).toBe(200);
    const delivered = await outbox.enqueue(db, { type: 'test.kept', payload: {} });
    const dead = await outbox.enqueue(db, { type: 'test.dead', payload: {} });
    await db.execute(sql`update outbox set status = 'delivered', delivered_at = created_at where id = ${delivered}`);
    await db.execute(sql`update outbox set status = 'dead' where id = ${dead}`);
    const pending = await outbox.enqueue(db, { type: 'test.pending', payload: {} });
    await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });

    // Day 0: nothing has expired past its retention period yet.
    const first = await t.app.platform.retention.runOnce();
    expect(Object.values(first).every((n) => n === 0)).toBe(true);

    // 31 days on: the revoked session, the spent reset token and the delivered row go;
    // the active session (30-day lifetime, now expired but within retention) and dead row stay.
    clock.advance(31 * DAY);
    const [a, b] = await Promise.all([t.app.platform.retention.runOnce(), t.app.platform.retention.runOnce()]);
    const sum = (rule: string) => (a[rule] ?? 0) + (b[rule] ?? 0);
    expect(sum('identity.sessions')).toBe(1);
    expect(sum('identity.password_reset_tokens')).toBe(1);
    expect(sum('outbox.delivered')).toBe(1 + deliveredBefore.length);
    expect(sum('outbox.dead')).toBe(0);
    expect(await ids(sql`select id from outbox where id = ${delivered}`)).toEqual([]);
    // The reset request's row, and the email address in it, go like any delivered message.
    expect(await ids(sql`select id from outbox where id = ${resetRequests[0]}`)).toEqual([]);
    expect(await ids(sql`select id from outbox where id = ${pending}`)).toEqual([pending]);
    // Signup's and the two logins' sessions: the revoked one went, the two expired a day ago stay.
    expect((await ids(sql`select id from sessions where user_id = ${user.id}`)).length).toBe(2);

    // 100 days on: the dead row and the expired session go too; pending work never does.
    clock.advance(69 * DAY);
    const later = await t.app.platform.retention.runOnce();
    expect(later['outbox.dead']).toBe(1);
    expect(later['identity.sessions']).toBe(2);
    expect(await ids(sql`select id from outbox where id = ${pending}`)).toEqual([pending]);
  });

  it('expires a ready export after its retention period, dropping the document', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    expect(res.statusCode).toBe(401); // signed out in the previous test; sign in again
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    const headers = { authorization: `Bearer ${login.json().data.access_token}` };
    const requested = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers });
    const id = requested.json().data.id;
    await t.app.platform.dispatcher.runOnce();
    await t.app.platform.dispatcher.runOnce();
    const ready = await t.app.inject({ method: 'GET', url: `/api/v1/me/data-export/${id}`, headers });
    expect(ready.json().data.status).toBe('ready');
    clock.advance(8 * DAY);
    const removed = await t.app.platform.retention.runOnce();
    expect(removed['privacy.expired_exports']).toBeGreaterThanOrEqual(1);
    const [row] = await queryRows<{ status: string; document: unknown }>(
      t.app.platform.db,
      sql`select status, document from data_exports where id = ${id}`,
    );
    expect(row).toEqual({ status: 'expired', document: null });
  });
});
