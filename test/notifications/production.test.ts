import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser } from '../helpers/users.js';
import {
  drain,
  notificationRow,
  notificationsOf,
  outboxRow,
  queue,
  reminder,
  setConsent,
  setPhone,
} from './helpers.js';

const HEALTH_TOKEN = 'health-token-0123456789abcdef';

describe('production without notification channels', () => {
  const clock = createTestClock(new Date('2026-11-23T10:00:00.000Z'));
  const logLines: Record<string, unknown>[] = [];
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      logLines,
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'production-jwt-secret-0123456789abcdefghij',
        HEALTH_TOKEN,
      },
    });
  });
  afterAll(() => t?.close());

  it('cancels messages with channel_not_configured, logs an error, and never logs the message', async () => {
    const user = await createUser(t.app);
    const request = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/request',
      payload: { email: user.email },
    });
    expect(request.statusCode).toBe(202);
    await t.app.platform.dispatcher.runOnce();
    const [queued] = await notificationsOf(t, user.id);
    const token = queued?.data?.token as string;
    expect(token).toBeTruthy();
    await setPhone(t.app, user, '+447700900777');
    await setConsent(t.app, user, 'whatsapp', true);
    const whatsapp = await queue(t, reminder(user.id));

    await drain(t);

    const reset = await notificationRow(t, queued?.id as string);
    expect(reset).toMatchObject({
      status: 'cancelled',
      cancelReason: 'channel_not_configured',
      attempts: 0,
      sentAt: null,
      // The reset token is not kept on a message that ended.
      data: null,
    });
    expect((await outboxRow(t, reset.outboxId as string)).status).toBe('delivered');
    expect(await notificationRow(t, whatsapp)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'channel_not_configured',
    });
    const errors = logLines.filter((line) => line.reason === 'channel_not_configured');
    expect(errors.map((line) => line.level)).toEqual(['error', 'error']);
    expect(errors.map((line) => line.notification_id).sort()).toEqual([queued?.id, whatsapp].sort());
    expect(logLines.some((line) => String(line.msg).includes('(log channel)'))).toBe(false);
    expect(JSON.stringify(logLines)).not.toContain(token);
  });

  it('health reports both channels as not_configured and the app as healthy', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/health',
      headers: { authorization: `Bearer ${HEALTH_TOKEN}` },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.status).toBe('healthy');
    expect(body.services.whatsapp).toEqual({ status: 'not_configured' });
    expect(body.services.email).toEqual({ status: 'not_configured' });
  });
});
