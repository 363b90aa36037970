import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LIVE_CLOSE_CODES } from '../../src/modules/live/index.js';
import {
  type Account,
  createDeployment,
  type Deployment,
  type Envelope,
  type Instance,
  makeAdmin,
  printLogsOnFailure,
  servicesUnavailable,
  signIn,
  signUp,
  sleep,
  waitFor,
} from '../support/instance.js';

const unavailable = await servicesUnavailable();

// The promise of a shared deployment: what one instance changes, the other applies within a second.
const WITHIN_MS = 1000;
const POLL_MS = 50;
const GIVE_UP_MS = 5000;

/**
 * Answers how long after `change` (made on A, timed from its answer) `applied` first held on B,
 * polling B every 50 ms. B is asked a few times first, so its own short-lived memory of the old
 * state is as fresh as it can be: the worst case a busy instance meets.
 */
async function delayOnB(what: string, before: () => Promise<boolean>, change: () => Promise<void>) {
  for (let round = 0; round < 3; round++) {
    expect(await before(), `${what}: B saw the change before it was made`).toBe(false);
    await sleep(POLL_MS);
  }
  await change();
  const changedAt = performance.now();
  for (;;) {
    if (await before()) {
      const delay = Math.round(performance.now() - changedAt);
      console.log(`${what}: applied on B ${delay} ms after A answered`);
      return delay;
    }
    if (performance.now() - changedAt > GIVE_UP_MS) throw new Error(`${what}: not applied on B after ${GIVE_UP_MS} ms`);
    await sleep(POLL_MS);
  }
}

const expectStatus = <T>(answer: { status: number; body: Envelope<T> }, status: number, what: string): T => {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.data;
};

interface LiveMessage {
  type: string;
  id: string;
  data: Record<string, unknown>;
  /** performance.now() when it arrived. */
  at: number;
}

