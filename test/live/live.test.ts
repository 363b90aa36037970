import type { Socket } from 'node:net';
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/infra/ids.js';
import { LIVE_CLOSE_CODES, RESUME_WINDOW_MS } from '../../src/modules/live/index.js';
import { FAN_OUT_CHANNEL } from '../../src/modules/live/live.service.js';
import { liveEvents } from '../../src/modules/live/live.tables.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';
import {
  type LiveClient,
  liveClients,
  liveConnections,
  liveMessagesCounted,
  liveUrl,
  publishLive,
  signIn,
  sleep,
  until,
} from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The claims of an access token (its payload, unverified). */
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { exp: number; sid: string };
const expiryOf = (token: string) => new Date(claimsOf(token).exp * 1000).toISOString();
/** A UUIDv7 whose time is `ms` (what a message id of that moment looks like). */
const idAt = (ms: number) => {
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
};

const clients = liveClients();
afterEach(() => clients.closeAll());

/** The socket is refused: one `error` message with `code`, then the close `closeCode` naming it. */
async function expectRefused(client: LiveClient, code: string, closeCode: number = LIVE_CLOSE_CODES.UNAUTHORIZED) {
  const closed = await client.waitClosed();
  expect(closed).toMatchObject({ code: closeCode, reason: code });
  expect(client.messages).toEqual([
    {
      type: 'error',
      id: expect.stringMatching(UUID),
      at: expect.any(String),
      data: { code, message: expect.any(String) },
    },
  ]);
}

