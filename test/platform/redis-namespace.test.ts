import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openInfrastructure } from '../../src/infra/index.js';
import { deploymentKeyPrefix } from '../../src/infra/kv/namespace.js';
import { createLogger } from '../../src/infra/logger.js';
import { testRedisUrl } from '../helpers/app.js';
import { servicesMode } from '../helpers/database.js';
import { seedDemoData } from '../helpers/demo.js';

const adminUrl = process.env.TEST_DATABASE_URL;
const available = servicesMode && Boolean(testRedisUrl);

interface Deployment {
  app: FastifyInstance;
  /** The demo service paid at the visit, in this deployment's database. */
  serviceId: string;
}

interface Hit {
  id: string;
  provider: { id: string };
}

/**
 * Two PostgreSQL databases, one Redis, the app booted as in production (openInfrastructure):
 * with no REDIS_KEY_PREFIX each database's deployment id names its own namespace, so one
 * database's cached search can never answer another's. The same pair sharing one prefix first
 * shows the bug this prevents.
 */
const title = `Redis key namespace per deployment (PostgreSQL and Redis${available ? '' : ': skipped, needs npm run test:services'})`;

describe.skipIf(!available)(title, () => {
  const suffix = randomBytes(4).toString('hex');
  const names = [`care_ns_${suffix}_a`, `care_ns_${suffix}_b`];
  const sharedPrefix = `test:ns:${suffix}:`;
  const urls: string[] = [];
  const prefixes: string[] = [];
  const open: FastifyInstance[] = [];
  let redis: Redis;

  async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  }

  /** The app on one database, booted like the server: migrations, then the store under its namespace. */
  async function boot(url: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: url,
      REDIS_URL: testRedisUrl,
      RATE_LIMIT_ENABLED: 'false',
      WORKERS_ENABLED: 'false',
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOGIN_DELAY_BASE_MS: '0',
      ...env,
    });
    const infrastructure = await openInfrastructure(config, createLogger({ level: 'silent' }));
    const app = await buildApp({ config, ...infrastructure });
    open.push(app);
    await app.platform.services.analytics.ensurePartitions();
    await app.ready();
    return app;
  }

  async function closeAll() {
    await Promise.all(open.splice(0).map((app) => app.close()));
  }

  async function search(app: FastifyInstance): Promise<Hit[]> {
    const response = await app.inject({ method: 'GET', url: '/api/v1/services/search' });
    expect(response.statusCode).toBe(200);
    return response.json().data;
  }

  /** What each hit's slots link answers on `app`: 404 when the hit came from another database. */
  async function slotsStatuses(app: FastifyInstance, hits: Hit[]): Promise<number[]> {
    const statuses = [];
    for (const hit of hits) {
      const url = `/api/v1/providers/${hit.provider.id}/slots?service_id=${hit.id}`;
      statuses.push((await app.inject({ method: 'GET', url })).statusCode);
    }
    return statuses;
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 })) keys.push(...batch);
    return keys;
  }

  let seeded: Deployment[] = [];

  beforeAll(async () => {
    redis = new Redis(testRedisUrl as string);
    await admin(async (client) => {
      for (const name of names) await client.query(`create database ${name}`);
    });
    for (const name of names) {
      const url = new URL(adminUrl as string);
      url.pathname = `/${name}`;
      urls.push(url.toString());
    }
    // Both databases seeded first, each with its own demo provider and services (new ids).
    seeded = [];
    for (const url of urls) {
      const app = await boot(url, { REDIS_KEY_PREFIX: sharedPrefix });
      seeded.push({ app, serviceId: (await seedDemoData(app)).serviceId });
    }
  });

  afterAll(async () => {
    await closeAll();
    if (redis) {
      for (const prefix of [sharedPrefix, ...prefixes]) {
        const keys = await keysUnder(prefix);
        if (keys.length) await redis.del(...keys);
      }
      redis.disconnect();
    }
    await admin(async (client) => {
      for (const name of names) await client.query(`drop database if exists ${name} with (force)`);
    });
  });

  it('shows the bug with one prefix for both: database B is answered from A’s cached search', async () => {
    const [a, b] = seeded as [Deployment, Deployment];
    const fromA = await search(a.app);
    expect(fromA.map((hit) => hit.id)).toContain(a.serviceId);
    const fromB = await search(b.app);
    expect(fromB).toEqual(fromA);
    expect(fromB.map((hit) => hit.id)).not.toContain(b.serviceId);
    expect(new Set(await slotsStatuses(b.app, fromB))).toEqual(new Set([404]));
    expect((await keysUnder(sharedPrefix)).some((key) => key.startsWith(`${sharedPrefix}catalog:search:`))).toBe(true);
    await closeAll();
  });

  it('by default names each namespace by its database’s deployment id: B answers its own search', async () => {
    const [a, b] = [await boot(urls[0] as string), await boot(urls[1] as string)];
    prefixes.push(await deploymentKeyPrefix(a.platform.db), await deploymentKeyPrefix(b.platform.db));
    const [prefixA, prefixB] = prefixes as [string, string];
    expect(prefixA).toMatch(/^care:[0-9a-f]{16}:$/);
    expect(prefixB).toMatch(/^care:[0-9a-f]{16}:$/);
    expect(prefixA).not.toBe(prefixB);

    const fromA = await search(a);
    expect(fromA.map((hit) => hit.id)).toContain(seeded[0]?.serviceId);
    const fromB = await search(b);
    expect(fromB.map((hit) => hit.id)).toContain(seeded[1]?.serviceId);
    expect(fromB.map((hit) => hit.id)).not.toContain(seeded[0]?.serviceId);
    expect(new Set(await slotsStatuses(b, fromB))).toEqual(new Set([200]));

    // Each deployment's keys, the cached search among them, lie under its own prefix only.
    for (const prefix of [prefixA, prefixB]) {
      const keys = await keysUnder(prefix);
      expect(keys.some((key) => key.startsWith(`${prefix}catalog:search:`))).toBe(true);
    }
    expect(await keysUnder(`${prefixA}${prefixB}`)).toEqual([]);
  });

  it('keeps pub/sub channels apart: a message published by A never reaches B', async () => {
    const [a, b] = open as [FastifyInstance, FastifyInstance];
    const heardByA: string[] = [];
    const heardByB: string[] = [];
    const stopA = await a.platform.kv.subscribe('namespace-probe', (message) => heardByA.push(message));
    const stopB = await b.platform.kv.subscribe('namespace-probe', (message) => heardByB.push(message));
    await a.platform.kv.publish('namespace-probe', 'from A');
    for (let i = 0; i < 100 && heardByA.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    // A hears its own message, so it was delivered; B, on another deployment, had the same time to hear it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heardByA).toEqual(['from A']);
    expect(heardByB).toEqual([]);
    await Promise.all([stopA(), stopB()]);
  });
});
