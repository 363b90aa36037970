import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// The overload plugin samples when it is registered and then every 500 ms (its default).
const SAMPLE_INTERVAL_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An ordinary route, shed like any other while overloaded. */
const addPing = (app: FastifyInstance) => {
  app.get('/test/ping', async () => ({ success: true }));
};

async function overloadRejections(t: TestApp): Promise<number> {
  return (await t.app.platform.metrics.overloadRejections.get()).values[0]?.value ?? 0;
}

describe('load shedding on heap use', () => {
  let t: TestApp;

  // Any heap is over 1 byte, so the first sample (at registration) already marks the app overloaded.
  beforeAll(async () => {
    t = await buildTestApp({ env: { OVERLOAD_MAX_HEAP_USED_BYTES: '1' }, extend: addPing });
  });
  afterAll(() => t.close());

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After in the error envelope, and counts it', async () => {
    const before = await overloadRejections(t);
    const res = await t.app.inject({ method: 'GET', url: '/test/ping' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      success: false,
      code: 'SERVICE_UNAVAILABLE',
      message: 'Server is overloaded, please retry shortly',
      correlation_id: res.headers['x-correlation-id'],
    });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await overloadRejections(t)).toBe(before + 1);
  });

  // The route's 503 schema admits both the critical report and the overload envelope.
  it('sheds GET /api/health the same way', async () => {
    const before = await overloadRejections(t);
    const res = await t.app.inject({ method: 'GET', url: '/api/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ success: false, code: 'SERVICE_UNAVAILABLE' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await overloadRejections(t)).toBe(before + 1);
  });

  it('keeps answering liveness, and readiness says not_ready: overloaded', async () => {
    const before = await overloadRejections(t);
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live' });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ success: true, status: 'alive' });

    const ready = await t.app.inject({ method: 'GET', url: '/api/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ success: false, status: 'not_ready', reason: 'overloaded' });
    // Probes that answer while overloaded are not rejections.
    expect(await overloadRejections(t)).toBe(before);
  });
});

describe('load shedding on event-loop delay', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({ env: { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '50' }, extend: addPing });
  });
  afterAll(() => t.close());

  it('sheds after the loop was blocked, recovers once it is free, and /metrics counts the rejections', async () => {
    // Every shed answer this test sees; the counter must match it exactly.
    let shed = 0;
    /** GETs `url` until it answers `status`, for at most `ms`. */
    const getUntil = async (url: string, status: number, ms: number) => {
      const deadline = performance.now() + ms;
      do {
        const res = await t.app.inject({ method: 'GET', url });
        if (res.statusCode === 503 && res.json().code === 'SERVICE_UNAVAILABLE') shed++;
        if (res.statusCode === status) return res;
        await sleep(20);
      } while (performance.now() < deadline);
      return undefined;
    };

    // Booting the app may itself have delayed the loop; start from an app that is not shedding.
    expect(await getUntil('/test/ping', 200, 5000)).toBeDefined();

    // One block shows in the next sample, which then sheds for one interval: polling every
    // 20 ms for three intervals cannot miss it.
    const blockUntil = performance.now() + 300;
    while (performance.now() < blockUntil) {
      // Busy: a synchronous ~300 ms block of the event loop, as a CPU-heavy request would cause.
    }
    const rejected = await getUntil('/test/ping', 503, 3 * SAMPLE_INTERVAL_MS);
    expect(rejected?.json()).toMatchObject({ success: false, code: 'SERVICE_UNAVAILABLE' });
    expect(Number(rejected?.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // The next sample without delay clears it. (Polled with a bound: on a busy machine the
    // process itself may be descheduled for more than 50 ms and shed again for a moment.)
    expect(await getUntil('/test/ping', 200, 5000)).toBeDefined();

    // /metrics is never shed, so monitoring sees the overload as it happens.
    const metrics = await getUntil('/metrics', 200, 5000);
    const counted = /^overload_rejections_total (\d+)$/m.exec(metrics?.body ?? '')?.[1];
    expect(shed).toBeGreaterThanOrEqual(1);
    expect(Number(counted)).toBe(shed);

    expect((await getUntil('/api/health', 200, 5000))?.json()).toMatchObject({ success: true, status: 'healthy' });
  });
});