describe('GET /api/v1/live', () => {
  // The platform clock starts at the real time: message ids (UUIDv7) carry the wall clock, and
  // resume compares them with the platform clock.
  const clock = createTestClock(new Date());
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
    url = await liveUrl(t.app);
  });
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  describe('without a WebSocket', () => {
    it('answers a plain GET with 426 UPGRADE_REQUIRED', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/live' });
      expect(response.statusCode).toBe(426);
      expect(response.json()).toMatchObject({ success: false, code: 'UPGRADE_REQUIRED', message: expect.any(String) });
    });
  });

  describe('authentication', () => {
    it('answers the auth message with ready: the person, the token’s expiry and the heartbeat', async () => {
      const user = await createUser(t.app);
      const before = await liveConnections(t.app);
      const client = await clients.open(url);
      const ready = await client.auth(user.accessToken);
      expect(ready).toEqual({
        type: 'ready',
        id: expect.stringMatching(UUID),
        at: clock.now().toISOString(),
        data: {
          user_id: user.id,
          expires_at: expiryOf(user.accessToken),
          heartbeat_ms: 30_000,
          resumed: 0,
          gap: false,
        },
      });
      expect(await liveConnections(t.app)).toBe(before + 1);

      // Once ready: ping is answered, mistakes are answered with an error and the socket stays.
      await client.roundTrip();
      client.send('not json');
      const invalid = await client.waitFor((message) => message.type === 'error');
      expect(invalid.data).toEqual({ code: 'INVALID_JSON', message: expect.any(String) });
      client.send({ type: 'subscribe', topic: 'everything' });
      const unknown = await client.waitFor((message) => message.data.code === 'VALIDATION_ERROR');
      expect(unknown.type).toBe('error');
      await client.roundTrip();
      expect(client.isOpen()).toBe(true);

      client.socket.close();
      await client.waitClosed();
      await until(async () => (await liveConnections(t.app)) === before, 'the hub to forget the socket');
    });

    it('refuses a garbage, missing, revoked or expired token with an error, then closes 4401', async () => {
      const user = await createUser(t.app);
      const garbage = await clients.open(url);
      garbage.send({ type: 'auth', token: 'not-a-token' });
      await expectRefused(garbage, 'TOKEN_INVALID');

      const missing = await clients.open(url);
      missing.send({ type: 'auth' });
      await expectRefused(missing, 'UNAUTHORIZED');

      const signedOut = await signIn(t.app, user);
      const logout = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: { authorization: `Bearer ${signedOut}` },
      });
      expect(logout.statusCode).toBe(200);
      const revoked = await clients.open(url);
      revoked.send({ type: 'auth', token: signedOut });
      await expectRefused(revoked, 'SESSION_REVOKED');

      // The user's first token, once the clock is past its expiry.
      clock.advance(claimsOf(user.accessToken).exp * 1000 - clock.now().getTime() + 1000);
      const expired = await clients.open(url);
      expired.send({ type: 'auth', token: user.accessToken });
      await expectRefused(expired, 'TOKEN_INVALID');
    });

    it('refuses a last_event_id that is not a message id (4401)', async () => {
      const user = await createUser(t.app);
      const client = await clients.open(url);
      client.send({ type: 'auth', token: user.accessToken, last_event_id: "1' or '1'='1" });
      await expectRefused(client, 'VALIDATION_ERROR');
    });

    it.each([
      ['text that is not JSON', 'hello', 'INVALID_JSON'],
      ['JSON that is not an object', '42', 'INVALID_JSON'],
      ['JSON null', 'null', 'INVALID_JSON'],
      ['a binary frame', Buffer.from('{"type":"auth"}'), 'INVALID_JSON'],
      ['a message other than auth', '{"type":"ping"}', 'UNAUTHORIZED'],
    ])('closes with 4401 when the first message is %s', async (_name, first, code) => {
      const client = await clients.open(url);
      client.socket.send(first);
      await expectRefused(client, code);
    });

    it('closes a socket whose message is larger than 16 KiB (1009)', async () => {
      const user = await createUser(t.app);
      const client = await clients.ready(url, user.accessToken);
      client.send({ type: 'ping', padding: 'x'.repeat(16 * 1024) });
      expect((await client.waitClosed()).code).toBe(1009);
    });
  });

  describe('resume (last_event_id)', () => {
    it('replays what a client missed since last_event_id, in order, before newer messages', async () => {
      const [user, stranger] = await Promise.all([createUser(t.app), createUser(t.app)]);
      const first = await clients.ready(url, user.accessToken);
      await publishLive(t.app, [user.id], { step: 'A' });
      const a = await first.waitFor((message) => message.data.step === 'A');
      first.socket.close();
      await first.waitClosed();

      await publishLive(t.app, [user.id], { step: 'B' });
      await publishLive(t.app, [stranger.id], { step: 'not yours' });
      await publishLive(t.app, [user.id], { step: 'C' }, 'chat.message');

      const second = await clients.open(url);
      const ready = await second.auth(user.accessToken, a.id);
      expect(ready).toMatchObject({ type: 'ready', data: { user_id: user.id, resumed: 2, gap: false } });
      await publishLive(t.app, [user.id], { step: 'D' });
      await second.waitFor((message) => message.data.step === 'D');

      expect(second.messages.map((message) => [message.type, message.data.step])).toEqual([
        ['ready', undefined],
        ['notification.created', 'B'],
        ['chat.message', 'C'],
        ['notification.created', 'D'],
      ]);
      // Each message is the stored row (one per recipient): same id, type, time and data.
      const rows = await t.app.platform.db
        .select()
        .from(liveEvents)
        .where(eq(liveEvents.userId, user.id))
        .orderBy(asc(liveEvents.id));
      expect(rows.map((row) => row.id)).toEqual([a.id, ...second.messages.slice(1).map((message) => message.id)]);
      expect(second.messages.slice(1)).toEqual(
        rows.slice(1).map((row) => ({ type: row.type, id: row.id, at: row.createdAt.toISOString(), data: row.data })),
      );
    });

    it('sends each message published while a client resumes once, in order', async () => {
      const user = await createUser(t.app);
      const lastSeen = uuidv7();
      await publishLive(t.app, [user.id], { step: 0 });
      const client = await clients.open(url);
      const answered = client.auth(user.accessToken, lastSeen);
      // Some land before the replay is read, some while it is sent, some after ready.
      const steps = [1, 2, 3, 4, 5, 6, 7, 8];
      for (const step of steps) {
        await publishLive(t.app, [user.id], { step });
        await new Promise((resolve) => setImmediate(resolve));
      }
      const ready = await answered;
      // lastSeen was never stored, so the resume reports a gap; what matters here is the order.
      expect(ready.data).toMatchObject({ gap: true });
      expect(ready.data.resumed).toBeGreaterThanOrEqual(1);
      await client.waitFor((message) => message.data.step === 8);
      await client.roundTrip();
      expect(client.messages.map((message) => message.data.step)).toEqual([undefined, 0, ...steps, undefined]);
    });

    // The replay skips a fan-out of anything it already sent, however late that fan-out arrives.
    it('does not send a message again when its fan-out arrives after the replay', async () => {
      const user = await createUser(t.app);
      const lastSeen = uuidv7();
      // Stored, its fan-out still on the way.
      const late = {
        id: uuidv7(),
        userId: user.id,
        type: 'notification.created',
        data: { step: 'late' },
        createdAt: clock.now(),
      };
      await t.app.platform.db.insert(liveEvents).values(late);
      const client = await clients.open(url);
      expect((await client.auth(user.accessToken, lastSeen)).data).toMatchObject({ resumed: 1 });
      await t.app.platform.kv.publish(
        FAN_OUT_CHANNEL,
        JSON.stringify({
          type: late.type,
          at: late.createdAt.toISOString(),
          data: late.data,
          recipients: [{ user_id: user.id, id: late.id }],
        }),
      );
      await publishLive(t.app, [user.id], { step: 'after' });
      await client.waitFor((message) => message.data.step === 'after');
      expect(client.messages.filter((message) => message.id === late.id)).toHaveLength(1);
    });

    it('reports a gap for an id older than a day, and still sends what the last day kept', async () => {
      const user = await createUser(t.app);
      await publishLive(t.app, [user.id], { step: 'kept 1' });
      await publishLive(t.app, [user.id], { step: 'kept 2' });
      const client = await clients.open(url);
      const old = idAt(clock.now().getTime() - RESUME_WINDOW_MS - 3_600_000);
      const ready = await client.auth(user.accessToken, old);
      expect(ready.data).toMatchObject({ resumed: 2, gap: true });
      await client.waitFor((message) => message.data.step === 'kept 2');
      expect(client.messages.map((message) => message.data.step)).toEqual([undefined, 'kept 1', 'kept 2']);
    });

    it('sends at most 500 missed messages, the oldest first, and reports the gap', async () => {
      const user = await createUser(t.app);
      const lastSeen = uuidv7();
      const rows = Array.from({ length: 501 }, (_, n) => ({
        id: uuidv7(),
        userId: user.id,
        type: 'notification.created',
        data: { n },
        createdAt: clock.now(),
      }));
      await t.app.platform.db.insert(liveEvents).values(rows);
      const client = await clients.open(url);
      const ready = await client.auth(user.accessToken, lastSeen);
      expect(ready.data).toMatchObject({ resumed: 500, gap: true });
      await until(() => client.messages.length >= 501, 'the 500 missed messages');
      await client.roundTrip();
      const replayed = client.messages.slice(1, -1);
      expect(replayed.map((message) => message.id)).toEqual(rows.slice(0, 500).map((row) => row.id));
      expect(replayed.at(-1)?.data).toEqual({ n: 499 });
    });
  });

  describe('token expiry and renewal', () => {
    it('keeps a socket renewed with a fresh token and closes one whose token expired (4001)', async () => {
      const user = await createUser(t.app);
      const renewing = await clients.ready(url, user.accessToken);
      // Same token, never renewed: shows when the expiry check has run.
      const control = await clients.ready(url, user.accessToken);

      clock.advance(800_000);
      const fresh = await signIn(t.app, user);
      const from = renewing.messages.length;
      renewing.send({ type: 'auth', token: fresh });
      const renewed = await renewing.waitFor((message) => message.type === 'renewed', { from });
      expect(renewed.data).toEqual({ expires_at: expiryOf(fresh) });

      // Past the first token's expiry, before the fresh one's.
      clock.advance(200_000);
      const controlClosed = await control.waitClosed(1500);
      expect(controlClosed).toMatchObject({ code: LIVE_CLOSE_CODES.TOKEN_EXPIRED, reason: 'token expired' });
      await renewing.roundTrip();
      expect(renewing.isOpen()).toBe(true);

      // Past the fresh token's expiry too.
      clock.set(new Date(claimsOf(fresh).exp * 1000));
      const closed = await renewing.waitClosed(1500);
      expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.TOKEN_EXPIRED, reason: 'token expired' });
    });

    it('closes with 4403 when a socket is renewed with another person’s token', async () => {
      const [user, other] = await Promise.all([createUser(t.app), createUser(t.app)]);
      const client = await clients.ready(url, user.accessToken);
      client.send({ type: 'auth', token: other.accessToken });
      const closed = await client.waitClosed();
      expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.FORBIDDEN, reason: 'FORBIDDEN' });
      expect(client.messages.map((message) => [message.type, message.data.code])).toEqual([
        ['ready', undefined],
        ['error', 'FORBIDDEN'],
      ]);
    });

    it('closes with 4401 when a socket is renewed with an invalid token', async () => {
      const user = await createUser(t.app);
      const client = await clients.ready(url, user.accessToken);
      client.send({ type: 'auth', token: `${user.accessToken}x` });
      expect(await client.waitClosed()).toMatchObject({ code: LIVE_CLOSE_CODES.UNAUTHORIZED, reason: 'TOKEN_INVALID' });
    });
  });

  describe('revocation', () => {
    let admin: TestUser;
    beforeAll(async () => {
      admin = await createUser(t.app, { role: 'admin' });
    });

    it('closes the socket of a session that signs out within a second (4002); the other session’s stays', async () => {
      const user = await createUser(t.app);
      const otherSession = await signIn(t.app, user);
      const signingOut = await clients.ready(url, user.accessToken);
      const staying = await clients.ready(url, otherSession);

      const started = Date.now();
      const logout = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers });
      expect(logout.statusCode).toBe(200);
      const closed = await signingOut.waitClosed(1500);
      expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.SESSION_REVOKED, reason: 'session revoked' });
      expect(closed.at - started).toBeLessThan(1500);

      // Given time to act on the sign-out too, the other session's socket is untouched.
      await sleep(600);
      await staying.roundTrip();
      expect(staying.isOpen()).toBe(true);
    });

    it('closes the sockets of a person whose role an admin changes (4002); the old token is refused after', async () => {
      const user = await createUser(t.app);
      const adminToken = await signIn(t.app, admin);
      const client = await clients.ready(url, user.accessToken);
      // The change comes after the token was issued (a token of the same millisecond stays valid).
      clock.advance(1000);
      const started = Date.now();
      const changed = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/users/${user.id}`,
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { role: 'provider' },
      });
      expect(changed.statusCode).toBe(200);
      const closed = await client.waitClosed(1500);
      expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.SESSION_REVOKED, reason: 'access changed' });
      expect(closed.at - started).toBeLessThan(1500);

      const stale = await clients.open(url);
      stale.send({ type: 'auth', token: user.accessToken });
      await expectRefused(stale, 'TOKEN_INVALID');
      const again = await clients.ready(url, await signIn(t.app, user));
      expect(again.messages[0]?.data.user_id).toBe(user.id);
    });

    it('closes the sockets of a person an admin deactivates (4002)', async () => {
      const user = await createUser(t.app);
      const adminToken = await signIn(t.app, admin);
      const client = await clients.ready(url, user.accessToken);
      const started = Date.now();
      const deactivated = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/admin/users/${user.id}`,
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { is_active: false },
      });
      expect(deactivated.statusCode).toBe(200);
      const closed = await client.waitClosed(1500);
      expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.SESSION_REVOKED, reason: 'session revoked' });
      expect(closed.at - started).toBeLessThan(1500);
    });
  });
});

