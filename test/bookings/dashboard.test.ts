import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryStore } from '../../src/infra/kv/memory.js';
import { createRedisStore } from '../../src/infra/kv/redis.js';
import { createTestClock, testRedisUrl } from '../helpers/app.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  completedVisit,
  createCustomer,
  createProvider,
  START,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

/** The store the app would use, except that it fails on the dashboard's keys while `down` is set. */
const dashboardStore = { down: false };
function storeFailingOnDashboards(base: KeyValueStore): KeyValueStore {
  const check = (key: string) => {
    if (dashboardStore.down && key.startsWith('bookings:dashboard:')) throw new Error('store unreachable');
  };
  return {
    kind: base.kind,
    increment: (key, ttlMs) => base.increment(key, ttlMs),
    get: async (key) => {
      check(key);
      return base.get(key);
    },
    set: async (key, value, ttlMs) => {
      check(key);
      return base.set(key, value, ttlMs);
    },
    delete: (key) => base.delete(key),
    publish: (channel, message) => base.publish(channel, message),
    subscribe: (channel, listener) => base.subscribe(channel, listener),
    ping: () => base.ping(),
    close: () => base.close(),
  };
}

let f: BookingsFixture;
let provider: TestProvider;
let customer: TestUser;

beforeAll(async () => {
  const clock = createTestClock(START);
  const base = testRedisUrl
    ? createRedisStore(testRedisUrl, { keyPrefix: `test:${randomBytes(6).toString('hex')}:` })
    : createMemoryStore(clock);
  f = await setUpBookings({ clock, kv: storeFailingOnDashboards(base) });
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock();
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  // A completed visit, reviewed 4 stars.
  const visit = await completedVisit(f, customer, provider, '2027-03-30T09:00:00Z');
  const review = await f.send('POST', `/bookings/${visit.id}/review`, customer, { rating: 4, text: 'Lovely' });
  expect(review.statusCode).toBe(201);
});

afterEach(() => {
  dashboardStore.down = false;
});

describe('GET /provider/dashboard', () => {
  const dashboard = () => f.send('GET', '/provider/dashboard', provider.user);

  it('is for providers only', async () => {
    expect((await f.send('GET', '/provider/dashboard', customer)).statusCode).toBe(403);
  });

  it('counts the bookings by status, the completion rate and the rating', async () => {
    const res = await dashboard();
    expect(res.statusCode).toBe(200);
    expect(res.json().data.by_status.completed).toBe(1);
    expect(res.json().data.completion_rate).toBe(1);
    expect(res.json().data.rating).toEqual({ average: 4, count: 1 });
  });

  it('answers from the cache for 5 minutes: a booking made meanwhile does not show yet', async () => {
    const first = (await dashboard()).json().data;
    await booked(f, customer, provider, '2027-03-31T09:00:00Z');
    expect((await dashboard()).json().data).toEqual(first);
  });

  it('answers from the database when the shared store fails, and counts the failure', async () => {
    const errors = async () =>
      (await f.app.platform.metrics.cacheRequests.get()).values.find(
        (value) => value.labels.cache === 'bookings_dashboard' && value.labels.result === 'error',
      )?.value ?? 0;
    const before = await errors();
    dashboardStore.down = true;
    const res = await dashboard();
    expect(res.statusCode).toBe(200);
    expect(res.json().data.by_status.completed).toBe(1);
    expect(await errors()).toBeGreaterThan(before);
  });
});
