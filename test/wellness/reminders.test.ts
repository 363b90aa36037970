import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { occurrence } from '../../src/modules/reminders/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('recurrence in local wall time', () => {
  it('keeps 09:00 at 09:00 across the spring and autumn changes', () => {
    const daily = {
      localStart: '2027-03-26T09:00',
      timeZone: 'Europe/London',
      recurrence: 'daily' as const,
      intervalMonths: null,
    };
    const times = [0, 1, 2, 3].map((n) => occurrence(daily, n)?.toISOString());
    // GMT until 28 March 2027 01:00 UTC, then BST (UTC+1).
    expect(times).toEqual([
      '2027-03-26T09:00:00.000Z',
      '2027-03-27T09:00:00.000Z',
      '2027-03-28T08:00:00.000Z',
      '2027-03-29T08:00:00.000Z',
    ]);
    const weekly = {
      ...daily,
      localStart: '2027-10-24T07:30',
      timeZone: 'America/New_York',
      recurrence: 'weekly' as const,
    };
    // EDT (UTC-4) until 7 November 2027, then EST (UTC-5).
    expect([0, 1, 2].map((n) => occurrence(weekly, n)?.toISOString())).toEqual([
      '2027-10-24T11:30:00.000Z',
      '2027-10-31T11:30:00.000Z',
      '2027-11-07T12:30:00.000Z',
    ]);
  });

  it('clamps monthly days to the month and steps every N months', () => {
    const monthly = {
      localStart: '2027-01-31T10:00',
      timeZone: 'UTC',
      recurrence: 'monthly' as const,
      intervalMonths: null,
    };
    expect([1, 2].map((n) => occurrence(monthly, n)?.toISOString())).toEqual([
      '2027-02-28T10:00:00.000Z',
      '2027-03-31T10:00:00.000Z',
    ]);
    const everySix = {
      ...monthly,
      localStart: '2027-05-15T10:00',
      recurrence: 'every_n_months' as const,
      intervalMonths: 6,
    };
    expect(occurrence(everySix, 2)?.toISOString()).toBe('2028-05-15T10:00:00.000Z');
  });

  it('places a wall time that does not exist (the spring gap) at the end of the gap', () => {
    const inGap = {
      localStart: '2027-03-27T01:30',
      timeZone: 'Europe/London',
      recurrence: 'daily' as const,
      intervalMonths: null,
    };
    expect(occurrence(inGap, 1)?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
  });
});

