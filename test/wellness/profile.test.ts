import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

describe('lifestyle profile', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    user = await createUser(t.app);
  });
  afterAll(() => t.close());

  const profileRow = async (userId: string) =>
    (
      await queryRows<Record<string, unknown>>(
        t.app.platform.db,
        sql`select age, birth_year, gender, country, diet_preference, completed_at from wellness_profiles where user_id = ${userId}`,
      )
    )[0];
  const completedEvents = async (userId: string) =>
    (
      await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from product_events where name = 'profile_completed' and subject = ${await subjectOf(t.app, userId)}`,
      )
    )[0]?.n;

  it('answers an empty profile at 0% before anything is saved', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me/profile', headers: user.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ age: null, completion: 0, completed_at: null });
    expect(res.json().data.missing_fields).toHaveLength(7);
  });

  it('patches fields, reports completion and what is missing', async () => {
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { birth_year: 1990, diet_preference: 'vegan', country: 'GB' },
    });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data).toMatchObject({ birth_year: 1990, diet_preference: 'vegan', country: 'GB', completion: 43 });
    expect(data.missing_fields).toEqual(['gender', 'region', 'activity_level', 'preferred_language']);
    expect(await profileRow(user.id)).toMatchObject({ birth_year: 1990, diet_preference: 'vegan', completed_at: null });
  });

  it('emits profile_completed the first time it reaches 100%, and never again', async () => {
    const full = {
      age: 36,
      birth_year: 1990,
      gender: 'female',
      country: 'GB',
      region: 'Yorkshire',
      diet_preference: 'vegan',
      activity_level: 'moderate',
      preferred_language: 'en',
    };
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/me/profile', headers: user.headers, payload: full });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ completion: 100, missing_fields: [] });
    expect(res.json().data.completed_at).not.toBeNull();
    expect(await completedEvents(user.id)).toBe(1);

    // Down and up again: still one event.
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { region: null },
    });
    const again = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { region: 'Yorkshire' },
    });
    expect(again.json().data.completion).toBe(100);
    expect(await completedEvents(user.id)).toBe(1);
  });

  it('PUT replaces: fields left out are cleared', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { age: 40, activity_level: 'active' },
    });
    expect(res.json().data).toMatchObject({ age: 40, activity_level: 'active', country: null, diet_preference: null });
  });

  it('refuses medical data with MEDICAL_DATA_NOT_COLLECTED, naming each field, and stores nothing', async () => {
    const before = await profileRow(user.id);
    for (const payload of [
      { age: 30, diagnosis: 'CIN2' },
      { medical_history: 'none' },
      { prescriptions: ['x'] },
      { hpvTestResult: 'negative' },
      { symptoms: ['pain'] },
      { extra: { pap_smear: 'normal' } },
    ]) {
      const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/me/profile', headers: user.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      const body = res.json();
      expect(body.code).toBe('MEDICAL_DATA_NOT_COLLECTED');
      expect(body.message).toMatch(/never collect medical data/);
      expect(body.details.length).toBeGreaterThan(0);
    }
    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { age: 30, test_results: [] },
    });
    expect(put.json().code).toBe('MEDICAL_DATA_NOT_COLLECTED');
    expect(await profileRow(user.id)).toEqual(before);
  });

  it('rejects unknown fields, bad values and inconsistent age with VALIDATION_ERROR', async () => {
    const cases = [
      { favourite_colour: 'blue' },
      { age: 9 },
      { country: 'G1' },
      { diet_preference: 'carnivore' },
      { activity_level: 'extreme' },
      { preferred_language: 'English' },
      { age: 30, birth_year: 1950 },
      { birth_year: 2024 },
    ];
    for (const payload of cases) {
      const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/me/profile', headers: user.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
  });

  it('needs a signed-in caller and only ever shows the caller’s own profile', async () => {
    for (const method of ['GET', 'PUT', 'PATCH'] as const) {
      const res = await t.app.inject({ method, url: '/api/v1/me/profile', payload: method === 'GET' ? undefined : {} });
      expect(res.statusCode).toBe(401);
    }
    const other = await createUser(t.app);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/me/profile', headers: other.headers });
    expect(res.json().data.completion).toBe(0);
  });
});
