import { createECDH, createPublicKey, type ECDH, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { createFcmClient, parseServiceAccount } from '../../src/modules/notifications/channels/fcm.client.js';
import {
  createWebPushClient,
  isValidVapidKeys,
  type WebPushSubscription,
} from '../../src/modules/notifications/channels/webpush.client.js';
import { createTestClock } from '../helpers/app.js';

// http_ece ships no types; it is the reference RFC 8188 implementation, so it decrypts what a browser would.
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

type Handler = (request: IncomingMessage, body: Buffer, response: ServerResponse) => void | Promise<void>;

interface StandIn {
  url: string;
  origin: string;
  /** Assertions that failed inside the server; each test expects none. */
  failures: string[];
  setHandler(handler: Handler): void;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 whose answer each test decides. */
async function startStandIn(): Promise<StandIn> {
  let handler: Handler = (_request, _body, response) => {
    response.writeHead(500).end();
  };
  const failures: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      Promise.resolve(handler(request, Buffer.concat(chunks), response)).catch((error: unknown) => {
        failures.push(String(error));
        response.writeHead(599, { 'content-type': 'text/plain' }).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: origin,
    origin,
    failures,
    setHandler(next) {
      handler = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

const fcmError = (code: number, status: string, message: string, errorCode?: string) => ({
  error: {
    code,
    message,
    status,
    details: errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [],
  },
});

describe('FCM HTTP v1 client', () => {
  const clock = createTestClock();
  const projectId = 'care-platform-test';
  const clientEmail = 'push@care-platform-test.iam.gserviceaccount.com';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let server: StandIn;
  let tokenUri: string;
  let serviceAccountJson: string;
  /** What the stand-in saw. */
  let tokenRequests: number;
  let issued: string[];
  let sends: { authorization: string | undefined; path: string; body: Record<string, unknown> }[];
  /** The messages endpoint's answer, given the bearer token and how many sends came before. */
  let answer: (response: ServerResponse, bearer: string, index: number) => void;

  beforeAll(async () => {
    server = await startStandIn();
    tokenUri = `${server.url}/token`;
    serviceAccountJson = JSON.stringify({
      type: 'service_account',
      project_id: projectId,
      private_key_id: 'key-1',
      private_key: privatePem,
      client_email: clientEmail,
      token_uri: tokenUri,
    });
    const verifyKey = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
    server.setHandler(async (request, body, response) => {
      if (request.method === 'POST' && request.url === '/token') {
        tokenRequests += 1;
        expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
        const form = new URLSearchParams(body.toString());
        expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
        const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', verifyKey, {
          issuer: clientEmail,
          subject: clientEmail,
          audience: tokenUri,
          algorithms: ['RS256'],
          currentDate: clock.now(),
        });
        expect(protectedHeader.kid).toBe('key-1');
        expect(payload.scope).toBe('https://www.googleapis.com/auth/firebase.messaging');
        expect(payload.exp! - payload.iat!).toBe(3600);
        expect(payload.iat).toBe(Math.floor(clock.now().getTime() / 1000));
        const token = `access-${tokenRequests}`;
        issued.push(token);
        json(response, 200, { access_token: token, expires_in: 3600, token_type: 'Bearer' });
        return;
      }
      if (request.url === '/token-down') {
        json(response, 503, { error: 'temporarily_unavailable', error_description: 'try later' });
        return;
      }
      const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      sends.push({
        authorization: request.headers.authorization,
        path: request.url ?? '',
        body: JSON.parse(body.toString()) as Record<string, unknown>,
      });
      if (!issued.includes(bearer)) {
        json(response, 401, fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
        return;
      }
      answer(response, bearer, sends.length - 1);
    });
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    clock.set(new Date('2026-11-23T10:00:00.000Z'));
    tokenRequests = 0;
    issued = [];
    sends = [];
    answer = (response, _bearer, index) => json(response, 200, { name: `projects/${projectId}/messages/m-${index}` });
  });
  afterEach(() => {
    expect(server.failures.splice(0)).toEqual([]);
  });

  const client = (timeoutMs = 2000) =>
    createFcmClient({ projectId, serviceAccountJson, apiUrl: server.url, timeoutMs }, { clock });
  const message = {
    title: 'Session tomorrow',
    body: 'Yoga at 10:00',
    url: 'https://app.example/bookings/1',
    deliveryId: 'd-1',
  };

  it('sends with one access token for sequential and concurrent sends', async () => {
    const fcm = client();
    const first = await fcm.send('device-token-1', message);
    expect(first).toEqual({ ok: true, id: `projects/${projectId}/messages/m-0` });
    const rest = await Promise.all([
      fcm.send('device-token-2', message),
      fcm.send('device-token-3', { ...message, url: undefined }),
      fcm.send('device-token-4', message),
    ]);
    expect(rest.every((outcome) => outcome.ok)).toBe(true);
    expect(tokenRequests).toBe(1);
    expect(sends).toHaveLength(4);
    for (const send of sends) {
      expect(send.path).toBe(`/v1/projects/${projectId}/messages:send`);
      expect(send.authorization).toBe('Bearer access-1');
    }
    expect(sends[0]!.body).toEqual({
      message: {
        token: 'device-token-1',
        notification: { title: 'Session tomorrow', body: 'Yoga at 10:00' },
        data: { delivery_id: 'd-1', url: 'https://app.example/bookings/1' },
        android: { priority: 'high' },
        webpush: { fcm_options: { link: 'https://app.example/bookings/1' } },
      },
    });
    const withoutUrl = sends.find((send) => (send.body.message as { token: string }).token === 'device-token-3');
    expect(withoutUrl!.body).toEqual({
      message: {
        token: 'device-token-3',
        notification: { title: 'Session tomorrow', body: 'Yoga at 10:00' },
        data: { delivery_id: 'd-1' },
        android: { priority: 'high' },
      },
    });
  });

  it('asks for a new access token shortly before the old one runs out', async () => {
    const fcm = client();
    await fcm.send('device-token', message);
    clock.advance(3600_000 - 61_000);
    await fcm.send('device-token', message);
    expect(tokenRequests).toBe(1);
    clock.advance(2_000);
    await fcm.send('device-token', message);
    expect(tokenRequests).toBe(2);
    expect(sends.at(-1)!.authorization).toBe('Bearer access-2');
  });

  it('reports a token FCM no longer knows (404 UNREGISTERED) as gone', async () => {
    answer = (response) =>
      json(response, 404, fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'));
    const outcome = await client().send('stale-token', message);
    expect(outcome).toMatchObject({ ok: false, gone: true, retry: false });
    expect(outcome.ok || outcome.error).toMatch(/404 UNREGISTERED/);
  });

  it('reports a malformed registration token (400 INVALID_ARGUMENT) as gone', async () => {
    answer = (response) =>
      json(
        response,
        400,
        fcmError(
          400,
          'INVALID_ARGUMENT',
          'The registration token is not a valid FCM registration token',
          'INVALID_ARGUMENT',
        ),
      );
    expect(await client().send('not-a-token', message)).toMatchObject({ ok: false, gone: true, retry: false });
  });

  it('does not call another 400 INVALID_ARGUMENT gone', async () => {
    answer = (response) =>
      json(response, 400, fcmError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.', 'INVALID_ARGUMENT'));
    expect(await client().send('device-token', message)).toMatchObject({ ok: false, gone: false, retry: false });
  });

  it('asks to retry when FCM is unavailable (503)', async () => {
    answer = (response) =>
      json(response, 503, fcmError(503, 'UNAVAILABLE', 'The service is unavailable.', 'UNAVAILABLE'));
    expect(await client().send('device-token', message)).toMatchObject({ ok: false, gone: false, retry: true });
  });

  it('fetches a fresh token once after a 401 and succeeds', async () => {
    answer = (response, bearer, index) => {
      if (bearer === 'access-1') {
        json(response, 401, fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
        return;
      }
      json(response, 200, { name: `projects/${projectId}/messages/m-${index}` });
    };
    const outcome = await client().send('device-token', message);
    expect(outcome).toEqual({ ok: true, id: `projects/${projectId}/messages/m-1` });
    expect(tokenRequests).toBe(2);
    expect(sends.map((send) => send.authorization)).toEqual(['Bearer access-1', 'Bearer access-2']);
  });

  it('gives up after a second 401 without asking to retry', async () => {
    answer = (response) =>
      json(response, 401, fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
    const outcome = await client().send('device-token', message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: false });
    expect(tokenRequests).toBe(2);
    expect(sends).toHaveLength(2);
  });

  it('neither drops the token nor retries on 403 SENDER_ID_MISMATCH', async () => {
    answer = (response) =>
      json(response, 403, fcmError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH'));
    const outcome = await client().send('other-project-token', message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: false });
    expect(outcome.ok || outcome.error).toMatch(/403 SENDER_ID_MISMATCH/);
  });

  it('asks to retry when FCM does not answer in time', async () => {
    answer = () => {
      // Never answers; the stand-in closes the connection at the end.
    };
    const outcome = await client(200).send('device-token', message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: true });
    expect(outcome.ok || outcome.error).toMatch(/timed out after 200 ms/);
  });

  it('asks to retry when the token endpoint fails', async () => {
    const broken = JSON.stringify({ ...JSON.parse(serviceAccountJson), token_uri: `${server.url}/token-down` });
    answer = (response) => json(response, 200, {});
    const fcm = createFcmClient(
      { projectId, serviceAccountJson: broken, apiUrl: server.url, timeoutMs: 2000 },
      { clock },
    );
    const outcome = await fcm.send('device-token', message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: true });
    expect(outcome.ok || outcome.error).toMatch(
      /FCM token endpoint answered 503 \(temporarily_unavailable: try later\)/,
    );
  });

  it('names the missing field of a service account', () => {
    expect(() => parseServiceAccount('{"client_email":"a@b"}')).toThrow(/"private_key"/);
    expect(() => parseServiceAccount('{"private_key":"x"}')).toThrow(/"client_email"/);
    expect(() => parseServiceAccount('not json')).toThrow(/not valid JSON/);
    expect(parseServiceAccount(serviceAccountJson)).toMatchObject({ project_id: projectId, token_uri: tokenUri });
  });
});

describe('Web Push client (VAPID, aes128gcm)', () => {
  const vapid = webpush.generateVAPIDKeys();
  const subject = 'mailto:ops@care.example';
  const receiver = createECDH('prime256v1');
  receiver.generateKeys();
  const authSecret = randomBytes(16).toString('base64url');
  let server: StandIn;
  let subscription: WebPushSubscription;
  let status: number;
  let received: { path: string; headers: IncomingMessage['headers']; payload: unknown }[];

  beforeAll(async () => {
    server = await startStandIn();
    subscription = {
      endpoint: `${server.url}/push/subscription-1`,
      keys: { p256dh: receiver.getPublicKey().toString('base64url'), auth: authSecret },
    };
    const vapidKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(vapid.publicKey, 'base64url').subarray(1, 33).toString('base64url'),
        y: Buffer.from(vapid.publicKey, 'base64url').subarray(33, 65).toString('base64url'),
      },
      format: 'jwk',
    });
    server.setHandler(async (request, body, response) => {
      const match = /^vapid t=([^,]+), k=(.+)$/.exec(request.headers.authorization ?? '');
      expect(match).not.toBeNull();
      expect(match![2]).toBe(vapid.publicKey);
      const { payload } = await jwtVerify(match![1]!, vapidKey, {
        audience: server.origin,
        subject,
        algorithms: ['ES256'],
      });
      const now = Math.floor(Date.now() / 1000);
      expect(payload.exp).toBeGreaterThan(now);
      expect(payload.exp).toBeLessThanOrEqual(now + 24 * 3600);
      expect(request.headers['content-encoding']).toBe('aes128gcm');
      expect(request.headers.ttl).toBe('86400');
      const plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: receiver, authSecret });
      received.push({ path: request.url ?? '', headers: request.headers, payload: JSON.parse(plain.toString('utf8')) });
      response.writeHead(status, status === 201 ? { location: `${server.url}/message/m-1` } : {}).end();
    });
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    status = 201;
    received = [];
  });
  afterEach(() => {
    expect(server.failures.splice(0)).toEqual([]);
  });

  const client = () => createWebPushClient({ ...vapid, subject, timeoutMs: 2000 });
  const message = {
    title: 'Session tomorrow',
    body: 'Yoga at 10:00',
    url: 'https://app.example/bookings/1',
    deliveryId: 'd-7',
  };

  it('delivers an encrypted payload the subscriber can read (201)', async () => {
    const outcome = await client().send(subscription, message);
    expect(outcome).toEqual({ ok: true, id: `${server.url}/message/m-1` });
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/push/subscription-1');
    expect(received[0]!.headers.urgency).toBe('normal');
    expect(received[0]!.payload).toEqual({
      title: 'Session tomorrow',
      body: 'Yoga at 10:00',
      url: 'https://app.example/bookings/1',
      delivery_id: 'd-7',
    });
  });

  it.each([410, 404])('reports an expired subscription (%i) as gone', async (code) => {
    status = code;
    const outcome = await client().send(subscription, message);
    expect(outcome).toMatchObject({ ok: false, gone: true, retry: false });
    expect(received).toHaveLength(1);
  });

  it('asks to retry on a server error (500)', async () => {
    status = 500;
    expect(await client().send(subscription, message)).toMatchObject({ ok: false, gone: false, retry: true });
  });

  it('neither drops nor retries a payload that is too large (413)', async () => {
    status = 413;
    const outcome = await client().send(subscription, message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: false });
    expect(outcome.ok || outcome.error).toMatch(/413/);
  });

  it('asks to retry when the push service is unreachable', async () => {
    const closed = await startStandIn();
    await closed.close();
    const outcome = await client().send({ ...subscription, endpoint: `${closed.url}/push/x` }, message);
    expect(outcome).toMatchObject({ ok: false, gone: false, retry: true });
  });

  it('refuses VAPID keys that do not belong together', () => {
    const other = webpush.generateVAPIDKeys();
    expect(() =>
      createWebPushClient({ publicKey: vapid.publicKey, privateKey: other.privateKey, subject, timeoutMs: 1000 }),
    ).toThrow(/VAPID keys/);
  });

  it('tells valid VAPID keys from garbage', () => {
    expect(isValidVapidKeys(vapid.publicKey, vapid.privateKey)).toBe(true);
    expect(isValidVapidKeys('garbage', 'garbage')).toBe(false);
    expect(isValidVapidKeys(vapid.publicKey, webpush.generateVAPIDKeys().privateKey)).toBe(false);
    expect(isValidVapidKeys(`${vapid.publicKey}==`, vapid.privateKey)).toBe(false);
    expect(isValidVapidKeys(vapid.publicKey, Buffer.alloc(32).toString('base64url'))).toBe(false);
  });
});