describe('reminders', () => {
  const clock = createTestClock(new Date('2027-03-25T12:00:00Z'));
  let t: TestApp;
  let free: TestUser;
  let premium: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  const create = (u: TestUser, body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/me/reminders', headers: u.headers, payload: body });
  const base = {
    title: 'Book my screening',
    starts_at: '2027-03-26T09:00:00Z',
    time_zone: 'Europe/London',
    channel: 'email',
  };

  it('sends each occurrence exactly once, at 09:00 local across a DST change, through notifications', async () => {
    const user = await createUser(t.app);
    const res = await create(user, { ...base, recurrence: { kind: 'daily' } });
    expect(res.statusCode).toBe(201);
    const reminder = res.json().data;
    expect(reminder).toMatchObject({
      local_start: '2027-03-26T09:00',
      next_occurrence_at: '2027-03-26T09:00:00.000Z',
      priority: false,
      active: true,
    });

    const sentAt: string[] = [];
    for (const at of ['2027-03-26T09:00:00Z', '2027-03-27T09:00:00Z', '2027-03-28T08:00:00Z']) {
      clock.set(new Date(new Date(at).getTime() - 60_000));
      expect(await t.app.platform.jobs.reminders.runOnce()).toBe(0);
      clock.set(new Date(at));
      // Two schedulers at once (two instances): one send between them.
      const [a, b] = await Promise.all([
        t.app.platform.jobs.reminders.runOnce(),
        t.app.platform.jobs.reminders.runOnce(),
      ]);
      expect(a + b).toBe(1);
      expect(await t.app.platform.jobs.reminders.runOnce()).toBe(0);
      sentAt.push(at);
    }
    const occurrences = await queryRows<{ occurs_at: Date; notification_id: string | null }>(
      t.app.platform.db,
      sql`select occurs_at, notification_id from reminder_occurrences where reminder_id = ${reminder.id} order by occurs_at`,
    );
    expect(occurrences.map((o) => new Date(o.occurs_at).toISOString())).toEqual(
      sentAt.map((at) => new Date(at).toISOString()),
    );
    const notes = await queryRows<{ id: string; purpose: string; template: string; channel: string }>(
      t.app.platform.db,
      sql`select id, purpose, template, channel from notifications where user_id = ${user.id} and purpose = 'reminder'`,
    );
    expect(notes).toHaveLength(3);
    expect(notes[0]).toMatchObject({ template: 'wellness_reminder', channel: 'email' });
    expect(occurrences.every((o) => notes.some((n) => n.id === o.notification_id))).toBe(true);
    const [events] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from product_events where name = 'reminder_triggered' and subject = ${await subjectOf(t.app, user.id)}`,
    );
    expect(events?.n).toBe(3);
  });

  it('sends only the latest missed occurrence after downtime, and a one-off only once', async () => {
    clock.set(new Date('2027-04-01T12:00:00Z'));
    const user = await createUser(t.app);
    const daily = (
      await create(user, { ...base, starts_at: '2027-04-02T09:00:00Z', recurrence: { kind: 'daily' } })
    ).json().data;
    const once = (await create(user, { ...base, title: 'Call the clinic', starts_at: '2027-04-02T10:00:00Z' })).json()
      .data;
    expect(once.recurrence).toBeNull();
    clock.set(new Date('2027-04-05T12:00:00Z'));
    // Other tests' reminders are due too: count this user's sends.
    await t.app.platform.jobs.reminders.runOnce();
    const [sentForUser] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from reminder_occurrences o join reminders r on r.id = o.reminder_id
          where r.user_id = ${user.id}`,
    );
    expect(sentForUser?.n).toBe(2);
    const rows = await queryRows<{ id: string; active: boolean; next_occurrence_at: Date | null }>(
      t.app.platform.db,
      sql`select id, active, next_occurrence_at from reminders where user_id = ${user.id}`,
    );
    const dailyRow = rows.find((r) => r.id === daily.id);
    const onceRow = rows.find((r) => r.id === once.id);
    expect(new Date(dailyRow?.next_occurrence_at as Date).toISOString()).toBe('2027-04-06T09:00:00.000Z');
    expect(onceRow).toMatchObject({ active: false, next_occurrence_at: null });
    const [sent] = await queryRows<{ occurs_at: Date }>(
      t.app.platform.db,
      sql`select occurs_at from reminder_occurrences where reminder_id = ${daily.id}`,
    );
    expect(new Date(sent?.occurs_at as Date).toISOString()).toBe('2027-04-05T09:00:00.000Z');
    expect(await t.app.platform.jobs.reminders.runOnce()).toBe(0);
  });

  it('limits the free plan to 2 active reminders; premium is unlimited and priority', async () => {
    clock.set(new Date('2027-05-01T12:00:00Z'));
    const user = await createUser(t.app);
    const later = { ...base, starts_at: '2027-06-01T09:00:00Z' };
    expect((await create(user, later)).statusCode).toBe(201);
    const second = await create(user, later);
    expect(second.statusCode).toBe(201);
    const third = await create(user, later);
    expect(third.statusCode).toBe(403);
    expect(third.json().code).toBe('PREMIUM_REQUIRED');
    // Pausing one frees a slot; resuming it while two others are active does not.
    const id = second.json().data.id;
    const pause = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/me/reminders/${id}`,
      headers: user.headers,
      payload: { active: false },
    });
    expect(pause.json().data.active).toBe(false);
    expect((await create(user, later)).statusCode).toBe(201);
    const resume = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/me/reminders/${id}`,
      headers: user.headers,
      payload: { active: true },
    });
    expect(resume.statusCode).toBe(403);
    const [count] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from reminders where user_id = ${user.id} and active`,
    );
    expect(count?.n).toBe(2);

    const fresh = await createUser(t.app, { plan: 'premium' });
    for (let i = 0; i < 4; i++) {
      const res = await create(fresh, later);
      expect(res.statusCode).toBe(201);
      expect(res.json().data.priority).toBe(true);
    }
  });

  it('applies the free limit again when a trial has expired', async () => {
    clock.set(new Date('2027-05-01T12:00:00Z'));
    const user = await createUser(t.app);
    const trial = await t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers: user.headers });
    expect(trial.statusCode).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    const headers = { authorization: `Bearer ${login.json().data.access_token}` };
    const later = { ...base, starts_at: '2027-07-01T09:00:00Z' };
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/me/reminders', headers, payload: later });
      expect(res.statusCode).toBe(201);
      expect(res.json().data.priority).toBe(true);
    }
    clock.advance(15 * DAY);
    const relogin = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    const after = { authorization: `Bearer ${relogin.json().data.access_token}` };
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/me/reminders', headers: after, payload: later });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('PREMIUM_REQUIRED');
  });

  it('needs the whatsapp consent and a phone number for WhatsApp reminders', async () => {
    clock.set(new Date('2027-05-01T12:00:00Z'));
    const user = await createUser(t.app);
    const body = { ...base, starts_at: '2027-06-01T09:00:00Z', channel: 'whatsapp' };
    const noConsent = await create(user, body);
    expect(noConsent.statusCode).toBe(409);
    expect(noConsent.json().code).toBe('CONSENT_REQUIRED');
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/whatsapp',
      headers: user.headers,
      payload: { granted: true },
    });
    const noPhone = await create(user, body);
    expect(noPhone.json().code).toBe('PHONE_REQUIRED');
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { phone: '+447700900123' },
    });
    const ok = await create(user, body);
    expect(ok.statusCode).toBe(201);
    expect(ok.json().data.channel).toBe('whatsapp');
  });

  it('validates input, changing nothing', async () => {
    clock.set(new Date('2027-05-01T12:00:00Z'));
    const user = await createUser(t.app);
    const cases = [
      { ...base, time_zone: 'Mars/Olympus' },
      { ...base, starts_at: '2027-04-01T09:00:00Z' },
      { ...base, starts_at: 'tomorrow' },
      { ...base, recurrence: { kind: 'every_n_months' } },
      { ...base, starts_at: '2027-06-01T09:00:00Z', recurrence: { kind: 'daily', interval_months: 2 } },
      { ...base, recurrence: { kind: 'hourly' } },
      { ...base, channel: 'sms' },
      { ...base, title: '' },
      { ...base, diagnosis: 'x' },
    ];
    for (const body of cases) {
      const res = await create(user, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const [count] = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from reminders where user_id = ${user.id}`,
    );
    expect(count?.n).toBe(0);
  });

  it("keeps reminders private: another user's is 404, no token is 401", async () => {
    clock.set(new Date('2027-05-01T12:00:00Z'));
    free = await createUser(t.app);
    premium = await createUser(t.app, { plan: 'premium' });
    const mine = (await create(premium, { ...base, starts_at: '2027-06-01T09:00:00Z' })).json().data;
    for (const [method, payload] of [
      ['GET', undefined],
      ['PATCH', { title: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await t.app.inject({
        method,
        url: `/api/v1/me/reminders/${mine.id}`,
        headers: free.headers,
        payload,
      });
      expect(res.statusCode, method).toBe(404);
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me/reminders' })).statusCode).toBe(401);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/me/reminders', headers: premium.headers });
    expect(list.json().data.map((r: { id: string }) => r.id)).toContain(mine.id);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/me/reminders/${mine.id}`,
      headers: premium.headers,
    });
    expect(del.statusCode).toBe(204);
  });
});
