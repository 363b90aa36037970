import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VISIT_TO_COMPLETE_NOTE } from '../../src/modules/bookings/bookings.seed.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { type DemoAccount, seedDemoData } from '../helpers/demo.js';

/** The journeys a person tries on a fresh `npm start`, with the demo logins only. */
describe('the demo walks the booking journey to the end', () => {
  let t: TestApp;
  let demo: Awaited<ReturnType<typeof seedDemoData>>;
  beforeAll(async () => {
    t = await buildTestApp();
    demo = await seedDemoData(t.app);
  });
  afterAll(() => t.close());

  const post = (url: string, who: DemoAccount, payload?: object) =>
    t.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: who.headers, ...(payload ? { payload } : {}) });

  it('has yesterday’s confirmed visit, which the provider completes and the user then reviews (once)', async () => {
    const mine = await t.app.inject({ url: '/api/v1/me/bookings?limit=100', headers: demo.user.headers });
    const visit = (mine.json().data as { id: string; status: string; note: string | null; starts_at: string }[]).find(
      (booking) => booking.note === VISIT_TO_COMPLETE_NOTE,
    );
    expect(visit).toMatchObject({ status: 'confirmed' });
    expect(Date.parse(visit?.starts_at ?? '')).toBeLessThan(Date.now());

    // Only its provider may complete it.
    expect((await post(`/bookings/${visit?.id}/complete`, demo.user)).statusCode).toBe(403);
    const completed = await post(`/bookings/${visit?.id}/complete`, demo.provider);
    expect(completed.statusCode).toBe(200);
    expect(completed.json().data.status).toBe('completed');

    const review = { rating: 5, text: 'Walked through the whole demo.' };
    expect((await post(`/bookings/${visit?.id}/review`, demo.user, review)).statusCode).toBe(201);
    expect((await post(`/bookings/${visit?.id}/review`, demo.user, review)).statusCode).toBe(409);

    // Seeding again does not make a second visit to complete.
    await seedDemoData(t.app);
    const again = await t.app.inject({ url: '/api/v1/me/bookings?limit=100', headers: demo.user.headers });
    expect(
      (again.json().data as { note: string | null }[]).filter((booking) => booking.note === VISIT_TO_COMPLETE_NOTE),
    ).toHaveLength(1);
  });

  it('the demo provider confirms by hand: a new booking waits as pending until it does', async () => {
    const slots = await t.app.inject({
      url: `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.serviceId}`,
    });
    expect(slots.statusCode).toBe(200);
    const [first] = slots.json().data.slots as string[];
    const booked = await post('/bookings', demo.user, { service_id: demo.serviceId, starts_at: first });
    expect(booked.statusCode).toBe(201);
    expect(booked.json().data.status).toBe('pending');
    const confirmed = await post(`/bookings/${booked.json().data.id}/confirm`, demo.provider);
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.json().data.status).toBe('confirmed');
  });

  it('has a pending provider application the admin approves, verifying that provider', async () => {
    const queue = await t.app.inject({
      url: '/api/v1/admin/provider-applications?status=pending',
      headers: demo.admin.headers,
    });
    const [application] = queue.json().data as { id: string; business_name: string }[];
    expect(application?.business_name).toBe('Fresh Start Physio');
    const approved = await post(`/admin/provider-applications/${application?.id}/approve`, demo.admin);
    expect(approved.statusCode, approved.body).toBe(200);
    expect((await t.app.inject({ url: `/api/v1/providers/${demo.pendingProviderId}` })).statusCode).toBe(200);
  });
});
