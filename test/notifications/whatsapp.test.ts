import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLog } from '../../src/modules/audit/audit.tables.js';
import { n8nSignature, RETRY_DELAYS_MS } from '../../src/modules/notifications/index.js';
import { type N8nReceiver, startN8nReceiver } from '../fixtures/n8n-receiver.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import {
  drain,
  N8N_SECRET,
  notificationRow,
  outboxRow,
  queue,
  reminder,
  setConsent,
  setPreferences,
  whatsappUser,
} from './helpers.js';

const START = new Date('2026-11-23T10:00:00.000Z');

describe('WhatsApp through the n8n webhook', () => {
  const clock = createTestClock(START);
  let receiver: N8nReceiver;
  let t: TestApp;
  let admin: TestUser;
  const callsFor = (id: string) => receiver.calls.filter((call) => call.deliveryId === id);

  beforeAll(async () => {
    receiver = await startN8nReceiver(N8N_SECRET);
    t = await buildTestApp({ clock, env: { N8N_WEBHOOK_URL: receiver.url, N8N_WEBHOOK_SECRET: N8N_SECRET } });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });
  beforeEach(() => {
    clock.set(START);
    receiver.setFailing(false);
  });

  it('queues a row and an outbox message in the caller transaction, then posts one signed message', async () => {
    const user = await whatsappUser(t.app);
    const id = await queue(t, reminder(user.id));

    const queued = await notificationRow(t, id);
    expect(queued).toMatchObject({ status: 'queued', attempts: 0, channels: ['whatsapp'], purpose: 'reminder' });
    expect(queued.data).toMatchObject({ title: 'Time for your check-in' });
    const message = await outboxRow(t, queued.outboxId as string);
    expect(message).toMatchObject({
      type: 'notification.deliver',
      payload: { notification_id: id },
      status: 'pending',
      maxAttempts: 6,
    });

    await drain(t);

    const calls = callsFor(id);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.status).toBe(200);
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.body).toEqual({
      delivery_id: id,
      to: user.phone,
      text: expect.stringContaining('Your weekly wellness check-in is ready.'),
      template: 'wellness_reminder',
      purpose: 'reminder',
    });
    const seconds = Math.floor(START.getTime() / 1000);
    expect(call?.headers['x-signature']).toBe(n8nSignature(N8N_SECRET, seconds, call?.rawBody as string));

    const sent = await notificationRow(t, id);
    expect(sent).toMatchObject({ status: 'sent', attempts: 1, lastError: null, cancelReason: null, data: null });
    expect(sent.sentAt?.toISOString()).toBe(START.toISOString());
    expect((await outboxRow(t, sent.outboxId as string)).status).toBe('delivered');
  });

  it('the receiver refuses a bad signature and a body that does not match its signature', async () => {
    const body = JSON.stringify({ delivery_id: 'x', to: '+447700900000', text: 'hi' });
    const now = Math.floor(Date.now() / 1000);
    const post = (signature: string, payload = body) =>
      fetch(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': signature, 'x-delivery-id': 'manual' },
        body: payload,
      });
    expect((await post(n8nSignature('another-secret-0123456789', now, body))).status).toBe(401);
    expect((await post(n8nSignature(N8N_SECRET, now, body), `${body} `)).status).toBe(401);
    expect((await post('t=1,v1=zz')).status).toBe(401);
    expect((await post(n8nSignature(N8N_SECRET, now, body))).status).toBe(200);
  });

  it('retries after 1 min, 5 min, 30 min, 2 h and 5 h; the 6th failure is dead; an admin retry delivers it', async () => {
    const user = await whatsappUser(t.app);
    receiver.setFailing(true);
    const id = await queue(t, reminder(user.id));
    const firstOutboxId = (await notificationRow(t, id)).outboxId as string;

    for (let attempt = 1; attempt <= 6; attempt++) {
      expect(await t.app.platform.dispatcher.runOnce()).toBe(1);
      const row = await notificationRow(t, id);
      const message = await outboxRow(t, firstOutboxId);
      expect(row).toMatchObject({ attempts: attempt, lastError: 'n8n webhook answered 500' });
      expect(message.attempts).toBe(attempt);
      if (attempt < 6) {
        const delay = RETRY_DELAYS_MS[attempt - 1] as number;
        expect(row.status).toBe('queued');
        expect(message.status).toBe('pending');
        expect(message.deliverAfter.getTime() - clock.now().getTime()).toBe(delay);
        clock.advance(delay - 1000);
        expect(await t.app.platform.dispatcher.runOnce()).toBe(0);
        clock.advance(1000);
      } else {
        expect(row.status).toBe('dead');
        expect(message.status).toBe('dead');
        // Kept so the message can be sent again (no secret in it).
        expect(row.data).toMatchObject({ title: 'Time for your check-in' });
      }
    }
    expect(RETRY_DELAYS_MS).toEqual([60_000, 300_000, 1_800_000, 7_200_000, 18_000_000]);
    const failed = callsFor(id);
    expect(failed).toHaveLength(6);
    expect(failed.every((call) => call.status === 500 && call.body?.delivery_id === id)).toBe(true);
    expect(await t.app.platform.dispatcher.runOnce()).toBe(0);

    receiver.setFailing(false);
    // Hours have passed on the test clock: the admin signs in again.
    const retrier = await createUser(t.app, { role: 'admin' });
    const retry = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/notifications/${id}/retry`,
      headers: retrier.headers,
    });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().data).toMatchObject({ id, status: 'queued', attempts: 0, last_error: null });
    expect(retry.json().data).not.toHaveProperty('data');

    const requeued = await notificationRow(t, id);
    expect(requeued.status).toBe('queued');
    expect(requeued.outboxId).not.toBe(firstOutboxId);
    expect(await outboxRow(t, requeued.outboxId as string)).toMatchObject({ status: 'pending', attempts: 0 });
    const audit = await t.app.platform.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'admin.notification_retried'), eq(auditLog.targetId, id)));
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actorId).toBe(retrier.id);

    await drain(t);
    const delivered = callsFor(id).filter((call) => call.status === 200);
    // Same delivery id as the failed attempts: the receiver can tell it is the same message.
    expect(delivered.map((call) => call.body?.delivery_id)).toEqual([id]);
    expect(await notificationRow(t, id)).toMatchObject({ status: 'sent', attempts: 1, lastError: null, data: null });
    expect((await outboxRow(t, requeued.outboxId as string)).status).toBe('delivered');
    expect((await outboxRow(t, firstOutboxId)).status).toBe('dead');

    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/notifications/${id}/retry`,
      headers: retrier.headers,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('CONFLICT');
  });

  it('withdrawn consent between queueing and sending cancels the message: nothing is sent', async () => {
    const user = await whatsappUser(t.app);
    const id = await queue(t, reminder(user.id));
    await setConsent(t.app, user, 'whatsapp', false);

    await drain(t);

    expect(callsFor(id)).toHaveLength(0);
    const row = await notificationRow(t, id);
    expect(row).toMatchObject({ status: 'cancelled', cancelReason: 'consent_withdrawn', attempts: 0, sentAt: null });
    expect((await outboxRow(t, row.outboxId as string)).status).toBe('delivered');
  });

  it('a promotion also needs marketing consent; booking messages need WhatsApp consent too', async () => {
    const user = await whatsappUser(t.app);
    const promotion = await queue(t, reminder(user.id, { purpose: 'promotion' }));
    const stranger = await createUser(t.app);
    const booking = await queue(t, {
      userId: stranger.id,
      channels: ['whatsapp'],
      purpose: 'booking',
      template: 'booking_confirmed',
      data: { service_name: 'Yoga', starts_at: '2026-11-25T09:00:00.000Z' },
      urgent: true,
    });

    await drain(t);

    expect(callsFor(promotion)).toHaveLength(0);
    expect(await notificationRow(t, promotion)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'consent_withdrawn',
    });
    // No phone either, but the first thing missing is checked first: a phone.
    expect(await notificationRow(t, booking)).toMatchObject({ status: 'cancelled', cancelReason: 'no_phone' });

    await setConsent(t.app, user, 'marketing', true);
    const allowed = await queue(t, reminder(user.id, { purpose: 'promotion' }));
    await drain(t);
    expect(await notificationRow(t, allowed)).toMatchObject({ status: 'sent' });
  });

  it('cancels for a deactivated account (recipient_gone) and a switched-off channel (channel_disabled)', async () => {
    const gone = await whatsappUser(t.app);
    const goneId = await queue(t, reminder(gone.id));
    const deactivate = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/users/${gone.id}`,
      headers: admin.headers,
      payload: { is_active: false },
    });
    expect(deactivate.statusCode).toBe(200);

    const quiet = await whatsappUser(t.app);
    await setPreferences(t.app, quiet, {
      channels: { whatsapp: false, email: true },
      quiet_hours: { start: '21:00', end: '08:00' },
    });
    const disabledId = await queue(t, reminder(quiet.id));

    await drain(t);

    expect(callsFor(goneId)).toHaveLength(0);
    expect(callsFor(disabledId)).toHaveLength(0);
    expect(await notificationRow(t, goneId)).toMatchObject({ status: 'cancelled', cancelReason: 'recipient_gone' });
    expect(await notificationRow(t, disabledId)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'channel_disabled',
    });
  });

  it('quiet hours defer a non-urgent message to their end without using an attempt; an urgent one goes at once', async () => {
    const user = await whatsappUser(t.app);
    await setPreferences(t.app, user, {
      channels: { whatsapp: true, email: true },
      quiet_hours: { start: '21:00', end: '08:00' },
      time_zone: 'Europe/London',
    });
    clock.set(new Date('2026-11-23T22:30:00.000Z')); // 22:30 in London (GMT)
    const later = await queue(t, reminder(user.id));
    const now = await queue(t, {
      userId: user.id,
      channels: ['whatsapp'],
      purpose: 'booking',
      template: 'booking_cancelled',
      data: { service_name: 'Massage', starts_at: '2026-11-24T09:00:00.000Z', reason: 'The provider is ill' },
      urgent: true,
    });

    expect(await t.app.platform.dispatcher.runOnce()).toBe(2);

    expect(callsFor(now).map((call) => call.status)).toEqual([200]);
    expect(callsFor(now)[0]?.body?.text).toContain('Tuesday, 24 November 2026 at 09:00 GMT');
    expect(await notificationRow(t, now)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(callsFor(later)).toHaveLength(0);
    const deferred = await notificationRow(t, later);
    expect(deferred).toMatchObject({ status: 'queued', attempts: 0, lastError: null });
    expect(deferred.notBefore.toISOString()).toBe('2026-11-24T08:00:00.000Z');
    const message = await outboxRow(t, deferred.outboxId as string);
    expect(message).toMatchObject({ status: 'pending', attempts: 0, lastError: null });
    expect(message.deliverAfter.toISOString()).toBe('2026-11-24T08:00:00.000Z');

    clock.set(new Date('2026-11-24T07:59:00.000Z'));
    expect(await t.app.platform.dispatcher.runOnce()).toBe(0);
    clock.set(new Date('2026-11-24T08:00:00.000Z'));
    expect(await t.app.platform.dispatcher.runOnce()).toBe(1);
    expect(callsFor(later).map((call) => call.status)).toEqual([200]);
    expect(await notificationRow(t, later)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('quiet hours follow the clocks across a DST change (Europe/London, end of March and end of October)', async () => {
    const user = await whatsappUser(t.app);
    await setPreferences(t.app, user, {
      channels: { whatsapp: true, email: true },
      quiet_hours: { start: '21:00', end: '08:00' },
      time_zone: 'Europe/London',
    });

    // 22:00 GMT on Saturday; clocks go forward at 01:00 GMT: 08:00 BST is 07:00 UTC.
    clock.set(new Date('2026-03-28T22:00:00.000Z'));
    const spring = await queue(t, reminder(user.id));
    await t.app.platform.dispatcher.runOnce();
    expect((await notificationRow(t, spring)).notBefore.toISOString()).toBe('2026-03-29T07:00:00.000Z');
    clock.set(new Date('2026-03-29T07:00:00.000Z'));
    await drain(t);
    expect(await notificationRow(t, spring)).toMatchObject({ status: 'sent', attempts: 1 });

    // 22:30 BST on Saturday; clocks go back at 01:00 UTC: 08:00 GMT is 08:00 UTC.
    clock.set(new Date('2026-10-24T21:30:00.000Z'));
    const autumn = await queue(t, reminder(user.id));
    await t.app.platform.dispatcher.runOnce();
    expect((await notificationRow(t, autumn)).notBefore.toISOString()).toBe('2026-10-25T08:00:00.000Z');
    clock.set(new Date('2026-10-25T08:00:00.000Z'));
    await drain(t);
    expect(await notificationRow(t, autumn)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('without a preference row, quiet hours are 21:00–08:00 in the account time zone', async () => {
    const user = await whatsappUser(t.app);
    const zone = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { time_zone: 'America/New_York' },
    });
    expect(zone.statusCode).toBe(200);
    clock.set(new Date('2026-11-24T03:00:00.000Z')); // 22:00 in New York (EST)
    const id = await queue(t, reminder(user.id));
    await t.app.platform.dispatcher.runOnce();
    expect((await notificationRow(t, id)).notBefore.toISOString()).toBe('2026-11-24T13:00:00.000Z');
    clock.set(new Date('2026-11-24T13:00:00.000Z'));
    await drain(t);
    expect(await notificationRow(t, id)).toMatchObject({ status: 'sent' });
  });

  it('health reports the channel from its last delivery: down after a failure, up after a success', async () => {
    const health = async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/health', headers: admin.headers });
      return response.json();
    };
    const user = await whatsappUser(t.app);
    receiver.setFailing(true);
    const id = await queue(t, reminder(user.id));
    await t.app.platform.dispatcher.runOnce();
    const down = await health();
    expect(down.status).toBe('degraded');
    expect(down.services.whatsapp).toMatchObject({ status: 'down', kind: 'n8n', error: 'n8n webhook answered 500' });

    receiver.setFailing(false);
    clock.advance(60_000);
    await drain(t);
    expect(await notificationRow(t, id)).toMatchObject({ status: 'sent', attempts: 2 });
    const up = await health();
    expect(up.services.whatsapp).toMatchObject({ status: 'up', kind: 'n8n' });
    expect(up.services.email).toMatchObject({ status: 'up', kind: 'log' });
  });
});
