import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const records = (t: TestApp, userId: string) =>
  queryRows<{ purpose: string; granted: boolean; notice_version: number; source: string; ip: string | null }>(
    t.app.platform.db,
    sql`select purpose, granted, notice_version, source, ip from consent_records where user_id = ${userId} order by id`,
  );

describe('consent ledger', () => {
  let t: TestApp;
  let user: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    user = await createUser(t.app);
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const state = async (u: TestUser) => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me/consents', headers: u.headers });
    expect(res.statusCode).toBe(200);
    type Row = {
      purpose: string;
      granted: boolean;
      notice_version: number | null;
      needs_renewal: boolean;
      current_notice_version: number;
    };
    return Object.fromEntries((res.json().data as Row[]).map((row) => [row.purpose, row])) as Record<string, Row>;
  };

  it('starts with data_processing only, recorded at signup', async () => {
    const current = await state(user);
    expect(current.data_processing).toMatchObject({ granted: true, notice_version: 1, needs_renewal: false });
    for (const purpose of ['whatsapp', 'marketing', 'analytics']) {
      expect(current[purpose]).toMatchObject({ granted: false, notice_version: null, needs_renewal: false });
    }
    expect(await records(t, user.id)).toEqual([
      { purpose: 'data_processing', granted: true, notice_version: 1, source: 'signup', ip: expect.any(String) },
    ]);
    expect(await t.app.platform.services.consent.has(user.id, 'data_processing')).toBe(true);
    expect(await t.app.platform.services.consent.has(user.id, 'whatsapp')).toBe(false);
  });

  it('grants and withdraws with one call each, appending history and emitting whatsapp_opt_in once', async () => {
    const grant = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/whatsapp',
      headers: user.headers,
      payload: { granted: true },
    });
    expect(grant.statusCode).toBe(200);
    expect(grant.json().data).toMatchObject({ purpose: 'whatsapp', granted: true, notice_version: 1 });
    expect(await t.app.platform.services.consent.has(user.id, 'whatsapp')).toBe(true);

    // The same answer again records nothing.
    const again = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/whatsapp',
      headers: user.headers,
      payload: { granted: true },
    });
    expect(again.statusCode).toBe(200);

    const withdraw = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/whatsapp',
      headers: user.headers,
      payload: { granted: false },
    });
    expect(withdraw.statusCode).toBe(200);
    expect(withdraw.json().data.granted).toBe(false);
    expect(await t.app.platform.services.consent.has(user.id, 'whatsapp')).toBe(false);

    const history = (await records(t, user.id)).map((r) => [r.purpose, r.granted, r.source]);
    expect(history).toEqual([
      ['data_processing', true, 'signup'],
      ['whatsapp', true, 'user'],
      ['whatsapp', false, 'user'],
    ]);
    const optIns = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from product_events where name = 'whatsapp_opt_in' and subject = ${await subjectOf(t.app, user.id)}`,
    );
    expect(optIns[0]?.n).toBe(1);
    const audited = await queryRows<{ action: string }>(
      t.app.platform.db,
      sql`select action from audit_log where actor_id = ${user.id} and action like 'consent.%' order by seq`,
    );
    expect(audited.map((row) => row.action)).toEqual(['consent.granted', 'consent.withdrawn']);
  });

  it('lists the history newest first with a cursor', async () => {
    const first = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me/consents/history?limit=2',
      headers: user.headers,
    });
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body.data.map((r: { granted: boolean; purpose: string }) => [r.purpose, r.granted])).toEqual([
      ['whatsapp', false],
      ['whatsapp', true],
    ]);
    const next = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/consents/history?limit=2&cursor=${body.meta.next_cursor}`,
      headers: user.headers,
    });
    expect(next.json().data.map((r: { purpose: string }) => r.purpose)).toEqual(['data_processing']);
    expect(next.json().meta.next_cursor).toBeNull();
  });

  it('refuses withdrawing data_processing (that is erasure), unknown purposes and bad bodies, changing nothing', async () => {
    const before = await records(t, user.id);
    const cases = [
      {
        url: '/api/v1/me/consents/data_processing',
        payload: { granted: false },
        status: 409,
        code: 'CONSENT_REQUIRED',
      },
      { url: '/api/v1/me/consents/newsletter', payload: { granted: true }, status: 400, code: 'VALIDATION_ERROR' },
      { url: '/api/v1/me/consents/marketing', payload: { granted: 'yes' }, status: 400, code: 'VALIDATION_ERROR' },
      {
        url: '/api/v1/me/consents/marketing',
        payload: { granted: true, notice_version: 9 },
        status: 400,
        code: 'VALIDATION_ERROR',
      },
    ];
    for (const c of cases) {
      const res = await t.app.inject({ method: 'PUT', url: c.url, headers: user.headers, payload: c.payload });
      expect(res.statusCode, c.url).toBe(c.status);
      expect(res.json().code).toBe(c.code);
    }
    expect(await records(t, user.id)).toEqual(before);
  });

  it('needs a signed-in caller', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/me/consents'],
      ['PUT', '/api/v1/me/consents/marketing'],
      ['GET', '/api/v1/me/consents/history'],
    ] as const) {
      const res = await t.app.inject({ method, url, payload: method === 'PUT' ? { granted: true } : undefined });
      expect(res.statusCode, url).toBe(401);
    }
  });

  it('asks again after an admin publishes a new notice version, and counts it as not given until renewed', async () => {
    const other = await createUser(t.app);
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/marketing',
      headers: other.headers,
      payload: { granted: true },
    });
    expect(await t.app.platform.services.consent.has(other.id, 'marketing')).toBe(true);

    const forbidden = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/consent-notices',
      headers: other.headers,
      payload: { purpose: 'marketing', title: 'News v2', body: 'We now also send a monthly digest.' },
    });
    expect(forbidden.statusCode).toBe(403);

    const published = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/consent-notices',
      headers: admin.headers,
      payload: { purpose: 'marketing', title: 'News v2', body: 'We now also send a monthly digest.' },
    });
    expect(published.statusCode).toBe(201);
    expect(published.json().data).toMatchObject({ purpose: 'marketing', version: 2 });

    const current = await state(other);
    expect(current.marketing).toMatchObject({
      granted: true,
      notice_version: 1,
      current_notice_version: 2,
      needs_renewal: true,
    });
    expect(await t.app.platform.services.consent.has(other.id, 'marketing')).toBe(false);

    const renew = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/marketing',
      headers: other.headers,
      payload: { granted: true },
    });
    expect(renew.json().data).toMatchObject({ granted: true, notice_version: 2, needs_renewal: false });
    expect(await t.app.platform.services.consent.has(other.id, 'marketing')).toBe(true);

    const notices = await t.app.inject({ method: 'GET', url: '/api/v1/admin/consent-notices', headers: admin.headers });
    const marketing = notices.json().data.filter((n: { purpose: string }) => n.purpose === 'marketing');
    expect(marketing.map((n: { version: number }) => n.version)).toEqual([2, 1]);
    const publicNotices = await t.app.inject({ method: 'GET', url: '/api/v1/consent-notices' });
    expect(publicNotices.json().data.find((n: { purpose: string }) => n.purpose === 'marketing').version).toBe(2);
  });

  it('keeps the history append-only in the database', async () => {
    await expect(
      t.app.platform.db.execute(sql`update consent_records set granted = true where user_id = ${user.id}`),
    ).rejects.toThrow();
  });
});
