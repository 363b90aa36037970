/**
 * Real HTTP servers on 127.0.0.1 that stand in for Twilio, FCM (its OAuth token endpoint and
 * messages:send) and a Web Push service, for end-to-end tests of the notification channels.
 * Each records what it was sent (keyed by the delivery id the app puts in every message) and
 * answers as Twilio, Google or a push service would, or as a test tells it to.
 */
import { createECDH, type ECDH, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import webpush from 'web-push';

// http_ece ships no types; it is the reference RFC 8188 implementation, so it decrypts what a browser would.
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

interface Exchange {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (exchange: Exchange, response: ServerResponse) => void | Promise<void>;

/** A node:http server on 127.0.0.1, port 0; a handler that throws answers 599 and is kept in `failures`. */
async function listen(handler: Handler) {
  const failures: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const exchange = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      };
      Promise.resolve(handler(exchange, response)).catch((error: unknown) => {
        failures.push(String(error));
        if (!response.headersSent) response.writeHead(599, { 'content-type': 'text/plain' });
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    failures,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sendJson = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** A Twilio message SID: "SM" and 32 hex digits. */
export const messageSid = () => `SM${randomUUID().replaceAll('-', '')}`;

// ---------------------------------------------------------------------------------------------
// Twilio

export const TWILIO_ACCOUNT_SID = `AC${'0f'.repeat(16)}`;
export const TWILIO_AUTH_TOKEN = 'twilio-auth-token-0123456789abcdef';
export const TWILIO_FROM = '+15005550006';
/** What Twilio would call us at; it never has to resolve, the tests sign callbacks for it. */
export const PUBLIC_API_URL = 'https://api.care.test';

export interface TwilioCall {
  /** From the idempotency token header: the notification id. */
  deliveryId: string | undefined;
  authorization: string | undefined;
  form: Record<string, string>;
  status: number;
  /** The SID it answered with, when it accepted the message. */
  sid?: string;
}

export type TwilioAnswer = { status: number; body: Record<string, unknown> };

/**
 * api.twilio.com's Messages.json: Basic auth checked as Twilio does (401, code 20003), an accepted
 * message answered 201 with its SID. `answerWith` replaces the answer (a 500, a fixed SID) and may
 * do something first (e.g. post a status callback while the send is still in flight).
 */
export async function startTwilioStandIn() {
  const calls: TwilioCall[] = [];
  const expectedAuth = `Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`;
  const messagesPath = `/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages.json`;
  let custom: ((call: TwilioCall) => TwilioAnswer | undefined | Promise<TwilioAnswer | undefined>) | undefined;

  const server = await listen(async (exchange, response) => {
    const form = Object.fromEntries(new URLSearchParams(exchange.body.toString('utf8')));
    const token = exchange.headers['i-twilio-idempotency-token'];
    const call: TwilioCall = {
      deliveryId: typeof token === 'string' ? token : undefined,
      authorization: exchange.headers.authorization,
      form,
      status: 0,
    };
    calls.push(call);
    let answer: TwilioAnswer | undefined;
    if (exchange.headers.authorization !== expectedAuth) {
      answer = { status: 401, body: { code: 20003, message: 'Authenticate', status: 401 } };
    } else if (exchange.method !== 'POST' || exchange.path !== messagesPath) {
      answer = { status: 404, body: { code: 20404, message: 'The requested resource was not found', status: 404 } };
    } else {
      answer = await custom?.(call);
    }
    answer ??= {
      status: 201,
      body: {
        sid: messageSid(),
        account_sid: TWILIO_ACCOUNT_SID,
        to: form.To,
        from: form.From,
        body: form.Body,
        status: 'queued',
        num_segments: '1',
        api_version: '2010-04-01',
      },
    };
    call.status = answer.status;
    if (answer.status === 201 && typeof answer.body.sid === 'string') call.sid = answer.body.sid;
    sendJson(response, answer.status, answer.body);
  });

  return {
    url: server.origin,
    failures: server.failures,
    calls,
    callsFor: (deliveryId: string) => calls.filter((call) => call.deliveryId === deliveryId),
    /** Messages Twilio took (answered 201) for this notification. */
    acceptedFor: (deliveryId: string) => calls.filter((call) => call.deliveryId === deliveryId && call.status === 201),
    answerWith(answer: typeof custom) {
      custom = answer;
    },
    env: (): Record<string, string> => ({
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM,
      TWILIO_API_URL: server.origin,
      PUBLIC_API_URL,
    }),
    close: server.close,
  };
}

export type TwilioStandIn = Awaited<ReturnType<typeof startTwilioStandIn>>;

// ---------------------------------------------------------------------------------------------
// FCM

export const FCM_PROJECT_ID = 'care-platform-test';

export interface FcmSend {
  token: string;
  deliveryId: string | undefined;
  message: Record<string, unknown>;
  status: number;
}

const fcmError = (code: number, status: string, message: string, errorCode: string) => ({
  error: {
    code,
    message,
    status,
    details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }],
  },
});

/**
 * Google's token endpoint and FCM's messages:send in one server: the service account's
 * `token_uri` points here, every access token it hands out is accepted, any other bearer gets 401.
 * Tokens given to `unregister` answer 404 UNREGISTERED, as FCM does for an uninstalled app.
 */
export async function startFcmStandIn() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sends: FcmSend[] = [];
  const issued = new Set<string>();
  const unregistered = new Set<string>();
  let tokenRequests = 0;
  let held: Promise<void> | undefined;
  const sendPath = `/v1/projects/${FCM_PROJECT_ID}/messages:send`;

  const server = await listen(async (exchange, response) => {
    if (exchange.method === 'POST' && exchange.path === '/token') {
      const form = new URLSearchParams(exchange.body.toString('utf8'));
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !form.get('assertion')) {
        sendJson(response, 400, { error: 'invalid_grant' });
        return;
      }
      tokenRequests += 1;
      const accessToken = `fcm-access-${tokenRequests}-${randomBytes(4).toString('hex')}`;
      issued.add(accessToken);
      sendJson(response, 200, { access_token: accessToken, expires_in: 3600, token_type: 'Bearer' });
      return;
    }
    if (exchange.method !== 'POST' || exchange.path !== sendPath) {
      sendJson(response, 404, { error: { code: 404, status: 'NOT_FOUND', message: 'no such path' } });
      return;
    }
    const bearer = exchange.headers.authorization?.replace(/^Bearer /, '') ?? '';
    if (!issued.has(bearer)) {
      sendJson(response, 401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'invalid credentials' } });
      return;
    }
    const message = (JSON.parse(exchange.body.toString('utf8')) as { message: Record<string, unknown> }).message;
    const token = String(message.token);
    const send: FcmSend = {
      token,
      deliveryId: (message.data as Record<string, string> | undefined)?.delivery_id,
      message,
      status: unregistered.has(token) ? 404 : 200,
    };
    sends.push(send);
    await held;
    if (send.status === 404) {
      sendJson(response, 404, fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'));
      return;
    }
    sendJson(response, 200, { name: `projects/${FCM_PROJECT_ID}/messages/${randomUUID()}` });
  });

  const serviceAccountJson = JSON.stringify({
    type: 'service_account',
    project_id: FCM_PROJECT_ID,
    private_key_id: 'stand-in-key',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: `push@${FCM_PROJECT_ID}.iam.gserviceaccount.com`,
    token_uri: `${server.origin}/token`,
  });

  return {
    url: server.origin,
    failures: server.failures,
    sends,
    /** Pushes FCM took (answered 200) for this notification. */
    acceptedFor: (deliveryId: string) => sends.filter((send) => send.deliveryId === deliveryId && send.status === 200),
    sendsFor: (deliveryId: string) => sends.filter((send) => send.deliveryId === deliveryId),
    unregister(token: string) {
      unregistered.add(token);
    },
    /** Sends are recorded but not answered until the returned function is called. */
    hold(): () => void {
      let release = () => {};
      held = new Promise<void>((resolve) => {
        release = () => {
          held = undefined;
          resolve();
        };
      });
      return release;
    },
    env: (): Record<string, string> => ({
      FCM_PROJECT_ID,
      FCM_SERVICE_ACCOUNT_JSON: serviceAccountJson,
      FCM_API_URL: server.origin,
    }),
    close: server.close,
  };
}