describe('live limits (auth timeout, connections per person, heartbeat)', () => {
  const clock = createTestClock(new Date());
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await buildTestApp({
      clock,
      // A heartbeat of 400 ms: short enough for the test, long enough that a lively client on a busy
      // CI machine (both suites running) still pongs in time.
      env: { LIVE_AUTH_TIMEOUT_MS: '250', LIVE_MAX_CONNECTIONS_PER_USER: '2', LIVE_HEARTBEAT_MS: '400' },
    });
    url = await liveUrl(t.app);
  });
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  it('closes a socket that sends no auth message within LIVE_AUTH_TIMEOUT_MS (4401)', async () => {
    const client = await clients.open(url);
    const opened = Date.now();
    await expectRefused(client, 'UNAUTHORIZED');
    const waited = (await client.closed).at - opened;
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(2000);
  });

  it('refuses a third socket of one person with 4029; another person, or a freed place, is accepted', async () => {
    const [user, other] = await Promise.all([createUser(t.app), createUser(t.app)]);
    const first = await clients.ready(url, user.accessToken);
    const second = await clients.ready(url, user.accessToken);
    const third = await clients.open(url);
    third.send({ type: 'auth', token: user.accessToken });
    await expectRefused(third, 'TOO_MANY_CONNECTIONS', LIVE_CLOSE_CODES.TOO_MANY_CONNECTIONS);
    await Promise.all([first.roundTrip(), second.roundTrip()]);
    await clients.ready(url, other.accessToken);

    const open = await liveConnections(t.app);
    first.socket.close();
    await first.waitClosed();
    await until(async () => (await liveConnections(t.app)) === open - 1, 'the hub to forget the closed socket');
    const replacement = await clients.ready(url, user.accessToken);
    expect(replacement.messages[0]?.data.user_id).toBe(user.id);
  });

  // A socket that closes while its auth message is being checked is never added to the hub.
  it('forgets a socket that closed while its auth message was being checked', async () => {
    const user = await createUser(t.app);
    const client = await clients.open(url);
    // Hold the session look-up the auth check makes until the socket is gone.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holding = t.app.platform.db.transaction(async (tx) => {
      await tx.execute(sql`lock table sessions in access exclusive mode`);
      locked();
      await gate;
    });
    await isLocked;
    client.send({ type: 'auth', token: user.accessToken });
    await sleep(100);
    client.socket.terminate();
    await client.closed;
    await sleep(100);
    release();
    await holding;
    await sleep(300);
    expect(await liveConnections(t.app)).toBe(0);
    // Both of the person's places are free.
    await clients.ready(url, user.accessToken);
    await clients.ready(url, user.accessToken);
  });

  it('closes a socket that does not answer pings (4000); one that does stays open', async () => {
    const [silentUser, livelyUser] = await Promise.all([createUser(t.app), createUser(t.app)]);
    const lively = await clients.ready(url, livelyUser.accessToken);
    let pings = 0;
    lively.socket.on('ping', () => {
      pings += 1;
    });
    const silent = await clients.ready(url, silentUser.accessToken, { autoPong: false });
    const closed = await silent.waitClosed(5000);
    expect(closed).toMatchObject({ code: LIVE_CLOSE_CODES.NO_PONG, reason: 'no pong' });
    await until(() => pings >= 3, 'three pings answered', 5000);
    await lively.roundTrip();
    expect(lively.isOpen()).toBe(true);
  });
});

