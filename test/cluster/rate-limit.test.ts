import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  createDeployment,
  type Deployment,
  type Instance,
  printLogsOnFailure,
  type RequestOptions,
  servicesUnavailable,
  signUp,
} from '../support/instance.js';

const unavailable = await servicesUnavailable();

const ANON_MAX = 40;
const USER_MAX = 30;
const SENSITIVE_MAX = 5;

/**
 * A client address of its own per scenario, as one load balancer (TRUST_PROXY=1) reports it: the
 * budgets of earlier scenarios and the harness's own probes (127.0.0.1) never count. An IPv6 /64
 * is one client to the limiter.
 */
const clientAddress = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::7`;

interface Tally {
  ok: number;
  refused: number;
  byInstance: Record<string, { ok: number; refused: number }>;
  /** `ratelimit-remaining` of each answer, in order. */
  remaining: number[];
}

/** Sends `count` requests alternating A, B, A, …, one at a time, and tallies what came back. */
async function alternate(
  instances: Instance[],
  count: number,
  send: (instance: Instance, index: number) => Promise<Answer>,
): Promise<Tally> {
  const tally: Tally = { ok: 0, refused: 0, byInstance: {}, remaining: [] };
  for (let index = 0; index < count; index++) {
    const instance = instances[index % instances.length] as Instance;
    const answer = await send(instance, index);
    tally.byInstance[instance.name] ??= { ok: 0, refused: 0 };
    const entry = tally.byInstance[instance.name] as { ok: number; refused: number };
    if (answer.status === 429) {
      tally.refused += 1;
      entry.refused += 1;
      expect(answer.body.code).toBe('RATE_LIMITED');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    } else {
      expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
      tally.ok += 1;
      entry.ok += 1;
    }
    tally.remaining.push(Number(answer.headers.get('ratelimit-remaining')));
  }
  return tally;
}

const countdown = (from: number, length: number) => Array.from({ length }, (_, index) => Math.max(0, from - index));

describe.skipIf(unavailable)('two instances share one rate-limit budget (Redis)', () => {
  let deployment: Deployment;
  let a: Instance;
  let b: Instance;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    deployment = await createDeployment({
      env: {
        TRUST_PROXY: '1',
        RATE_LIMIT_WINDOW_MS: '120000',
        RATE_LIMIT_ANON_MAX: String(ANON_MAX),
        RATE_LIMIT_USER_MAX: String(USER_MAX),
        RATE_LIMIT_SENSITIVE_MAX: String(SENSITIVE_MAX),
        WORKERS_ENABLED: 'false',
      },
    });
    [a, b] = await Promise.all([deployment.start('A'), deployment.start('B')]);
  });

  afterAll(async () => {
    await deployment?.close();
  });

  const from = (address: string, options: RequestOptions = {}): RequestOptions => ({
    ...options,
    headers: { ...options.headers, 'x-forwarded-for': address },
  });

  it(`refuses an anonymous client once ${ANON_MAX} requests were spent, whichever instance took them`, async () => {
    const address = clientAddress();
    const tally = await alternate([a, b], ANON_MAX + 10, (instance) =>
      instance.request('GET', '/api/v1/categories', from(address)),
    );
    console.log(`anonymous budget ${ANON_MAX}: ${JSON.stringify(tally.byInstance)}`);
    expect(tally.ok).toBe(ANON_MAX);
    expect(tally.refused).toBe(10);
    expect(tally.byInstance).toEqual({ A: { ok: ANON_MAX / 2, refused: 5 }, B: { ok: ANON_MAX / 2, refused: 5 } });
    // One counter: the remaining budget falls by one per request across both instances.
    expect(tally.remaining).toEqual(countdown(ANON_MAX - 1, ANON_MAX + 10));
  });

  it(`refuses a signed-in person once ${USER_MAX} requests were spent across both instances`, async () => {
    const person = await signUp(a, { headers: { 'x-forwarded-for': clientAddress() } });
    // Each request from its own address: only the person's budget is shared.
    const tally = await alternate([a, b], USER_MAX + 6, (instance) =>
      instance.request('GET', '/api/v1/me', from(clientAddress(), { token: person.token })),
    );
    console.log(`signed-in budget ${USER_MAX}: ${JSON.stringify(tally.byInstance)}`);
    expect(tally.ok).toBe(USER_MAX);
    expect(tally.refused).toBe(6);
    expect(tally.byInstance).toEqual({ A: { ok: USER_MAX / 2, refused: 3 }, B: { ok: USER_MAX / 2, refused: 3 } });
  });

  it(`refuses sign-ins from one address after ${SENSITIVE_MAX}, split over both instances`, async () => {
    const person = await signUp(b, { headers: { 'x-forwarded-for': clientAddress() } });
    const address = clientAddress();
    const tally = await alternate([a, b], SENSITIVE_MAX + 3, (instance) =>
      instance.request(
        'POST',
        '/api/v1/auth/login',
        from(address, { json: { email: person.email, password: person.password } }),
      ),
    );
    console.log(`sign-in budget ${SENSITIVE_MAX}: ${JSON.stringify(tally.byInstance)}`);
    expect(tally.ok).toBe(SENSITIVE_MAX);
    expect(tally.refused).toBe(3);
    expect(tally.byInstance).toEqual({ A: { ok: 3, refused: 1 }, B: { ok: 2, refused: 2 } });
  });

  it('counts the refusals on the instance that refused', async () => {
    const [onA, onB] = await Promise.all([
      a.metric('rate_limit_rejections_total'),
      b.metric('rate_limit_rejections_total'),
    ]);
    console.log(`rate_limit_rejections_total: A ${onA}, B ${onB}`);
    expect(onA + onB).toBe(10 + 6 + 3);
  });
});
