import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SmtpReceiver, startSmtpReceiver } from '../fixtures/smtp-receiver.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser } from '../helpers/users.js';
import { drain, notificationRow, notificationsOf, outboxRow, queue, setPreferences } from './helpers.js';

const START = new Date('2026-11-23T10:00:00.000Z');
const FROM = 'Care Platform <no-reply@care.test>';
const APP_URL = 'https://app.care.test';

describe('email through SMTP', () => {
  const clock = createTestClock(START);
  let smtp: SmtpReceiver;
  let t: TestApp;
  const mailTo = (email: string) => smtp.messages.filter((mail) => mail.envelopeTo.includes(email));

  beforeAll(async () => {
    smtp = await startSmtpReceiver();
    t = await buildTestApp({ clock, env: { SMTP_URL: smtp.url, EMAIL_FROM: FROM, PUBLIC_APP_URL: APP_URL } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });
  beforeEach(() => clock.set(START));

  it('a password reset request ends as an email with a working single-use link, in text and HTML', async () => {
    const user = await createUser(t.app, { name: 'Ada' });
    const request = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: user.email },
    });
    expect(request.statusCode).toBe(202);
    // The request only queues a message; the worker looks the account up and queues the email.
    await t.app.platform.dispatcher.runOnce();
    const [queued] = await notificationsOf(t, user.id);
    expect(queued).toMatchObject({
      channels: ['email'],
      purpose: 'account',
      template: 'password_reset',
      urgent: true,
      status: 'queued',
    });
    const id = queued?.id as string;
    const token = queued?.data?.token as string;
    expect(token).toBeTruthy();

    await drain(t);

    const row = await notificationRow(t, id);
    // Sent: the token no longer sits in the database.
    expect(row).toMatchObject({ status: 'sent', attempts: 1, data: null, lastError: null });
    expect((await outboxRow(t, row.outboxId as string)).status).toBe('delivered');

    const mails = mailTo(user.email);
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail?.envelopeFrom).toBe('no-reply@care.test');
    expect(mail?.headers.from).toBe(FROM);
    expect(mail?.headers.to).toBe(user.email);
    expect(mail?.headers.subject).toBe('Reset your Care Platform password');
    expect(mail?.headers['message-id']).toBe(`<${id}@care.test>`);
    expect(mail?.headers['x-delivery-id']).toBe(id);
    expect(mail?.headers['content-type']).toMatch(/^multipart\/alternative/);
    const link = `${APP_URL}/reset-password?token=${token}`;
    expect(mail?.text).toContain('Hello Ada,');
    expect(mail?.text).toContain(link);
    expect(mail?.text).not.toContain('notification settings');
    expect(mail?.html).toContain(`href="${link}"`);
    expect(mail?.html).toContain('<p>Hello Ada,</p>');

    const confirm = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/confirm',
      payload: { token, password: 'A-fresh-passphrase-for-ada-42' },
    });
    expect(confirm.statusCode).toBe(200);
  });

  it('an email.password_reset row queued by an older release is relayed as a reset email, once', async () => {
    const user = await createUser(t.app);
    const { db, outbox } = t.app.platform;
    const payload = { user_id: user.id, token: 'legacy-token-123', expires_at: '2026-11-23T10:30:00.000Z' };
    const legacyId = await db.transaction((tx) => outbox.enqueue(tx, { type: 'email.password_reset', payload }));

    await drain(t);

    // The relayed message takes the legacy row's id.
    expect(await notificationRow(t, legacyId)).toMatchObject({
      template: 'password_reset',
      urgent: true,
      status: 'sent',
      data: null,
    });
    expect((await outboxRow(t, legacyId)).status).toBe('delivered');
    const mails = mailTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.headers['x-delivery-id']).toBe(legacyId);
    expect(mails[0]?.text).toContain(`${APP_URL}/reset-password?token=legacy-token-123`);

    // Running the legacy row again (a lapsed lease) sends nothing new.
    await t.app.platform.services.notifications.relayPasswordReset(payload, {
      id: legacyId,
      type: 'email.password_reset',
      attempt: 2,
      maxAttempts: 3,
    });
    expect(await drain(t)).toBe(0);
    expect(mailTo(user.email)).toHaveLength(1);
    expect(await notificationsOf(t, user.id)).toHaveLength(1);
  });

  it('an urgent account email goes out during quiet hours and even with email switched off', async () => {
    const user = await createUser(t.app);
    await setPreferences(t.app, user, {
      channels: { whatsapp: true, email: false },
      quiet_hours: { start: '21:00', end: '08:00' },
    });
    clock.set(new Date('2026-11-23T23:00:00.000Z'));
    const reset = await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'account',
      template: 'password_reset',
      data: { token: 'tok_123', expires_at: '2026-11-23T23:30:00.000Z' },
      urgent: true,
    });
    const reminder = await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'reminder',
      template: 'wellness_reminder',
      data: { title: 'Hydration', message: 'Drink a glass of water.' },
    });

    await drain(t);

    expect(await notificationRow(t, reset)).toMatchObject({ status: 'sent', data: null });
    expect(await notificationRow(t, reminder)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'channel_disabled',
      sentAt: null,
    });
    const mails = mailTo(user.email);
    expect(mails.map((mail) => mail.headers.subject)).toEqual(['Reset your Care Platform password']);
    expect(mails[0]?.text).toContain('expires on Monday, 23 November 2026 at 23:30 UTC');
  });

  it('renders booking and wellness templates in the recipient’s time zone and escapes HTML', async () => {
    const user = await createUser(t.app);
    await setPreferences(t.app, user, {
      channels: { whatsapp: true, email: true },
      quiet_hours: { start: '22:00', end: '07:00' },
      time_zone: 'Europe/Paris',
    });
    const booking = { service_name: '<b>Yoga</b> & "Pilates"', starts_at: '2026-11-25T09:00:00.000Z' };
    const confirmed = await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'booking',
      template: 'booking_confirmed',
      data: { ...booking, provider_name: 'Studio <Lumière>', booking_id: 'b 1/2' },
      urgent: true,
    });
    await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'booking',
      template: 'booking_reminder',
      data: booking,
      priority: true,
    });
    await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'booking',
      template: 'booking_cancelled',
      data: booking,
      urgent: true,
    });
    await queue(t, {
      userId: user.id,
      channels: ['email'],
      purpose: 'reminder',
      template: 'wellness_reminder',
      data: { title: 'Screening due', message: 'Your screening is due <soon>.' },
    });

    await drain(t);

    const mails = mailTo(user.email);
    expect(mails.map((mail) => mail.headers.subject).sort()).toEqual([
      'Booking cancelled: <b>Yoga</b> & "Pilates"',
      'Booking confirmed: <b>Yoga</b> & "Pilates"',
      'Reminder: <b>Yoga</b> & "Pilates" tomorrow',
      'Screening due',
    ]);
    const confirmation = mails.find((mail) => mail.headers['x-delivery-id'] === confirmed);
    // 09:00 UTC is 10:00 in Paris.
    expect(confirmation?.text).toContain(
      'Your booking is confirmed: <b>Yoga</b> & "Pilates" with Studio <Lumière>, Wednesday, 25 November 2026 at 10:00 CET.',
    );
    expect(confirmation?.text).toContain(`${APP_URL}/bookings/b%201%2F2`);
    expect(confirmation?.text).toContain(`${APP_URL}/settings/notifications`);
    expect(confirmation?.html).toContain(
      '&#60;b&#62;Yoga&#60;/b&#62; &#38; &#34;Pilates&#34; with Studio &#60;Lumière&#62;',
    );
    expect(confirmation?.html).not.toContain('<b>Yoga');
    expect(confirmation?.html).not.toContain('<Lumière>');
    const wellness = mails.find((mail) => mail.headers.subject === 'Screening due');
    expect(wellness?.html).toContain('Your screening is due &#60;soon&#62;.');
    expect(wellness?.text).toContain(`Open your plan: ${APP_URL}/wellness`);
  });

  it('health reports the SMTP channel up (from deliveries and a cached probe) and WhatsApp on the log channel', async () => {
    const admin = await createUser(t.app, { role: 'admin' });
    const response = await t.app.inject({ method: 'GET', url: '/api/health', headers: admin.headers });
    expect(response.statusCode).toBe(200);
    expect(response.json().services).toMatchObject({
      email: { status: 'up', kind: 'smtp' },
      whatsapp: { status: 'up', kind: 'log' },
    });
  });

  it('refuses data a template cannot render, in the caller transaction', async () => {
    const user = await createUser(t.app);
    await expect(
      queue(t, {
        userId: user.id,
        channels: ['email'],
        purpose: 'booking',
        template: 'booking_confirmed',
        data: { service_name: 'Yoga' },
      }),
    ).rejects.toThrow('template "booking_confirmed" needs data.starts_at');
    await expect(
      queue(t, {
        userId: user.id,
        channels: ['email'],
        purpose: 'account',
        template: 'no_such_template' as 'password_reset',
        data: {},
      }),
    ).rejects.toThrow('unknown template "no_such_template"');
  });
});
