import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { seedDemoData } from '../helpers/demo.js';

describe('a request without a body, on a route that takes a JSON object', () => {
  let t: TestApp;
  let demo: Awaited<ReturnType<typeof seedDemoData>>;
  beforeAll(async () => {
    t = await buildTestApp();
    demo = await seedDemoData(t.app);
  });
  afterAll(() => t.close());

  it('is `{}` where every field is optional: cancelling needs no body', async () => {
    const slots = await t.app.inject({
      url: `/api/v1/providers/${demo.providerId}/slots?service_id=${demo.serviceId}`,
    });
    // Cancelling online ends 24 hours before the start.
    const startsAt = (slots.json().data.slots as string[]).find(
      (slot) => Date.parse(slot) > Date.now() + 2 * 86_400_000,
    );
    const booked = await t.app.inject({
      method: 'POST',
      url: '/api/v1/bookings',
      headers: demo.user.headers,
      payload: { service_id: demo.serviceId, starts_at: startsAt },
    });
    expect(booked.statusCode).toBe(201);
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bookings/${booked.json().data.id}/cancel`,
      headers: demo.user.headers,
    });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json().data.status).toBe('cancelled');
  });

  it('names the required field instead of "must be object": DELETE /me without a body', async () => {
    const response = await t.app.inject({ method: 'DELETE', url: '/api/v1/me', headers: demo.user.headers });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('VALIDATION_ERROR');
    expect(response.json().details).toEqual([expect.objectContaining({ field: 'body.password' })]);
    // The account is still there.
    expect((await t.app.inject({ url: '/api/v1/me', headers: demo.user.headers })).statusCode).toBe(200);
  });

  it('still refuses a body that is sent and is not an object', async () => {
    const response = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: { ...demo.user.headers, 'content-type': 'application/json' },
      payload: 'null',
    });
    expect(response.statusCode).toBe(400);
    expect((await t.app.inject({ url: '/api/v1/me', headers: demo.user.headers })).statusCode).toBe(200);
  });
});
