import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const count = async (t: TestApp, table: string, userId: string) => {
  const [row] = await queryRows<{ n: number }>(
    t.app.platform.db,
    sql`select count(*)::int as n from ${sql.identifier(table)} where user_id = ${userId}`,
  );
  return row?.n ?? 0;
};

describe('data export (GDPR Art. 15/20)', () => {
  let t: TestApp;
  let user: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    user = await createUser(t.app, { name: 'Ada Export' });
    other = await createUser(t.app);
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/marketing',
      headers: user.headers,
      payload: { granted: true },
    });
  });
  afterAll(() => t.close());

  it('builds a machine-readable document of everything the data map holds, stating purposes and retention', async () => {
    const requested = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    expect(requested.statusCode).toBe(202);
    const job = requested.json().data;
    expect(job).toMatchObject({ status: 'pending', completed_at: null });

    // Asking again while it is pending returns the same job.
    const again = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    expect(again.json().data.id).toBe(job.id);

    const pending = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/data-export/${job.id}`,
      headers: user.headers,
    });
    expect(pending.json().data).toMatchObject({ status: 'pending', document: null });

    await t.app.platform.dispatcher.runOnce();

    const ready = await t.app.inject({ method: 'GET', url: `/api/v1/me/data-export/${job.id}`, headers: user.headers });
    expect(ready.statusCode).toBe(200);
    const data = ready.json().data;
    expect(data.status).toBe('ready');
    expect(data.expires_at).not.toBeNull();
    const document = data.document;
    expect(document.format).toBe('care-platform.data-export/v1');
    expect(document.subject.user_id).toBe(user.id);
    const modules = t.app.platform.dataMap.entries().map((entry) => entry.module);
    expect(Object.keys(document.sections).sort()).toEqual([...modules].sort());
    for (const section of Object.values(document.sections) as Record<string, unknown>[]) {
      expect(section.purposes).toEqual(expect.arrayContaining([expect.any(String)]));
      expect(typeof section.retention).toBe('string');
      expect(typeof section.legal_basis).toBe('string');
    }
    expect(document.sections.identity.data.account).toMatchObject({
      id: user.id,
      email: user.email,
      name: 'Ada Export',
    });
    expect(document.sections.identity.data.sessions.length).toBeGreaterThan(0);
    const consentHistory = document.sections.consent.data.history.map((r: { purpose: string }) => r.purpose);
    expect(consentHistory).toEqual(['marketing', 'data_processing']);
    expect(document.sections.analytics.data.events.map((e: { name: string }) => e.name)).toContain('user_signed_up');
    expect(JSON.stringify(document)).not.toContain(other.email);
  });

  it("answers 404 for someone else's export or an unknown id, and 401 without a token", async () => {
    const mine = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: other.headers });
    const id = mine.json().data.id;
    const foreign = await t.app.inject({ method: 'GET', url: `/api/v1/me/data-export/${id}`, headers: user.headers });
    expect(foreign.statusCode).toBe(404);
    const unknown = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me/data-export/019ab700-0000-7000-8000-00000000dead',
      headers: user.headers,
    });
    expect(unknown.statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export' })).statusCode).toBe(401);
  });
});

describe('erasure (GDPR Art. 17)', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  it('refuses a wrong password and changes nothing', async () => {
    const user = await createUser(t.app);
    const res = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { password: 'not-my-password-at-all' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('INVALID_CREDENTIALS');
    expect(await count(t, 'sessions', user.id)).toBeGreaterThan(0);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(me.json().data.email).toBe(user.email);
  });

  it('erases personal data across every module in one transaction, keeps the audit trail pseudonymous, and gives a receipt', async () => {
    const user = await createUser(t.app, { name: 'Grace Erased' });
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { phone: '+447700900123' },
    });
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: user.headers,
      payload: { granted: true },
    });
    await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    await t.app.platform.dispatcher.runOnce();
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: user.email } });
    await t.app.platform.dispatcher.runOnce();
    expect(await count(t, 'password_reset_tokens', user.id)).toBe(1);
    const auditBefore = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from audit_log where actor_id = ${user.id}`,
    );
    const subject = await subjectOf(t.app, user.id);

    const res = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { password: user.password },
    });
    expect(res.statusCode).toBe(200);
    const receipt = res.json().data;
    expect(receipt.receipt_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(receipt.modules.identity.action).toBe('pseudonymised');
    expect(receipt.modules.consent).toMatchObject({ action: 'deleted', rows: 2 });
    expect(receipt.modules.audit.action).toBe('retained');

    // Nothing that names the person is left.
    const [account] = await queryRows<Record<string, unknown>>(
      t.app.platform.db,
      sql`select email, name, phone, is_active from users where id = ${user.id}`,
    );
    expect(account).toEqual({ email: `erased+${user.id}@erased.invalid`, name: null, phone: null, is_active: false });
    for (const table of ['sessions', 'password_reset_tokens', 'consents', 'consent_records', 'data_exports']) {
      expect(await count(t, table, user.id), table).toBe(0);
    }
    // The person's events still count in aggregates, but the secret is gone: nobody can tie them to the person.
    const [unlinked] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from product_events where subject = ${subject} and name = 'user_signed_up'`,
    );
    expect(unlinked?.n).toBe(1);
    expect(await t.app.platform.services.analytics.subjectOf(user.id)).toBeNull();
    const [key] = await queryRows<{ secret: string | null }>(
      t.app.platform.db,
      sql`select secret from analytics_subject_keys where user_id = ${user.id}`,
    );
    expect(key).toEqual({ secret: null });
    // The audit trail keeps its rows under the pseudonymous id, and the chain still verifies.
    const auditAfter = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from audit_log where actor_id = ${user.id}`,
    );
    expect(auditAfter[0]?.n).toBeGreaterThan(auditBefore[0]?.n ?? 0);
    expect((await t.app.platform.services.audit.verify()).valid).toBe(true);
    const [stored] = await queryRows<{ requested_by: string; subject_hash: string }>(
      t.app.platform.db,
      sql`select requested_by, subject_hash from erasure_receipts where id = ${receipt.receipt_id}`,
    );
    expect(stored?.requested_by).toBe('self');
    expect(stored?.subject_hash).not.toContain(user.id);

    // The person's token, login and export all find nothing.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: user.headers });
    expect(me.statusCode).toBe(401);
    const exported = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    expect(exported.statusCode).toBe(401);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(login.statusCode).toBe(401);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: user.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    // The email is free again.
    const signup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: { email: user.email, password: 'A-brand-new-passphrase-42' },
    });
    expect(signup.statusCode).toBe(201);
  });

  it('lets an admin erase a person on request, with the same effect, and guards the route', async () => {
    const user = await createUser(t.app);
    const denied = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${user.id}/erase`,
      headers: user.headers,
      payload: {},
    });
    expect(denied.statusCode).toBe(403);

    const erased = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${user.id}/erase`,
      headers: admin.headers,
      payload: { reason: 'email request #4411' },
    });
    expect(erased.statusCode).toBe(200);
    expect(erased.json().data.modules.identity.action).toBe('pseudonymised');
    expect(await count(t, 'sessions', user.id)).toBe(0);
    const audit = await queryRows<{ actor_id: string; details: { requested_by: string } }>(
      t.app.platform.db,
      sql`select actor_id, details from audit_log where action = 'privacy.erased' and target_id = ${user.id}`,
    );
    expect(audit).toEqual([
      expect.objectContaining({ actor_id: admin.id, details: expect.objectContaining({ requested_by: 'admin' }) }),
    ]);

    const twice = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${user.id}/erase`,
      headers: admin.headers,
      payload: {},
    });
    expect(twice.statusCode).toBe(409);
    const self = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${admin.id}/erase`,
      headers: admin.headers,
      payload: {},
    });
    expect(self.statusCode).toBe(409);
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/users/019ab700-0000-7000-8000-00000000beef/erase',
      headers: admin.headers,
      payload: {},
    });
    expect(unknown.statusCode).toBe(404);
    const badField = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${admin.id}/erase`,
      headers: admin.headers,
      payload: { reason: 'x', cascade: true },
    });
    expect(badField.statusCode).toBe(400);
  });
});

describe('privacy data map', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('names every table with a user_id column in some module entry', async () => {
    const tables = await queryRows<{ table_name: string }>(
      t.app.platform.db,
      sql`select distinct table_name from information_schema.columns
          where table_schema = current_schema() and column_name = 'user_id' order by table_name`,
    );
    const mapped = new Set(t.app.platform.dataMap.entries().flatMap((entry) => entry.tables));
    const unmapped = tables.map((row) => row.table_name).filter((table) => !mapped.has(table));
    expect(unmapped, 'tables holding personal data that no module registered in the data map').toEqual([]);
    expect(tables.length).toBeGreaterThanOrEqual(6);
  });
});
