import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/infra/clock.js';
import { ChannelRefused, type OutboundMessage } from '../../src/modules/notifications/channels/channel.js';
import {
  createTwilioSmsChannel,
  type TwilioOptions,
  twilioSignature,
  verifyTwilioSignature,
} from '../../src/modules/notifications/channels/twilio.channel.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
const MESSAGING_SERVICE_SID = `MG${'b2'.repeat(16)}`;
const FROM = '+15005550006';
const STATUS_CALLBACK = 'https://care.example/api/v1/webhooks/twilio/status';
const MESSAGES_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;

interface TwilioCall {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
  form: Record<string, string>;
}

type Answer = { status: number; body: Record<string, unknown> } | 'hang';

const twilioError = (status: number, code: number, message: string): Answer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

/**
 * A stand-in for api.twilio.com on 127.0.0.1: refuses wrong Basic auth as Twilio does (401, code
 * 20003), answers an accepted message with 201 and Twilio's JSON, or whatever a test sets.
 */
async function startTwilioStandIn() {
  const calls: TwilioCall[] = [];
  const state: { answer: Answer | undefined } = { answer: undefined };
  const expectedAuth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      calls.push({ method: request.method, path: request.url, headers: request.headers, form });
      const answer: Answer =
        request.headers.authorization !== expectedAuth
          ? twilioError(401, 20003, 'Authenticate')
          : request.method !== 'POST' || request.url !== MESSAGES_PATH
            ? twilioError(404, 20404, 'The requested resource was not found')
            : (state.answer ?? {
                status: 201,
                body: {
                  sid: `SM${randomUUID().replaceAll('-', '')}`,
                  account_sid: ACCOUNT_SID,
                  to: form.To,
                  from: form.From ?? null,
                  messaging_service_sid: form.MessagingServiceSid ?? null,
                  body: form.Body,
                  status: form.MessagingServiceSid ? 'accepted' : 'queued',
                  num_segments: '1',
                  error_code: null,
                  api_version: '2010-04-01',
                },
              });
      // Never answered: the client's timeout has to end it.
      if (answer === 'hang') return;
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    answerWith(answer: Answer | undefined) {
      state.answer = answer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const message = (overrides: Partial<OutboundMessage> = {}): OutboundMessage => ({
  deliveryId: randomUUID(),
  userId: randomUUID(),
  to: '+447700900123',
  purpose: 'reminder',
  template: 'wellness_reminder',
  subject: 'Time for your check-in',
  text: 'Your weekly wellness check-in is ready.',
  html: '<p>Your weekly wellness check-in is ready.</p>',
  short: 'Your weekly check-in is ready: https://care.example/check-in',
  ...overrides,
});

const rejection = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
};

describe('SMS through Twilio', () => {
  let standIn: Awaited<ReturnType<typeof startTwilioStandIn>>;
  const channel = (overrides: Partial<TwilioOptions> = {}) =>
    createTwilioSmsChannel(
      {
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        from: FROM,
        apiUrl: standIn.url,
        statusCallbackUrl: STATUS_CALLBACK,
        timeoutMs: 5_000,
        ...overrides,
      },
      { clock: systemClock },
    );

  beforeAll(async () => {
    standIn = await startTwilioStandIn();
  });
  afterAll(async () => {
    await standIn?.close();
  });
  beforeEach(() => {
    standIn.calls.length = 0;
    standIn.answerWith(undefined);
  });

  it('posts the short text from our number with Basic auth and the idempotency token, and returns the receipt', async () => {
    const sms = channel();
    expect(sms).toMatchObject({ channel: 'sms', kind: 'twilio', configured: true });
    const outbound = message();

    const receipt = await sms.send(outbound);

    expect(standIn.calls).toHaveLength(1);
    const [call] = standIn.calls;
    expect(call?.method).toBe('POST');
    expect(call?.path).toBe(MESSAGES_PATH);
    const basic = Buffer.from(call?.headers.authorization?.replace(/^Basic /, '') ?? '', 'base64').toString('utf8');
    expect(basic).toBe(`${ACCOUNT_SID}:${AUTH_TOKEN}`);
    expect(call?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call?.headers['i-twilio-idempotency-token']).toBe(outbound.deliveryId);
    expect(call?.form).toEqual({
      To: outbound.to,
      From: FROM,
      Body: outbound.short,
      StatusCallback: `${STATUS_CALLBACK}?delivery_id=${outbound.deliveryId}`,
    });

    expect(receipt).toEqual({
      providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      segments: 1,
      encoding: 'GSM-7',
    });
    await expect(sms.check()).resolves.toBeUndefined();
  });

  it('sends through a Messaging Service instead, and records our own segment count', async () => {
    const sms = channel({ from: undefined, messagingServiceSid: MESSAGING_SERVICE_SID, statusCallbackUrl: undefined });
    // 71 UTF-16 units: two UCS-2 segments, whatever Twilio's answer says.
    const short = `Crêpe day! ${'ж'.repeat(60)}`;
    const outbound = message({ short });

    const receipt = await sms.send(outbound);

    expect(standIn.calls).toHaveLength(1);
    expect(standIn.calls[0]?.form).toEqual({
      To: outbound.to,
      MessagingServiceSid: MESSAGING_SERVICE_SID,
      Body: short,
    });
    expect(standIn.calls[0]?.headers['i-twilio-idempotency-token']).toBe(outbound.deliveryId);
    expect(receipt).toEqual({ providerMessageId: expect.stringMatching(/^SM/), segments: 2, encoding: 'UCS-2' });
  });

  it('refuses a number that is not E.164 without calling Twilio', async () => {
    const sms = channel();
    for (const to of ['07700900123', '+44 7700 900123', 'someone@example.com', '']) {
      const error = await rejection(sms.send(message({ to })));
      expect(error).toBeInstanceOf(ChannelRefused);
      expect((error as ChannelRefused).reason).toBe('invalid_phone');
    }
    expect(standIn.calls).toHaveLength(0);
    await expect(sms.check()).resolves.toBeUndefined();
  });

  it('turns "recipient unsubscribed" (21610) into ChannelRefused, and the channel still counts as up', async () => {
    const sms = channel();
    standIn.answerWith(twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'));

    const error = await rejection(sms.send(message()));

    expect(error).toBeInstanceOf(ChannelRefused);
    expect((error as ChannelRefused).reason).toBe('twilio_21610');
    expect(standIn.calls).toHaveLength(1);
    await expect(sms.check()).resolves.toBeUndefined();
  });

  it('reports any other 4xx as a plain error with Twilio code and message', async () => {
    const sms = channel();
    standIn.answerWith(twilioError(400, 21604, "A 'To' phone number is required."));

    const error = await rejection(sms.send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toBe("Twilio answered 400 (code 21604: A 'To' phone number is required.)");
  });

  it('reports a 500 as a plain error (the outbox retries) and health shows it until a delivery succeeds', async () => {
    const sms = channel();
    standIn.answerWith(twilioError(500, 20500, 'Internal Server Error'));

    const error = await rejection(sms.send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toBe('Twilio answered 500 (code 20500: Internal Server Error)');
    await expect(sms.check()).rejects.toThrow('Twilio answered 500');

    standIn.answerWith(undefined);
    await sms.send(message());
    await expect(sms.check()).resolves.toBeUndefined();
  });

  it('reports a 429 as a plain error', async () => {
    const sms = channel();
    standIn.answerWith(twilioError(429, 20429, 'Too Many Requests'));

    const error = await rejection(sms.send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toContain('429');
  });

  it('reports wrong credentials (401) as a plain error and an unhealthy channel', async () => {
    const sms = channel({ authToken: 'not-the-token' });

    const error = await rejection(sms.send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toBe('Twilio refused our credentials: 401 (code 20003: Authenticate)');
    expect(standIn.calls).toHaveLength(1);
    await expect(sms.check()).rejects.toThrow('credentials');
  });

  it('gives up on a Twilio that never answers after timeoutMs', async () => {
    const sms = channel({ timeoutMs: 200 });
    standIn.answerWith('hang');

    const started = Date.now();
    const error = await rejection(sms.send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toBe('Twilio API timed out after 200 ms');
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(sms.check()).rejects.toThrow('timed out');
  });

  it('reports an API it cannot reach as a plain error', async () => {
    const closed = await startTwilioStandIn();
    const apiUrl = closed.url;
    await closed.close();

    const error = await rejection(channel({ apiUrl }).send(message()));

    expect(error).not.toBeInstanceOf(ChannelRefused);
    expect(error.message).toMatch(/^Twilio API unreachable: /);
  });

  it('needs exactly one sender', () => {
    expect(() => channel({ messagingServiceSid: MESSAGING_SERVICE_SID })).toThrow('exactly one sender');
    expect(() => channel({ from: undefined })).toThrow('exactly one sender');
  });
});

describe('Twilio webhook signatures', () => {
  const params = {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    From: FROM,
    MessageSid: `SM${'c3'.repeat(16)}`,
    MessageStatus: 'delivered',
    SmsSid: `SM${'c3'.repeat(16)}`,
    SmsStatus: 'delivered',
    To: '+447700900123',
  };

  it('signs exactly as the official SDK does, and the SDK accepts our signature', () => {
    const ours = twilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params);
    expect(ours).toBe(twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params));
    expect(twilio.validateRequest(AUTH_TOKEN, ours, STATUS_CALLBACK, params)).toBe(true);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, ours)).toBe(true);

    const body = { ...params, Body: 'Crêpe day 😀 & more = fun' };
    expect(twilioSignature(AUTH_TOKEN, STATUS_CALLBACK, body)).toBe(
      twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, body),
    );
  });

  it('sorts parameter names case-sensitively, as Twilio does', () => {
    const mixed = { b: '1', B: '2', a: '3', A: '4', _x: '5', Z1: '6' };
    const expected = createHmac('sha1', AUTH_TOKEN).update(`${STATUS_CALLBACK}A4B2Z16_x5a3b1`).digest('base64');
    expect(twilioSignature(AUTH_TOKEN, STATUS_CALLBACK, mixed)).toBe(expected);
    expect(twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, mixed)).toBe(expected);
    expect(twilio.validateRequest(AUTH_TOKEN, expected, STATUS_CALLBACK, mixed)).toBe(true);
  });

  it('refuses a tampered parameter, another URL, another token and a missing signature', () => {
    const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, signature)).toBe(true);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, { ...params, MessageStatus: 'failed' }, signature)).toBe(
      false,
    );
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, { ...params, ErrorCode: '30008' }, signature)).toBe(
      false,
    );
    expect(verifyTwilioSignature(AUTH_TOKEN, `${STATUS_CALLBACK}?x=1`, params, signature)).toBe(false);
    expect(
      verifyTwilioSignature(AUTH_TOKEN, 'https://evil.example/api/v1/webhooks/twilio/status', params, signature),
    ).toBe(false);
    expect(verifyTwilioSignature('another-token', STATUS_CALLBACK, params, signature)).toBe(false);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, undefined)).toBe(false);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, '')).toBe(false);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, 'short')).toBe(false);
  });

  it('accepts a signature over the URL with the default port written out, as the SDK does', () => {
    const withPort = 'https://care.example:443/api/v1/webhooks/twilio/status';
    const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, withPort, params);
    expect(twilio.validateRequest(AUTH_TOKEN, signature, STATUS_CALLBACK, params)).toBe(true);
    expect(verifyTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params, signature)).toBe(true);
    // And the other way round.
    const withoutPort = twilio.getExpectedTwilioSignature(AUTH_TOKEN, STATUS_CALLBACK, params);
    expect(verifyTwilioSignature(AUTH_TOKEN, withPort, params, withoutPort)).toBe(true);
    // A different port is a different URL.
    const otherPort = twilio.getExpectedTwilioSignature(AUTH_TOKEN, 'https://care.example:8443/x', params);
    expect(verifyTwilioSignature(AUTH_TOKEN, 'https://care.example/x', params, otherPort)).toBe(false);
  });
});