/** A WebSocket on `instance`'s /api/v1/live, signed in with `token`, that keeps what it receives. */
async function liveClient(instance: Instance, token: string) {
  const socket = new WebSocket(`${instance.url.replace('http', 'ws')}/api/v1/live`);
  const messages: LiveMessage[] = [];
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    socket.once('close', (code) => resolve({ code, at: performance.now() })),
  );
  socket.on('error', () => undefined);
  socket.on('message', (raw) => messages.push({ ...JSON.parse(raw.toString()), at: performance.now() }));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade: ${response.statusCode}`)));
  });
  socket.send(JSON.stringify({ type: 'auth', token }));
  const ready = await waitFor(() => messages.find((m) => m.type === 'ready' || m.type === 'error'), 'live auth');
  if (ready.type !== 'ready') throw new Error(`live auth refused: ${JSON.stringify(ready.data)}`);
  return { socket, messages, closed };
}

describe.skipIf(unavailable)('two instances, one PostgreSQL and Redis: a change on A applies on B', () => {
  let deployment: Deployment;
  let a: Instance;
  let b: Instance;
  let admin: Account;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    deployment = await createDeployment({ env: { OUTBOX_POLL_INTERVAL_MS: '100' } });
    // B runs no workers: whatever the outbox causes happens on A.
    [a, b] = await Promise.all([deployment.start('A'), deployment.start('B', { env: { WORKERS_ENABLED: 'false' } })]);
    admin = await makeAdmin(deployment, a, await signUp(a));
  });

  const sockets: WebSocket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.terminate();
  });

  afterAll(async () => {
    if (!deployment) return;
    const { redisKeysDeleted } = await deployment.close();
    console.log(`redis keys under ${deployment.redisKeyPrefix} deleted at the end: ${redisKeysDeleted}`);
  });

  it('a feature flag switched on through A is on for requests to B within a second', async () => {
    const key = `cluster_${randomBytes(4).toString('hex')}`;
    const user = await signUp(a);
    expectStatus(
      await a.request('POST', '/api/v1/admin/flags', {
        token: admin.token,
        json: { key, enabled: false, rollout_percentage: 100 },
      }),
      201,
      'create flag',
    );
    const flagOnB = async () => {
      const answer = await b.get<Envelope<{ flags: Record<string, boolean> }>>('/api/v1/me/entitlements', user.token);
      return expectStatus(answer, 200, 'entitlements on B').flags[key] === true;
    };
    const delay = await delayOnB('feature flag switched on', flagOnB, async () => {
      expectStatus(
        await a.request('PATCH', `/api/v1/admin/flags/${key}`, { token: admin.token, json: { enabled: true } }),
        200,
        'switch the flag on',
      );
    });
    expect(delay).toBeLessThan(WITHIN_MS);
  });

  it("an admin's demotion through A refuses their admin token on B within a second", async () => {
    const demoted = await makeAdmin(deployment, a, await signUp(a));
    const refusedOnB = async () => {
      const answer = await b.get('/api/v1/admin/users?limit=1', demoted.token);
      if (answer.status === 200) return false;
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe('TOKEN_INVALID');
      return true;
    };
    const delay = await delayOnB('role change admin → user', refusedOnB, async () => {
      expectStatus(
        await a.request('PATCH', `/api/v1/admin/users/${demoted.id}`, { token: admin.token, json: { role: 'user' } }),
        200,
        'demote',
      );
    });
    expect(delay).toBeLessThan(WITHIN_MS);
    // Signed in again, on B, they are an ordinary user.
    const again = await signIn(b, demoted);
    expect((await b.get('/api/v1/admin/users?limit=1', again.token)).status).toBe(403);
  });

  it('a suspension through A ends the person’s session on B within a second', async () => {
    const suspended = await signUp(a);
    const refusedOnB = async () => {
      const answer = await b.get('/api/v1/me', suspended.token);
      if (answer.status === 200) return false;
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe('SESSION_REVOKED');
      return true;
    };
    const delay = await delayOnB('suspension', refusedOnB, async () => {
      expectStatus(
        await a.request('PATCH', `/api/v1/admin/users/${suspended.id}`, {
          token: admin.token,
          json: { is_active: false },
        }),
        200,
        'suspend',
      );
    });
    expect(delay).toBeLessThan(WITHIN_MS);
    const login = await b.request('POST', '/api/v1/auth/login', {
      json: { email: suspended.email, password: suspended.password },
    });
    expect(login.body.code).toBe('ACCOUNT_DISABLED');
  });

  it('a category renamed through A is listed renamed by B, whose cached list was stale at once', async () => {
    const slug = `cluster-${randomBytes(4).toString('hex')}`;
    const category = expectStatus<{ id: string }>(
      await a.request('POST', '/api/v1/admin/categories', { token: admin.token, json: { slug, name: 'Before' } }),
      201,
      'create category',
    );
    const nameOnB = async () => {
      const list = expectStatus<{ id: string; name: string }[]>(await b.get('/api/v1/categories'), 200, 'categories');
      return list.find((entry) => entry.id === category.id)?.name;
    };
    const hits = () => b.metric('cache_requests_total', { cache: 'categories', result: 'hit' });
    expect(await nameOnB()).toBe('Before');
    const hitsBefore = await hits();
    expect(await nameOnB()).toBe('Before');
    // B answered the second time from the shared cache.
    expect(await hits()).toBe(hitsBefore + 1);

    expectStatus(
      await a.request('PATCH', `/api/v1/admin/categories/${category.id}`, {
        token: admin.token,
        json: { name: 'After' },
      }),
      200,
      'rename',
    );
    expect(await nameOnB()).toBe('After');
  });

  it('a provider rejected through A drops out of a search B had cached, on its next answer', async () => {
    const word = `zq${randomBytes(4).toString('hex')}`;
    const category = expectStatus<{ id: string }>(
      await a.request('POST', '/api/v1/admin/categories', {
        token: admin.token,
        json: { slug: `cluster-${word}`, name: `Category ${word}` },
      }),
      201,
      'category',
    );
    const person = await signUp(a);
    expectStatus(
      await a.request('PATCH', `/api/v1/admin/users/${person.id}`, { token: admin.token, json: { role: 'provider' } }),
      200,
      'make provider',
    );
    const provider = await signIn(a, person);
    const profile = expectStatus<{ id: string }>(
      await a.request('PATCH', '/api/v1/provider/profile', {
        token: provider.token,
        json: { display_name: `Studio ${word}` },
      }),
      200,
      'profile',
    );
    expectStatus(
      await a.request('PATCH', `/api/v1/admin/providers/${profile.id}`, {
        token: admin.token,
        json: { verification: 'verified' },
      }),
      200,
      'verify',
    );
    const service = expectStatus<{ id: string }>(
      await a.request('POST', '/api/v1/provider/services', {
        token: provider.token,
        json: {
          name: `Massage ${word}`,
          category_id: category.id,
          duration_minutes: 60,
          price_minor: 5000,
          currency: 'GBP',
        },
      }),
      201,
      'service',
    );
    const foundOnB = async () =>
      expectStatus<{ id: string }[]>(await b.get(`/api/v1/services/search?q=${word}`), 200, 'search on B').map(
        (result) => result.id,
      );
    const hits = () => b.metric('cache_requests_total', { cache: 'search', result: 'hit' });
    expect(await foundOnB()).toEqual([service.id]);
    const hitsBefore = await hits();
    expect(await foundOnB()).toEqual([service.id]);
    expect(await hits()).toBe(hitsBefore + 1);

    expectStatus(
      await a.request('PATCH', `/api/v1/admin/providers/${profile.id}`, {
        token: admin.token,
        json: { verification: 'rejected', reason: 'cluster test' },
      }),
      200,
      'reject',
    );
    expect(await foundOnB()).toEqual([]);
  });

  it('a message caused on A reaches a live socket on B once', async () => {
    const person = await signUp(a);
    const onB = await liveClient(b, person.token);
    sockets.push(onB.socket);
    // Anonymous, on A: A's outbox worker turns it into a notification, announced live to the person.
    const asked = await a.request('POST', '/api/v1/auth/password-reset/request', { json: { email: person.email } });
    expect(asked.status).toBe(202);
    const askedAt = performance.now();
    const created = (m: LiveMessage) => m.type === 'notification.created' && m.data.template === 'password_reset';
    const message = await waitFor(() => onB.messages.find(created), 'notification.created on B', { timeoutMs: 5000 });
    console.log(`live: notification.created reached B ${Math.round(message.at - askedAt)} ms after A answered`);
    await sleep(500);
    expect(onB.messages.filter(created)).toHaveLength(1);
  });

  it('a sign-out on A closes the session’s live socket on B within a second', async () => {
    const person = await signUp(a);
    const onB = await liveClient(b, person.token);
    sockets.push(onB.socket);
    expect((await a.request('POST', '/api/v1/auth/logout', { token: person.token })).status).toBe(200);
    const loggedOutAt = performance.now();
    const closed = await Promise.race([onB.closed, sleep(GIVE_UP_MS).then(() => undefined)]);
    if (!closed) throw new Error(`the socket on B was still open ${GIVE_UP_MS} ms after the sign-out on A`);
    const delay = Math.round(closed.at - loggedOutAt);
    console.log(`live: socket on B closed ${delay} ms after the sign-out on A (code ${closed.code})`);
    expect(closed.code).toBe(LIVE_CLOSE_CODES.SESSION_REVOKED);
    expect(delay).toBeLessThan(WITHIN_MS);
  });
});