describe('a client too slow to read', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await buildTestApp({ clock: createTestClock(new Date()), env: { LIVE_MAX_BUFFERED_BYTES: '65536' } });
    url = await liveUrl(t.app);
  });
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  it('is cut off once LIVE_MAX_BUFFERED_BYTES wait unsent; the same person’s reading socket gets everything', async () => {
    const user = await createUser(t.app);
    const slow = await clients.ready(url, user.accessToken);
    const reading = await clients.ready(url, user.accessToken);
    expect(await liveConnections(t.app)).toBe(2);
    const raw = (slow.socket as unknown as { _socket: Socket })._socket;
    raw.pause();

    const padding = 'x'.repeat(32 * 1024);
    let published = 0;
    const deadline = Date.now() + 30_000;
    while ((await liveMessagesCounted(t.app, 'dropped_slow')) === 0) {
      if (Date.now() > deadline) throw new Error(`not dropped after ${published} messages`);
      await publishLive(t.app, [user.id], { n: published, padding });
      published += 1;
      // The database answers without a turn of the event loop: let the sockets move.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Kernel buffers take some megabytes first; then the server cuts the connection.
    expect(published).toBeGreaterThan(2);
    await until(async () => (await liveConnections(t.app)) === 1, 'the hub to forget the slow socket');
    expect(await liveMessagesCounted(t.app, `closed_${LIVE_CLOSE_CODES.NO_PONG}`)).toBe(0);

    const expected = Array.from({ length: published }, (_, n) => n);
    await until(() => reading.messages.length === published + 1, 'every message on the reading socket');
    expect(reading.messages.slice(1).map((message) => message.data.n)).toEqual(expected);
    expect(reading.isOpen()).toBe(true);

    raw.resume();
    const closed = await slow.waitClosed(10_000);
    // Cut, not closed: a close frame would wait behind the unread bytes.
    expect(closed.code).toBe(1006);
    const received = slow.messages.slice(1).map((message) => message.data.n);
    expect(received.length).toBeLessThan(published);
    expect(received).toEqual(expected.slice(0, received.length));
  });
});

