import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { notificationPreferences } from '../../src/modules/notifications/notifications.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain, notificationRow, outboxRow, outboxRowsOfType, queue, reminder, setPhone } from './helpers.js';

const START = new Date('2026-11-23T10:00:00.000Z');
const PREFS = '/api/v1/me/notification-preferences';

describe('notification preferences and admin routes (no channel configured: development log channel)', () => {
  const clock = createTestClock(START);
  const logLines: Record<string, unknown>[] = [];
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock, logLines });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t?.close());
  beforeEach(() => clock.set(START));

  const put = (user: TestUser | undefined, payload: unknown) =>
    t.app.inject({ method: 'PUT', url: PREFS, headers: user?.headers ?? {}, payload: payload as object });

  describe('GET and PUT /me/notification-preferences', () => {
    it('answers the defaults until changed, then stores and returns the new preferences', async () => {
      const user = await createUser(t.app);
      const initial = await t.app.inject({ method: 'GET', url: PREFS, headers: user.headers });
      expect(initial.statusCode).toBe(200);
      expect(initial.json().data).toEqual({
        channels: { whatsapp: true, email: true, sms: true, push: true },
        quiet_hours: { start: '21:00', end: '08:00' },
        time_zone: null,
        updated_at: null,
      });

      const saved = await put(user, {
        channels: { whatsapp: false, email: true },
        quiet_hours: { start: '22:30', end: '06:45' },
        time_zone: 'Asia/Kolkata',
      });
      expect(saved.statusCode).toBe(200);
      expect(saved.json().data).toEqual({
        channels: { whatsapp: false, email: true, sms: true, push: true },
        quiet_hours: { start: '22:30', end: '06:45' },
        time_zone: 'Asia/Kolkata',
        updated_at: START.toISOString(),
      });
      const [row] = await t.app.platform.db
        .select()
        .from(notificationPreferences)
        .where(eq(notificationPreferences.userId, user.id));
      expect(row).toMatchObject({
        channels: { whatsapp: false, email: true, sms: true, push: true },
        quietStart: '22:30',
        quietEnd: '06:45',
        timeZone: 'Asia/Kolkata',
      });

      // Leaving time_zone out goes back to the account's zone.
      const again = await put(user, {
        channels: { whatsapp: true, email: true },
        quiet_hours: { start: '21:00', end: '08:00' },
      });
      expect(again.json().data.time_zone).toBeNull();
      const read = await t.app.inject({ method: 'GET', url: PREFS, headers: user.headers });
      expect(read.json().data).toEqual(again.json().data);
    });

    it.each([
      ['a bad time', { channels: { whatsapp: true, email: true }, quiet_hours: { start: '24:00', end: '08:00' } }],
      [
        'a time without minutes',
        { channels: { whatsapp: true, email: true }, quiet_hours: { start: '9', end: '08:00' } },
      ],
      [
        'an unknown field',
        { channels: { whatsapp: true, email: true }, quiet_hours: { start: '21:00', end: '08:00' }, role: 'admin' },
      ],
      [
        'an unknown channel',
        { channels: { whatsapp: true, email: true, fax: true }, quiet_hours: { start: '21:00', end: '08:00' } },
      ],
      ['a missing channel', { channels: { whatsapp: true }, quiet_hours: { start: '21:00', end: '08:00' } }],
      [
        'a non-boolean switch',
        { channels: { whatsapp: 'yes', email: true }, quiet_hours: { start: '21:00', end: '08:00' } },
      ],
      [
        'an unknown time zone',
        {
          channels: { whatsapp: true, email: true },
          quiet_hours: { start: '21:00', end: '08:00' },
          time_zone: 'Mars/Olympus_Mons',
        },
      ],
    ])('refuses %s with 400 VALIDATION_ERROR and stores nothing', async (_label, payload) => {
      const user = await createUser(t.app);
      const response = await put(user, payload);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
      const rows = await t.app.platform.db
        .select()
        .from(notificationPreferences)
        .where(eq(notificationPreferences.userId, user.id));
      expect(rows).toHaveLength(0);
    });

    it('names the time zone field when it is not an IANA zone', async () => {
      const user = await createUser(t.app);
      const response = await put(user, {
        channels: { whatsapp: true, email: true },
        quiet_hours: { start: '21:00', end: '08:00' },
        time_zone: 'Mars/Olympus_Mons',
      });
      expect(response.json().details).toEqual([{ field: 'body.time_zone', message: 'is not an IANA time zone' }]);
    });

    it('needs a signed-in caller: 401 without a token, for reading and writing', async () => {
      const read = await t.app.inject({ method: 'GET', url: PREFS });
      expect(read.statusCode).toBe(401);
      expect(read.json().code).toBe('UNAUTHORIZED');
      const write = await put(undefined, {
        channels: { whatsapp: true, email: true },
        quiet_hours: { start: '21:00', end: '08:00' },
      });
      expect(write.statusCode).toBe(401);
    });
  });

  describe('GET /admin/notifications and POST /admin/notifications/:id/retry', () => {
    let ids: { sent: string; cancelled: string; resetCancelled: string };

    beforeAll(async () => {
      const user = await createUser(t.app);
      const sent = await queue(t, reminder(user.id, { channels: ['email'] }));
      // WhatsApp without the opt-in: cancelled.
      await setPhone(t.app, user, '+447700900555');
      const cancelled = await queue(t, reminder(user.id));
      const gone = await createUser(t.app);
      const resetCancelled = await queue(t, {
        userId: gone.id,
        channels: ['email'],
        purpose: 'account',
        template: 'password_reset',
        data: { token: 'secret-token', expires_at: '2026-11-23T10:30:00.000Z' },
        urgent: true,
      });
      const deactivate = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/users/${gone.id}`,
        headers: admin.headers,
        payload: { is_active: false },
      });
      expect(deactivate.statusCode).toBe(200);
      await drain(t);
      ids = { sent, cancelled, resetCancelled };
    });

    const list = (query: string, headers: Record<string, string> = admin.headers) =>
      t.app.inject({ method: 'GET', url: `/api/v1/admin/notifications${query}`, headers });

    it('the development log channel wrote the email to the log', async () => {
      expect(await notificationRow(t, ids.sent)).toMatchObject({ status: 'sent', attempts: 1, data: null });
      const line = logLines.find((entry) => entry.delivery_id === ids.sent);
      expect(line).toMatchObject({
        msg: 'email message (log channel)',
        template: 'wellness_reminder',
        subject: 'Time for your check-in',
      });
      expect(String(line?.text)).toContain('Your weekly wellness check-in is ready.');
      // The address is personal data: the logger redacts it.
      expect(line?.to).toBe('[redacted]');
    });

    it('lists newest first with status and channel filters and cursor pages, never the template data', async () => {
      const all = await list('');
      expect(all.statusCode).toBe(200);
      const items = all.json().data as Record<string, unknown>[];
      expect(items.map((item) => item.id)).toEqual([ids.resetCancelled, ids.cancelled, ids.sent]);
      for (const item of items) expect(item).not.toHaveProperty('data');
      expect(items[0]).toMatchObject({
        channels: ['email'],
        purpose: 'account',
        template: 'password_reset',
        status: 'cancelled',
        cancel_reason: 'recipient_gone',
        urgent: true,
      });
      expect(JSON.stringify(all.json())).not.toContain('secret-token');

      const cancelled = await list('?status=cancelled');
      expect(cancelled.json().data.map((item: { id: string }) => item.id)).toEqual([ids.resetCancelled, ids.cancelled]);
      const whatsapp = await list('?channel=whatsapp');
      expect(whatsapp.json().data.map((item: { id: string }) => item.id)).toEqual([ids.cancelled]);
      expect(whatsapp.json().data[0].cancel_reason).toBe('consent_withdrawn');
      const sentEmail = await list('?status=sent&channel=email');
      expect(sentEmail.json().data.map((item: { id: string }) => item.id)).toEqual([ids.sent]);

      const first = await list('?limit=2');
      expect(first.json().data.map((item: { id: string }) => item.id)).toEqual([ids.resetCancelled, ids.cancelled]);
      expect(first.json().meta.next_cursor).toBe(ids.cancelled);
      const second = await list(`?limit=2&cursor=${ids.cancelled}`);
      expect(second.json().data.map((item: { id: string }) => item.id)).toEqual([ids.sent]);
      expect(second.json().meta.next_cursor).toBeNull();
    });

    it('refuses bad filters with 400', async () => {
      for (const query of ['?status=lost', '?channel=fax', '?limit=101', '?limit=0', '?cursor=abc', '?extra=1']) {
        const response = await list(query);
        expect(response.statusCode, query).toBe(400);
        expect(response.json().code).toBe('VALIDATION_ERROR');
      }
    });

    it('is for admins: 401 without a token, 403 for a user or provider, and retries are refused alike', async () => {
      expect((await list('', {})).statusCode).toBe(401);
      for (const role of ['user', 'provider'] as const) {
        const someone = await createUser(t.app, { role });
        const listed = await list('', someone.headers);
        expect(listed.statusCode).toBe(403);
        expect(listed.json().code).toBe('FORBIDDEN');
        const retried = await t.app.inject({
          method: 'POST',
          url: `/api/v1/admin/notifications/${ids.cancelled}/retry`,
          headers: someone.headers,
        });
        expect(retried.statusCode).toBe(403);
      }
      expect((await notificationRow(t, ids.cancelled)).status).toBe('cancelled');
    });

    it('retry: 404 for an unknown id, 409 for a sent message and for one whose secret content was cleared', async () => {
      const retry = (id: string) =>
        t.app.inject({ method: 'POST', url: `/api/v1/admin/notifications/${id}/retry`, headers: admin.headers });
      const unknown = await retry('01890000-0000-7000-8000-000000000000');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe('NOT_FOUND');
      expect((await retry('not-a-uuid')).statusCode).toBe(400);

      const sent = await retry(ids.sent);
      expect(sent.statusCode).toBe(409);
      expect(sent.json().code).toBe('CONFLICT');

      const reset = await notificationRow(t, ids.resetCancelled);
      expect(reset.data).toBeNull();
      const cleared = await retry(ids.resetCancelled);
      expect(cleared.statusCode).toBe(409);
      expect((await notificationRow(t, ids.resetCancelled)).status).toBe('cancelled');
      const deliveries = await outboxRowsOfType(t, 'notification.deliver');
      expect(deliveries.filter((row) => row.payload.notification_id === ids.resetCancelled)).toHaveLength(1);
    });

    it('a retried message is checked again at send time: still no consent, cancelled again', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: `/api/v1/admin/notifications/${ids.cancelled}/retry`,
        headers: admin.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().data).toMatchObject({ status: 'queued', cancel_reason: null });
      await drain(t);
      expect(await notificationRow(t, ids.cancelled)).toMatchObject({
        status: 'cancelled',
        cancelReason: 'consent_withdrawn',
      });
    });
  });

  describe('privacy data map entry', () => {
    it('exports the user’s notifications without their data and the user’s preferences; erasure deletes both', async () => {
      const user = await createUser(t.app);
      await put(user, { channels: { whatsapp: true, email: false }, quiet_hours: { start: '20:00', end: '07:00' } });
      const id = await queue(t, reminder(user.id, { channels: ['email'] }));
      const erasedOutboxId = (await notificationRow(t, id)).outboxId as string;
      const other = await createUser(t.app);
      const othersId = await queue(t, reminder(other.id, { channels: ['email'] }));
      const entry = t.app.platform.dataMap.entries().find((e) => e.module === 'notifications');
      expect(entry?.tables).toEqual(['notifications', 'notification_preferences', 'push_devices']);

      const exported = (await entry?.export(t.app.platform.db, user.id)) as {
        notifications: Record<string, unknown>[];
        preferences: Record<string, unknown>;
      };
      expect(exported.notifications).toHaveLength(1);
      expect(exported.notifications[0]).toMatchObject({ id, channels: ['email'], template: 'wellness_reminder' });
      expect(exported.notifications[0]).not.toHaveProperty('data');
      expect(exported.preferences).toMatchObject({
        channels: { whatsapp: true, email: false },
        quiet_hours: { start: '20:00', end: '07:00' },
      });

      const outcome = await t.app.platform.db.transaction(
        async (tx) => (await entry?.erase(tx, user.id)) as { action: string; rows: number },
      );
      expect(outcome).toEqual({ action: 'deleted', rows: 2 });
      const after = (await entry?.export(t.app.platform.db, user.id)) as {
        notifications: unknown[];
        preferences: null;
      };
      expect(after).toEqual({ devices: [], notifications: [], preferences: null });
      expect((await notificationRow(t, othersId)).status).toBe('queued');

      // The erased user's queued message's outbox row finds nothing to send any more; the other person's goes.
      await drain(t);
      expect((await outboxRow(t, erasedOutboxId)).status).toBe('delivered');
      expect(logLines.some((line) => line.delivery_id === id)).toBe(false);
      expect((await notificationRow(t, othersId)).status).toBe('sent');
    });
  });
});

describe('weekly cap', () => {
  const clock = createTestClock(START);
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({ clock, env: { NOTIFICATIONS_WEEKLY_CAP: '2' } });
  });
  afterAll(() => t?.close());

  it('cancels non-urgent messages over the cap in a rolling 7 days; urgent and priority ones still go', async () => {
    const user = await createUser(t.app);
    const email = (overrides = {}) => reminder(user.id, { channels: ['email'], ...overrides });
    const first = await queue(t, email());
    await drain(t);
    clock.advance(86_400_000);
    const second = await queue(t, email());
    await drain(t);
    clock.advance(86_400_000);
    const third = await queue(t, email());
    const urgent = await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'booking',
      template: 'booking_cancelled',
      data: { service_name: 'Yoga', starts_at: '2026-11-27T09:00:00.000Z' },
      urgent: true,
    });
    const priority = await queue(t, email({ priority: true }));
    await drain(t);

    expect(await notificationRow(t, first)).toMatchObject({ status: 'sent' });
    expect(await notificationRow(t, second)).toMatchObject({ status: 'sent' });
    expect(await notificationRow(t, third)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'weekly_cap',
      sentAt: null,
    });
    expect(await notificationRow(t, urgent)).toMatchObject({ status: 'sent' });
    expect(await notificationRow(t, priority)).toMatchObject({ status: 'sent' });

    // Seven days after the first one, it no longer counts.
    clock.set(new Date(START.getTime() + 7 * 86_400_000 + 1000));
    const later = await queue(t, email());
    await drain(t);
    expect(await notificationRow(t, later)).toMatchObject({ status: 'sent' });

    // Another person has a budget of their own.
    const other = await createUser(t.app);
    const theirs = await queue(t, reminder(other.id, { channels: ['email'] }));
    await drain(t);
    expect(await notificationRow(t, theirs)).toMatchObject({ status: 'sent' });
  });
});
