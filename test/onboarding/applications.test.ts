import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { multipartFile } from '../helpers/multipart.js';
import { createUser, type TestUser } from '../helpers/users.js';

describe('becoming a provider: apply, review, decide', () => {
  let t: TestApp;
  let admin: TestUser;
  let categoryId: string;
  beforeAll(async () => {
    t = await buildTestApp();
    admin = await createUser(t.app, { role: 'admin' });
    const category = await t.app.inject({
      method: 'POST',
      url: '/api/v1/admin/categories',
      headers: admin.headers,
      payload: { name: 'Massage', slug: `massage-${Date.now()}` },
    });
    expect(category.statusCode, category.body).toBe(201);
    categoryId = category.json().data.id;
  });
  afterAll(() => t.close());

  const send = (method: 'GET' | 'POST', url: string, who: TestUser, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: who.headers, ...(payload ? { payload } : {}) });
  const application = (extra: object = {}) => ({
    business_name: 'Calm Hands Massage',
    bio: 'Sports and relaxation massage.',
    city: 'Leeds',
    country: 'gb',
    languages: ['en'],
    category_ids: [categoryId],
    ...extra,
  });
  const messagesTo = async (userId: string, template: string) =>
    (
      await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from notifications where user_id = ${userId} and template = ${template}`,
      )
    )[0]?.n;
  const uploadDocument = async (who: TestUser) => {
    const image = await sharp({ create: { width: 50, height: 70, channels: 3, background: '#eee' } })
      .png()
      .toBuffer();
    const { payload, headers } = multipartFile(image, 'licence.png', 'image/png');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/media?purpose=document',
      headers: { ...who.headers, ...headers },
      payload,
    });
    expect(res.statusCode).toBe(201);
    return res.json().data.id as string;
  };

  it('takes an application with documents, tells the admins, and makes an approved applicant a verified provider', async () => {
    const applicant = await createUser(t.app);
    const document = await uploadDocument(applicant);
    const applied = await send(
      'POST',
      '/me/provider-application',
      applicant,
      application({ document_media_ids: [document] }),
    );
    expect(applied.statusCode, applied.body).toBe(201);
    expect(applied.json().data).toMatchObject({ status: 'pending', country: 'GB', document_media_ids: [document] });
    const id = applied.json().data.id;
    expect(await messagesTo(admin.id, 'provider_application_received')).toBeGreaterThan(0);

    // One waiting application at a time.
    expect((await send('POST', '/me/provider-application', applicant, application())).statusCode).toBe(409);
    const queue = await send('GET', '/admin/provider-applications?status=pending', admin);
    expect(queue.json().data.map((a: { id: string }) => a.id)).toContain(id);
    // Not for applicants.
    expect((await send('GET', '/admin/provider-applications', applicant)).statusCode).toBe(403);

    const approved = await send('POST', `/admin/provider-applications/${id}/approve`, admin);
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json().data.status).toBe('approved');
    expect((await send('POST', `/admin/provider-applications/${id}/approve`, admin)).statusCode).toBe(409);

    const user = await send('GET', `/admin/users/${applicant.id}`, admin);
    expect(user.json().data.role).toBe('provider');
    const providers = await queryRows<{ id: string; verification: string; display_name: string; city: string }>(
      t.app.platform.db,
      sql`select id, verification, display_name, city from providers where user_id = ${applicant.id}`,
    );
    expect(providers).toEqual([
      expect.objectContaining({ verification: 'verified', display_name: 'Calm Hands Massage', city: 'Leeds' }),
    ]);
    expect((await t.app.inject({ url: `/api/v1/providers/${providers[0]?.id}` })).statusCode).toBe(200);
    expect(await messagesTo(applicant.id, 'provider_application_decided')).toBe(1);
    const audited = await queryRows<{ action: string }>(
      t.app.platform.db,
      sql`select action from audit_log where target_id = ${id} order by seq`,
    );
    expect(audited.map((row) => row.action)).toEqual([
      'onboarding.application_submitted',
      'onboarding.application_approved',
    ]);
  });

  it('refuses what it cannot check: unknown categories, someone else’s documents, a provider applying', async () => {
    const applicant = await createUser(t.app);
    const other = await createUser(t.app);
    const foreign = await uploadDocument(other);
    const unknown = await send(
      'POST',
      '/me/provider-application',
      applicant,
      application({ category_ids: [crypto.randomUUID()] }),
    );
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().details).toEqual([expect.objectContaining({ field: 'body.category_ids' })]);
    const stolen = await send(
      'POST',
      '/me/provider-application',
      applicant,
      application({ document_media_ids: [foreign] }),
    );
    expect(stolen.statusCode).toBe(400);
    expect(stolen.json().details).toEqual([expect.objectContaining({ field: 'body.document_media_ids' })]);
    const provider = await createUser(t.app, { role: 'provider' });
    expect((await send('POST', '/me/provider-application', provider, application())).statusCode).toBe(409);
    expect((await send('GET', '/me/provider-application', applicant)).statusCode).toBe(404);
  });

  it('rejects with a reason the applicant reads, who may then apply again; two admins deciding at once: one wins', async () => {
    const applicant = await createUser(t.app);
    const id = (await send('POST', '/me/provider-application', applicant, application())).json().data.id;
    expect((await send('POST', `/admin/provider-applications/${id}/reject`, admin, { reason: ' ' })).statusCode).toBe(
      400,
    );
    const rejected = await send('POST', `/admin/provider-applications/${id}/reject`, admin, {
      reason: 'Add your licence',
    });
    expect(rejected.statusCode).toBe(200);
    const mine = await send('GET', '/me/provider-application', applicant);
    expect(mine.json().data).toMatchObject({ status: 'rejected', reason: 'Add your licence' });
    expect(await messagesTo(applicant.id, 'provider_application_decided')).toBe(1);

    const again = await send('POST', '/me/provider-application', applicant, application());
    expect(again.statusCode).toBe(201);
    const second = await createUser(t.app, { role: 'admin' });
    const decisions = await Promise.all([
      send('POST', `/admin/provider-applications/${again.json().data.id}/approve`, admin),
      send('POST', `/admin/provider-applications/${again.json().data.id}/reject`, second, { reason: 'Too late' }),
    ]);
    expect(decisions.map((res) => res.statusCode).sort()).toEqual([200, 409]);
    // (An approval changes the applicant's role, which ends their access token: read it as an admin.)
    const decided = await send('GET', '/admin/provider-applications', admin);
    const final = decided.json().data.find((a: { id: string }) => a.id === again.json().data.id);
    expect(['approved', 'rejected']).toContain(final.status);
    // The account follows the decision that won, and only that one.
    const role = (await send('GET', `/admin/users/${applicant.id}`, admin)).json().data.role;
    const verified = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from providers where user_id = ${applicant.id} and verification = 'verified'`,
    );
    expect({ role, verified: verified[0]?.n }).toEqual(
      final.status === 'approved' ? { role: 'provider', verified: 1 } : { role: 'user', verified: 0 },
    );
    expect(await messagesTo(applicant.id, 'provider_application_decided')).toBe(2);
  });
});