export type FcmStandIn = Awaited<ReturnType<typeof startFcmStandIn>>;

/** A registration token of FCM's shape (it passes POST /me/devices). */
export const fcmToken = () => `${randomBytes(16).toString('base64url')}:APA91b${randomBytes(48).toString('base64url')}`;

// ---------------------------------------------------------------------------------------------
// Web Push

export interface WebPushDelivery {
  path: string;
  status: number;
  /** The decrypted payload, as the browser's service worker would read it. */
  payload: { title?: string; body?: string; url?: string; delivery_id?: string } | undefined;
}

/**
 * A push service (RFC 8030): each subscription it hands out has its own endpoint and keys; a push
 * to it is decrypted (aes128gcm) with the subscriber's private key and recorded. An endpoint given
 * to `expire` answers 410 Gone, as a push service does for a subscription the browser dropped.
 */
export async function startWebPushStandIn() {
  const vapid = webpush.generateVAPIDKeys();
  const subscribers = new Map<string, { privateKey: ECDH; authSecret: string }>();
  const expired = new Set<string>();
  const deliveries: WebPushDelivery[] = [];

  const server = await listen((exchange, response) => {
    const subscriber = subscribers.get(exchange.path);
    if (exchange.method !== 'POST' || !subscriber) {
      response.writeHead(404).end();
      return;
    }
    if (!/^vapid t=[^,]+, k=/.test(exchange.headers.authorization ?? '')) {
      response.writeHead(401).end();
      return;
    }
    const status = expired.has(exchange.path) ? 410 : 201;
    const plain = ece.decrypt(exchange.body, { version: 'aes128gcm', ...subscriber });
    deliveries.push({ path: exchange.path, status, payload: JSON.parse(plain.toString('utf8')) });
    response.writeHead(status, status === 201 ? { location: `${server.origin}/messages/${randomUUID()}` } : {}).end();
  });

  return {
    url: server.origin,
    failures: server.failures,
    deliveries,
    acceptedFor: (deliveryId: string) =>
      deliveries.filter((delivery) => delivery.payload?.delivery_id === deliveryId && delivery.status === 201),
    deliveriesFor: (deliveryId: string) =>
      deliveries.filter((delivery) => delivery.payload?.delivery_id === deliveryId),
    /** A new browser subscription (`PushSubscription.toJSON()`) on this service. */
    subscribe(): { endpoint: string; keys: { p256dh: string; auth: string } } {
      const privateKey = createECDH('prime256v1');
      privateKey.generateKeys();
      const authSecret = randomBytes(16).toString('base64url');
      const path = `/push/${randomUUID()}`;
      subscribers.set(path, { privateKey, authSecret });
      return {
        endpoint: `${server.origin}${path}`,
        keys: { p256dh: privateKey.getPublicKey().toString('base64url'), auth: authSecret },
      };
    },
    expire(endpoint: string) {
      expired.add(new URL(endpoint).pathname);
    },
    vapidPublicKey: vapid.publicKey,
    env: (): Record<string, string> => ({ VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey }),
    close: server.close,
  };
}

export type WebPushStandIn = Awaited<ReturnType<typeof startWebPushStandIn>>;