describe('shutdown', () => {
  it('closes every socket, authenticated or not, when the app closes', async () => {
    const t = await buildTestApp();
    const url = await liveUrl(t.app);
    const user = await createUser(t.app);
    const authenticated = await clients.ready(url, user.accessToken);
    const waiting = await clients.open(url);
    const started = Date.now();
    await t.close();
    const [first, second] = await Promise.all([authenticated.waitClosed(), waiting.waitClosed()]);
    expect(first.at - started).toBeLessThan(1000);
    expect(second.at - started).toBeLessThan(1000);
    // Closed with a close frame, not cut.
    expect(first.code).not.toBe(1006);
    expect(second.code).not.toBe(1006);
  });

  // Shutdown closes sockets with 1001 (the WebSocket plugin's preClose), not a bare close (1005).
  it('says 1001 (going away) to every socket when the app closes', async () => {
    const t = await buildTestApp();
    const url = await liveUrl(t.app);
    const user = await createUser(t.app);
    const authenticated = await clients.ready(url, user.accessToken);
    const waiting = await clients.open(url);
    await t.close();
    expect((await authenticated.waitClosed()).code).toBe(LIVE_CLOSE_CODES.GOING_AWAY);
    expect((await waiting.waitClosed()).code).toBe(LIVE_CLOSE_CODES.GOING_AWAY);
  });
});
