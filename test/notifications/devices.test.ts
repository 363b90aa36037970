import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { pushDevices } from '../../src/modules/notifications/notifications.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { drain } from './helpers.js';
import { fcmToken } from './stand-ins.js';

const START = new Date('2026-11-23T10:00:00.000Z');
const DEVICES = '/api/v1/me/devices';
const VAPID_KEY = '/api/v1/push/vapid-public-key';

/** `PushSubscription.toJSON()` of a browser subscribed at a (public) push service. */
const subscription = (origin = 'https://push.example.test') => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint: `${origin}/wpush/v2/${randomUUID()}`,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
};

describe('push devices: /me/devices', () => {
  const clock = createTestClock(START);
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t?.close());
  beforeEach(() => clock.set(START));

  const register = (user: TestUser | undefined, payload: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: DEVICES, headers: user?.headers ?? {}, payload });
  const list = (user: TestUser) => t.app.inject({ method: 'GET', url: DEVICES, headers: user.headers });
  const remove = (user: TestUser | undefined, id: string) =>
    t.app.inject({ method: 'DELETE', url: `${DEVICES}/${id}`, headers: user?.headers ?? {} });
  const rowsOf = (userId: string) => t.app.platform.db.select().from(pushDevices).where(eq(pushDevices.userId, userId));

  it('registers an FCM token (201) and lists it by the end of the token only', async () => {
    const user = await createUser(t.app);
    const token = fcmToken();
    const response = await register(user, { kind: 'fcm', platform: 'android', token });
    expect(response.statusCode, response.body).toBe(201);
    const device = response.json().data;
    expect(device).toEqual({
      id: expect.any(String),
      kind: 'fcm',
      platform: 'android',
      label: `…${token.slice(-8)}`,
      created_at: START.toISOString(),
      last_used_at: null,
    });
    expect(response.body).not.toContain(token);

    const [row] = await rowsOf(user.id);
    expect(row).toMatchObject({ id: device.id, kind: 'fcm', platform: 'android', token, p256dh: null, auth: null });

    const listed = await list(user);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().data).toEqual([device]);
    expect(listed.body).not.toContain(token);
    expect(listed.body).not.toContain(token.slice(0, -8));
  });

  it('registers a Web Push subscription (201, platform web) and keeps its keys for sending', async () => {
    const user = await createUser(t.app);
    const browser = subscription();
    const response = await register(user, { kind: 'webpush', ...browser });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().data).toMatchObject({
      kind: 'webpush',
      platform: 'web',
      label: `…${browser.endpoint.slice(-8)}`,
    });
    expect(response.body).not.toContain(browser.endpoint);
    expect(response.body).not.toContain(browser.keys.auth);
    const [row] = await rowsOf(user.id);
    expect(row).toMatchObject({
      kind: 'webpush',
      platform: 'web',
      token: browser.endpoint,
      p256dh: browser.keys.p256dh,
      auth: browser.keys.auth,
    });
    const listed = (await list(user)).body;
    expect(listed).not.toContain(browser.endpoint);
    expect(listed).not.toContain(browser.keys.p256dh);
  });

  it('registering the same token again is harmless: one device, same id', async () => {
    const user = await createUser(t.app);
    const token = fcmToken();
    const first = await register(user, { kind: 'fcm', platform: 'ios', token });
    const again = await register(user, { kind: 'fcm', platform: 'ios', token });
    expect(again.statusCode).toBe(201);
    expect(again.json().data.id).toBe(first.json().data.id);
    expect(await rowsOf(user.id)).toHaveLength(1);
  });

  const validToken = fcmToken();
  const browser = subscription();
  let invalidPayloadUser: TestUser | undefined;
  it.each<{ label: string; payload: Record<string, unknown>; field: string }>([
    { label: 'fcm without token', payload: { kind: 'fcm', platform: 'android' }, field: 'body.token' },
    { label: 'fcm without platform', payload: { kind: 'fcm', token: validToken }, field: 'body.platform' },
    { label: 'webpush without keys', payload: { kind: 'webpush', endpoint: browser.endpoint }, field: 'body.keys' },
    { label: 'webpush without endpoint', payload: { kind: 'webpush', keys: browser.keys }, field: 'body.endpoint' },
    {
      label: 'fcm with an endpoint too',
      payload: { kind: 'fcm', platform: 'web', token: validToken, ...browser },
      field: 'body.endpoint',
    },
    {
      label: 'webpush with a token too',
      payload: { kind: 'webpush', ...browser, token: validToken },
      field: 'body.token',
    },
    {
      label: 'a p256dh key that is too short',
      payload: { kind: 'webpush', endpoint: browser.endpoint, keys: { ...browser.keys, p256dh: 'BNcRdreALRFX' } },
      field: 'body.keys.p256dh',
    },
    {
      label: 'an auth secret that is not base64url',
      payload: {
        kind: 'webpush',
        endpoint: browser.endpoint,
        keys: { ...browser.keys, auth: 'not base64url at all!!' },
      },
      field: 'body.keys.auth',
    },
    {
      label: 'keys with an unknown field',
      payload: { kind: 'webpush', endpoint: browser.endpoint, keys: { ...browser.keys, secret: 'x' } },
      field: 'body.keys.secret',
    },
    {
      label: 'a token with spaces',
      payload: { kind: 'fcm', platform: 'android', token: 'a token with spaces in it' },
      field: 'body.token',
    },
    {
      label: 'an endpoint that is not http(s)',
      payload: { kind: 'webpush', ...browser, endpoint: 'ftp://push.example.test/x' },
      field: 'body.endpoint',
    },
    { label: 'an unknown kind', payload: { kind: 'apns', token: validToken }, field: 'body.kind' },
    {
      label: 'an unknown platform',
      payload: { kind: 'fcm', platform: 'symbian', token: validToken },
      field: 'body.platform',
    },
  ])('refuses $label with 400 VALIDATION_ERROR naming $field, and stores nothing', async ({ payload, field }) => {
    // One person for every refused payload: each case must leave them without a device.
    invalidPayloadUser ??= await createUser(t.app);
    const user = invalidPayloadUser;
    const response = await register(user, payload);
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json();
    expect(body).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
    expect((body.details as { field: string }[]).map((detail) => detail.field)).toContain(field);
    expect(await rowsOf(user.id)).toEqual([]);
  });

  it('a token another account registered moves to the one registering it now', async () => {
    const before = await createUser(t.app);
    const after = await createUser(t.app);
    const token = fcmToken();
    const first = await register(before, { kind: 'fcm', platform: 'android', token });
    const moved = await register(after, { kind: 'fcm', platform: 'android', token });
    expect(moved.statusCode).toBe(201);
    expect(moved.json().data.id).toBe(first.json().data.id);

    expect((await list(before)).json().data).toEqual([]);
    expect((await list(after)).json().data.map((device: { id: string }) => device.id)).toEqual([moved.json().data.id]);
    const rows = await t.app.platform.db.select().from(pushDevices).where(eq(pushDevices.token, token));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.userId).toBe(after.id);
    // The one who lost it can no longer remove it.
    expect((await remove(before, first.json().data.id)).statusCode).toBe(404);
  });

  it('the 21st device is refused with 409 CONFLICT; a known token still registers; removing one makes room', async () => {
    const user = await createUser(t.app);
    const tokens = Array.from({ length: 20 }, () => fcmToken());
    const ids: string[] = [];
    for (const token of tokens) {
      const response = await register(user, { kind: 'fcm', platform: 'android', token });
      expect(response.statusCode).toBe(201);
      ids.push(response.json().data.id);
    }
    const extra = fcmToken();
    const refused = await register(user, { kind: 'fcm', platform: 'android', token: extra });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ success: false, code: 'CONFLICT' });
    const refusedWeb = await register(user, { kind: 'webpush', ...subscription() });
    expect(refusedWeb.statusCode).toBe(409);
    expect(await rowsOf(user.id)).toHaveLength(20);

    const known = await register(user, { kind: 'fcm', platform: 'android', token: tokens[3] as string });
    expect(known.statusCode).toBe(201);

    expect((await remove(user, ids[0] as string)).statusCode).toBe(204);
    expect((await register(user, { kind: 'fcm', platform: 'android', token: extra })).statusCode).toBe(201);
    expect(await rowsOf(user.id)).toHaveLength(20);
  });

  it("DELETE removes one's own device (204); another person's is 404 and stays; a bad id is 400", async () => {
    const owner = await createUser(t.app);
    const stranger = await createUser(t.app);
    const device = (await register(owner, { kind: 'fcm', platform: 'android', token: fcmToken() })).json().data;

    const foreign = await remove(stranger, device.id);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    expect(await rowsOf(owner.id)).toHaveLength(1);

    expect((await remove(undefined, device.id)).statusCode).toBe(401);
    expect((await remove(owner, 'not-a-uuid')).statusCode).toBe(400);

    const removed = await remove(owner, device.id);
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe('');
    expect(await rowsOf(owner.id)).toEqual([]);
    expect((await remove(owner, device.id)).statusCode).toBe(404);
  });

  it('needs a signed-in caller: 401 for listing and registering without a token', async () => {
    const listed = await t.app.inject({ method: 'GET', url: DEVICES });
    expect(listed.statusCode).toBe(401);
    expect(listed.json().code).toBe('UNAUTHORIZED');
    const registered = await register(undefined, { kind: 'fcm', platform: 'android', token: fcmToken() });
    expect(registered.statusCode).toBe(401);
  });

  it('GET /push/vapid-public-key is 404 NOT_FOUND without VAPID keys', async () => {
    const response = await t.app.inject({ method: 'GET', url: VAPID_KEY });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
  });

  it('the data export shows each device by the end of its token only', async () => {
    const user = await createUser(t.app);
    const token = fcmToken();
    const browser = subscription();
    await register(user, { kind: 'fcm', platform: 'ios', token });
    await register(user, { kind: 'webpush', ...browser });

    const requested = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: user.headers });
    expect(requested.statusCode).toBe(202);
    await drain(t);
    const ready = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/data-export/${requested.json().data.id}`,
      headers: user.headers,
    });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().data.status).toBe('ready');
    const devices = ready.json().data.document.sections.notifications.data.devices as Record<string, unknown>[];
    expect(devices).toHaveLength(2);
    expect(devices).toEqual(
      expect.arrayContaining([
        {
          id: expect.any(String),
          kind: 'fcm',
          platform: 'ios',
          token_end: token.slice(-8),
          created_at: START.toISOString(),
          last_used_at: null,
        },
        expect.objectContaining({ kind: 'webpush', platform: 'web', token_end: browser.endpoint.slice(-8) }),
      ]),
    );
    expect(ready.body).not.toContain(token);
    expect(ready.body).not.toContain(browser.endpoint);
    expect(ready.body).not.toContain(browser.keys.auth);
    expect(ready.body).not.toContain(browser.keys.p256dh);
  });

  it("erasing the account deletes the person's devices, and no one else's", async () => {
    const user = await createUser(t.app);
    const other = await createUser(t.app);
    await register(user, { kind: 'fcm', platform: 'android', token: fcmToken() });
    await register(user, { kind: 'webpush', ...subscription() });
    await register(other, { kind: 'fcm', platform: 'android', token: fcmToken() });

    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { password: user.password },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json().data.modules.notifications).toMatchObject({ action: 'deleted' });
    expect(erased.json().data.modules.notifications.rows).toBeGreaterThanOrEqual(2);
    expect(await rowsOf(user.id)).toEqual([]);
    expect(await rowsOf(other.id)).toHaveLength(1);
  });
});

describe('GET /push/vapid-public-key with VAPID keys', () => {
  const vapid = webpush.generateVAPIDKeys();
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({ env: { VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey } });
  });
  afterAll(() => t?.close());

  it('answers the public key to anyone (a browser asks before it signs in), never the private one', async () => {
    const response = await t.app.inject({ method: 'GET', url: VAPID_KEY });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ success: true, data: { public_key: vapid.publicKey } });
    expect(response.body).not.toContain(vapid.privateKey);
  });
});

describe('push devices in production', () => {
  let t: TestApp;
  let refusedEndpointUser: TestUser | undefined;

  beforeAll(async () => {
    t = await buildTestApp({
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'production-jwt-secret-0123456789abcdefghij',
        HEALTH_TOKEN: 'health-token-0123456789abcdef',
      },
    });
  });
  afterAll(() => t?.close());

  it.each([
    ['http://push.example.test/sub/1234', 'must be an https URL'],
    ['https://127.0.0.1/push/1234', 'must be a public push service'],
    ['https://localhost/push/1234', 'must be a public push service'],
    ['https://10.1.2.3/push/1234', 'must be a public push service'],
    ['https://user:pw@push.example.test/push/1234', 'must not carry credentials'],
    [
      'https://collector.attacker.example/push/1234',
      'must be a push service (fcm.googleapis.com, updates.push.services.mozilla.com, *.push.apple.com, *.notify.windows.com)',
    ],
  ])('refuses the Web Push endpoint %s (%s)', async (endpoint, message) => {
    // One person for every refused endpoint: each case must leave them without a device.
    refusedEndpointUser ??= await createUser(t.app);
    const user = refusedEndpointUser;
    const response = await t.app.inject({
      method: 'POST',
      url: DEVICES,
      headers: user.headers,
      payload: { kind: 'webpush', ...subscription(), endpoint },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ field: 'body.endpoint', message }]);
    expect(await t.app.platform.db.select().from(pushDevices).where(eq(pushDevices.userId, user.id))).toEqual([]);
  });

  it('accepts a public https push service', async () => {
    const user = await createUser(t.app);
    const response = await t.app.inject({
      method: 'POST',
      url: DEVICES,
      headers: user.headers,
      payload: { kind: 'webpush', ...subscription('https://fcm.googleapis.com') },
    });
    expect(response.statusCode, response.body).toBe(201);
  });
});
