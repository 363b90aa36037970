import type { FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SendInput } from '../../src/modules/notifications/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain, notificationRow, queue, setConsent, setPhone } from './helpers.js';
import {
  messageSid,
  PUBLIC_API_URL,
  startTwilioStandIn,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  TWILIO_FROM,
  type TwilioStandIn,
} from './stand-ins.js';

const START = new Date('2026-11-23T10:00:00.000Z');
const WEBHOOK = `${PUBLIC_API_URL}/api/v1/webhooks/twilio/status`;

let phoneCounter = 0;

const bookingConfirmed = (userId: string, overrides: Partial<SendInput> = {}): SendInput => ({
  userId,
  purpose: 'booking',
  template: 'booking_confirmed',
  data: { service_name: 'Massage', starts_at: '2026-11-26T15:00:00.000Z' },
  urgent: true,
  ...overrides,
});

/** The form fields Twilio posts to a StatusCallback. */
const statusParams = (sid: string, status: string, extra: Record<string, string> = {}): Record<string, string> => ({
  AccountSid: TWILIO_ACCOUNT_SID,
  ApiVersion: '2010-04-01',
  From: TWILIO_FROM,
  MessageSid: sid,
  MessageStatus: status,
  SmsSid: sid,
  SmsStatus: status,
  To: '+447700900001',
  ...extra,
});

/**
 * Posts a status callback the way Twilio does: form-encoded, signed over the full public URL it
 * called (with its query) and the fields, using the official SDK's signature.
 */
function postStatus(
  app: FastifyInstance,
  url: string,
  params: Record<string, string>,
  options: { signature?: string | null; body?: Record<string, string> } = {},
) {
  const signature =
    options.signature === undefined
      ? twilio.getExpectedTwilioSignature(TWILIO_AUTH_TOKEN, url, params)
      : options.signature;
  return app.inject({
    method: 'POST',
    url: url.slice(PUBLIC_API_URL.length),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature === null ? {} : { 'x-twilio-signature': signature }),
    },
    payload: new URLSearchParams(options.body ?? params).toString(),
  });
}

describe('Twilio SMS status callbacks', () => {
  const clock = createTestClock(START);
  let stand: TwilioStandIn;
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    stand = await startTwilioStandIn();
    t = await buildTestApp({ clock, env: stand.env() });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(async () => {
    await t?.close();
    await stand?.close();
  });
  beforeEach(() => {
    clock.set(START);
    stand.answerWith(undefined);
  });
  afterEach(() => {
    expect(stand.failures).toEqual([]);
  });

  const smsUser = async () => {
    const user = await createUser(t.app);
    phoneCounter += 1;
    await setPhone(t.app, user, `+44770092${String(1000 + phoneCounter).slice(-4)}`);
    await setConsent(t.app, user, 'sms', true);
    return user;
  };

  /** A booking confirmation sent by SMS (no push device): its id, Twilio's SID and the StatusCallback it was given. */
  const sentSms = async () => {
    const user = await smsUser();
    const id = await queue(t, bookingConfirmed(user.id));
    await drain(t);
    const [call] = stand.acceptedFor(id);
    expect(call?.sid).toBeDefined();
    const row = await notificationRow(t, id);
    expect(row).toMatchObject({
      status: 'sent',
      channel: 'sms',
      providerMessageId: call?.sid,
      deliveryStatus: 'accepted',
    });
    return { id, sid: call?.sid as string, callbackUrl: call?.form.StatusCallback as string, row };
  };

  const deliveredCount = async () => {
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    const match = /^notifications_delivery_status_total\{channel="sms",status="delivered"\} (\d+)$/m.exec(
      response.body,
    );
    return Number(match?.[1] ?? 0);
  };

  it('the StatusCallback given to Twilio is our public webhook URL with the delivery id', async () => {
    const { id, callbackUrl } = await sentSms();
    expect(callbackUrl).toBe(`${WEBHOOK}?delivery_id=${id}`);
  });

  it('records sent, then delivered with its time; admins see it in GET /admin/notifications', async () => {
    const { id, sid, callbackUrl } = await sentSms();

    const sent = await postStatus(t.app, callbackUrl, statusParams(sid, 'sent'));
    expect(sent.statusCode, sent.body).toBe(200);
    expect(sent.json()).toEqual({ success: true, data: { recorded: true, delivery_status: 'sent' } });
    expect(await notificationRow(t, id)).toMatchObject({ deliveryStatus: 'sent', deliveredAt: null, status: 'sent' });

    clock.advance(40_000);
    const delivered = await postStatus(t.app, callbackUrl, statusParams(sid, 'delivered'));
    expect(delivered.json().data).toEqual({ recorded: true, delivery_status: 'delivered' });
    const row = await notificationRow(t, id);
    expect(row).toMatchObject({ deliveryStatus: 'delivered', status: 'sent', providerMessageId: sid });
    expect(row.deliveredAt?.toISOString()).toBe(new Date(START.getTime() + 40_000).toISOString());

    const listed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/notifications?channel=sms&status=sent&limit=100',
      headers: admin.headers,
    });
    expect(listed.statusCode).toBe(200);
    const item = (listed.json().data as Record<string, unknown>[]).find((entry) => entry.id === id);
    expect(item).toMatchObject({
      channel: 'sms',
      channels: ['push', 'sms', 'email'],
      fallbacks: [{ channel: 'push', reason: 'no_device' }],
      delivery_status: 'delivered',
      delivered_at: row.deliveredAt?.toISOString(),
      segments: row.segments,
      encoding: row.encoding,
      status: 'sent',
    });
    expect(item).not.toHaveProperty('provider_message_id');
  });

  it('counts delivery reports in notifications_delivery_status_total; a repeated one is not counted again', async () => {
    const { sid, callbackUrl } = await sentSms();
    const before = await deliveredCount();
    expect((await postStatus(t.app, callbackUrl, statusParams(sid, 'delivered'))).json().data.recorded).toBe(true);
    expect((await postStatus(t.app, callbackUrl, statusParams(sid, 'delivered'))).json().data.recorded).toBe(false);
    expect(await deliveredCount()).toBe(before + 1);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('notifications_delivery_status_total{channel="sms",status="delivered"}');
  });

  it('callbacks out of order: delivered then sent stays delivered', async () => {
    const { id, sid, callbackUrl } = await sentSms();
    await postStatus(t.app, callbackUrl, statusParams(sid, 'delivered'));
    const after = await notificationRow(t, id);

    clock.advance(5_000);
    const late = await postStatus(t.app, callbackUrl, statusParams(sid, 'sent'));
    expect(late.statusCode).toBe(200);
    expect(late.json().data).toEqual({ recorded: false, delivery_status: 'delivered' });
    // A report of another end does not replace the first one either.
    const other = await postStatus(t.app, callbackUrl, statusParams(sid, 'undelivered', { ErrorCode: '30003' }));
    expect(other.json().data).toEqual({ recorded: false, delivery_status: 'delivered' });
    expect(await notificationRow(t, id)).toEqual(after);
  });

  it.each([
    ['undelivered', '30003', 'twilio: undelivered (error 30003)'],
    ['failed', '30008', 'twilio: failed (error 30008)'],
  ])('%s with ErrorCode %s is recorded, and last_error names the code', async (status, code, lastError) => {
    const { id, sid, callbackUrl } = await sentSms();
    const response = await postStatus(t.app, callbackUrl, statusParams(sid, status, { ErrorCode: code }));
    expect(response.json().data).toEqual({ recorded: true, delivery_status: status });
    expect(await notificationRow(t, id)).toMatchObject({
      deliveryStatus: status,
      lastError,
      deliveredAt: null,
      // The message did leave: a failed delivery report does not make it dead.
      status: 'sent',
    });
  });

  it('refuses a bad or missing signature with 400 WEBHOOK_SIGNATURE_INVALID and changes nothing', async () => {
    const { id, sid, callbackUrl } = await sentSms();
    const before = await notificationRow(t, id);
    const params = statusParams(sid, 'delivered');
    const attempts = [
      postStatus(t.app, callbackUrl, params, { signature: null }),
      postStatus(t.app, callbackUrl, params, { signature: 'not-a-signature' }),
      postStatus(t.app, callbackUrl, params, {
        signature: twilio.getExpectedTwilioSignature('another-auth-token-0123456789', callbackUrl, params),
      }),
      // Signed for the URL without the query, sent with it.
      postStatus(t.app, callbackUrl, params, {
        signature: twilio.getExpectedTwilioSignature(TWILIO_AUTH_TOKEN, WEBHOOK, params),
      }),
      // Signed for "sent", the body says "delivered".
      postStatus(t.app, callbackUrl, statusParams(sid, 'sent'), { body: params }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ success: false, code: 'WEBHOOK_SIGNATURE_INVALID' });
    }
    expect(await notificationRow(t, id)).toEqual(before);
  });

  it('answers 200 recorded:false for a message SID it does not know, even naming a known delivery id', async () => {
    const { id, callbackUrl, row } = await sentSms();
    const unknown = await postStatus(t.app, WEBHOOK, statusParams(messageSid(), 'delivered'));
    expect(unknown.statusCode).toBe(200);
    expect(unknown.json()).toEqual({ success: true, data: { recorded: false, delivery_status: null } });
    // Another SID with this message's delivery id cannot take over the message.
    const other = await postStatus(t.app, callbackUrl, statusParams(messageSid(), 'failed', { ErrorCode: '30005' }));
    expect(other.json().data).toEqual({ recorded: false, delivery_status: null });
    expect(await notificationRow(t, id)).toEqual(row);
    // A status that is not a delivery status (e.g. an inbound "received") is not recorded either.
    const received = await postStatus(t.app, callbackUrl, statusParams(row.providerMessageId as string, 'received'));
    expect(received.json().data).toEqual({ recorded: false, delivery_status: null });
  });

  it('a callback before the SID is recorded finds the message by its delivery id; the send keeps what it said', async () => {
    const user = await smsUser();
    const id = await queue(t, bookingConfirmed(user.id, { channels: ['sms'] }));
    const sid = messageSid();
    const url = `${WEBHOOK}?delivery_id=${id}`;

    const early = await postStatus(t.app, url, statusParams(sid, 'sent'));
    expect(early.json().data).toEqual({ recorded: true, delivery_status: 'sent' });
    expect(await notificationRow(t, id)).toMatchObject({
      status: 'queued',
      providerMessageId: sid,
      deliveryStatus: 'sent',
    });

    // Twilio answers the send with the SID it already reported.
    stand.answerWith(() => ({ status: 201, body: { sid, status: 'queued' } }));
    await drain(t);
    expect(stand.acceptedFor(id)).toHaveLength(1);
    expect(await notificationRow(t, id)).toMatchObject({
      status: 'sent',
      channel: 'sms',
      providerMessageId: sid,
      // Not set back to "accepted".
      deliveryStatus: 'sent',
    });

    const delivered = await postStatus(t.app, url, statusParams(sid, 'delivered'));
    expect(delivered.json().data).toEqual({ recorded: true, delivery_status: 'delivered' });
  });

  it('a delivery report that arrives while the send is still in flight is kept (SMS the first channel)', async () => {
    const user = await smsUser();
    const id = await queue(t, bookingConfirmed(user.id, { channels: ['sms', 'email'] }));
    const sid = messageSid();
    const reports: unknown[] = [];
    stand.answerWith(async (call) => {
      const response = await postStatus(t.app, call.form.StatusCallback as string, statusParams(sid, 'delivered'));
      reports.push(response.json());
      return { status: 201, body: { sid, status: 'queued' } };
    });

    await drain(t);

    expect(reports).toEqual([{ success: true, data: { recorded: true, delivery_status: 'delivered' } }]);
    expect(await notificationRow(t, id)).toMatchObject({
      status: 'sent',
      channel: 'sms',
      providerMessageId: sid,
      deliveryStatus: 'delivered',
    });
  });

  // Known bug (reported): while a message walks its channels, the row still names its first
  // channel ('push'); the delivery-id lookup only accepts rows whose channel is already 'sms', so
  // an early report for an SMS that fell back from push is dropped and the row ends 'accepted'.
  it('a delivery report in flight is kept for an SMS that fell back from push', async () => {
    const user = await smsUser();
    const id = await queue(t, bookingConfirmed(user.id));
    const sid = messageSid();
    const reports: unknown[] = [];
    stand.answerWith(async (call) => {
      const response = await postStatus(t.app, call.form.StatusCallback as string, statusParams(sid, 'delivered'));
      reports.push(response.json().data);
      return { status: 201, body: { sid, status: 'queued' } };
    });

    await drain(t);

    expect(await notificationRow(t, id)).toMatchObject({ status: 'sent', channel: 'sms', providerMessageId: sid });
    expect(reports).toEqual([{ recorded: true, delivery_status: 'delivered' }]);
    expect((await notificationRow(t, id)).deliveryStatus).toBe('delivered');
  });

  it('refuses a malformed MessageSid with 400 VALIDATION_ERROR', async () => {
    const params = statusParams('SM-not-a-sid', 'delivered');
    const response = await postStatus(t.app, WEBHOOK, params);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('VALIDATION_ERROR');
  });
});

describe('Twilio SMS status callbacks without SMS configured', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t?.close());

  it('answer 404 NOT_FOUND', async () => {
    const params = statusParams(messageSid(), 'delivered');
    const response = await postStatus(t.app, WEBHOOK, params);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
  });
});
