import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createRedisStore, parseRedisUrl } from '../../src/infra/kv/redis.js';
import { testRedisUrl } from '../helpers/app.js';

const run = promisify(execFile);
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const skipReason = !testRedisUrl
  ? ' (skipped: needs TEST_REDIS_URL, npm run test:services)'
  : !hasRedisServer
    ? ' (skipped: needs redis-server on PATH)'
    : '';

describe('REDIS_URL shapes', () => {
  it('passes redis:// and rediss:// to ioredis unchanged', () => {
    expect(parseRedisUrl('redis://:secret@cache:6380/2')).toEqual({
      kind: 'server',
      url: 'redis://:secret@cache:6380/2',
    });
    expect(parseRedisUrl('rediss://cache')).toEqual({ kind: 'server', url: 'rediss://cache' });
  });

  it('reads Sentinel: the sentinels, the master name, the master’s and the sentinels’ credentials, the db', () => {
    expect(
      parseRedisUrl('redis+sentinel://app:p%40ss@s1:26380,s2,[::1]:26381/mymaster?db=3&sentinelPassword=watch'),
    ).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      options: { username: 'app', password: 'p@ss', db: 3, sentinelPassword: 'watch' },
    });
  });

  it('reads Cluster: the seed nodes, the credentials, TLS for rediss+cluster', () => {
    expect(parseRedisUrl('redis+cluster://:pw@n1:7000,n2')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 6379 },
      ],
      options: { password: 'pw' },
    });
    expect(parseRedisUrl('rediss+cluster://n1:7000')).toMatchObject({ kind: 'cluster', options: { tls: {} } });
  });

  it('refuses what it cannot honour instead of ignoring it', () => {
    expect(() => parseRedisUrl('redis+sentinel://s1:26379')).toThrow(/master name/);
    expect(() => parseRedisUrl('redis+sentinel://s1/mymaster?sentinelPasword=x')).toThrow(/unknown parameter/);
    expect(() => parseRedisUrl('redis+cluster://n1/2')).toThrow(/one database/);
    expect(() => parseRedisUrl('redis+cluster://n1?db=2')).toThrow(/unknown parameter/);
    expect(() => parseRedisUrl('redis+cluster://n1:port')).toThrow(/host\[:port\]/);
    expect(() => parseRedisUrl('redis+sentinel://s1/mymaster?db=two')).toThrow(/database number/);
    expect(() => parseRedisUrl('redis+cluster://:p@ss@n1')).toThrow(/percent-encode/);
  });
});

/** A TCP port nobody listens on (and, with `plus`, the port `plus` above it too: a cluster node's bus). */
async function freePort(plus?: number): Promise<number> {
  const listen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await listen(port)) && (plus === undefined || (await listen(port + plus)))) return port;
  }
  throw new Error('no free port');
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function answers(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 5000 });
  return stdout;
}

function startRedis(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  child.on('error', () => {});
  return child;
}

async function stop(children: ChildProcess[]) {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** What every shape must do: counters through the Lua script, values, deletes, pub/sub between instances. */
async function exerciseStore(a: KeyValueStore, b: KeyValueStore) {
  // Forty keys spread over the hash slots (and so, on a cluster, over every node).
  const keys = Array.from({ length: 40 }, (_, i) => `rate:${i}`);
  for (const key of keys) await a.increment(key, 60_000);
  const second = await Promise.all(keys.map((key) => b.increment(key, 60_000, 2)));
  expect(second.map((r) => r.count)).toEqual(keys.map(() => 3));
  expect(second.every((r) => r.ttlMs > 0 && r.ttlMs <= 60_000)).toBe(true);

  await a.set('greeting', 'hello', 60_000);
  expect(await b.get('greeting')).toBe('hello');
  await b.delete('greeting');
  expect(await a.get('greeting')).toBeUndefined();

  const heard: string[] = [];
  const unsubscribe = await b.subscribe('flags', (message) => heard.push(message));
  await a.publish('flags', 'changed');
  await waitFor('the published message', async () => heard.length > 0, 5000);
  expect(heard).toEqual(['changed']);
  await unsubscribe();
  await a.ping();
}

describe.skipIf(skipReason !== '')(`Redis through Sentinel, across a failover${skipReason}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'care-sentinel-'));
  const prefix = `test:sentinel:${randomBytes(4).toString('hex')}:`;
  const children: ChildProcess[] = [];
  const stores: KeyValueStore[] = [];
  let [primary, replica, sentinel] = [0, 0, 0];
  const askSentinel = (...args: string[]) =>
    answers(sentinel, '-a', 'watch-secret', '--no-auth-warning', 'sentinel', ...args);
  /** The master's port, as the sentinel names it. */
  const masterPort = async () => Number((await askSentinel('get-master-addr-by-name', 'mymaster')).split('\n')[1]);

  beforeAll(async () => {
    [primary, replica, sentinel] = [await freePort(), await freePort(), await freePort()];
    const server = (port: number) => [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `dump-${port}.rdb`],
      ...['--save', '', '--appendonly', 'no'],
    ];
    children.push(
      startRedis(server(primary)),
      startRedis([...server(replica), '--replicaof', '127.0.0.1', `${primary}`]),
    );
    await waitFor('the replica in sync', async () =>
      (await answers(replica, 'info', 'replication')).includes('master_link_status:up'),
    );
    // One sentinel, quorum 1, that asks its own clients for a password.
    const config = [
      `port ${sentinel}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'requirepass watch-secret',
      `sentinel monitor mymaster 127.0.0.1 ${primary} 1`,
      'sentinel down-after-milliseconds mymaster 5000',
      'sentinel failover-timeout mymaster 10000',
    ];
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, `${config.join('\n')}\n`);
    children.push(startRedis([file, '--sentinel']));
    await waitFor('the sentinel to know the replica', async () =>
      (await askSentinel('replicas', 'mymaster')).includes(String(replica)),
    );
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await stop(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the master through the sentinel, and follows it when the sentinel fails over to the replica', async () => {
    const url = `redis+sentinel://127.0.0.1:${sentinel}/mymaster?sentinelPassword=watch-secret`;
    const [a, b] = [createRedisStore(url, { keyPrefix: prefix }), createRedisStore(url, { keyPrefix: prefix })];
    stores.push(a, b);
    await exerciseStore(a, b);
    expect(await answers(primary, 'get', `${prefix}rate:0`)).toBe('3\n');
    // Replication is asynchronous: on a loaded machine the replica may not hold the count yet, and
    // a failover before it does would promote a replica without it.
    await waitFor(
      'the replica to hold the count',
      async () => (await answers(replica, 'get', `${prefix}rate:0`)) === '3\n',
    );

    const heard: string[] = [];
    await b.subscribe('after-failover', (message) => heard.push(message));
    await askSentinel('failover', 'mymaster');
    // A manual failover is the sentinel's own work (promoting the replica); on a CI machine running
    // both suites it has taken more than 15 s.
    await waitFor('the sentinel to name the replica', async () => (await masterPort()) === replica, 40_000);
    // Writes reach the new master once the store has followed it (commands in between fail fast):
    // told by the sentinel, in about a second here; without being told, after 10 s or more.
    await waitFor(
      'a write on the new master',
      async () => {
        await a.set('after', 'written', 60_000);
        return (await answers(replica, 'get', `${prefix}after`)) === 'written\n';
      },
      8000,
    );
    expect((await a.increment('rate:0', 60_000)).count).toBe(4);
    await waitFor('a message after the failover', async () => {
      await a.publish('after-failover', 'still heard');
      return heard.length > 0;
    });
    expect(heard[0]).toBe('still heard');
  });
});

describe.skipIf(skipReason !== '')(`Redis Cluster of three masters${skipReason}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'care-cluster-'));
  const prefix = `test:cluster:${randomBytes(4).toString('hex')}:`;
  const children: ChildProcess[] = [];
  const stores: KeyValueStore[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    while (ports.length < 3) {
      const port = await freePort(10_000);
      if (!ports.includes(port)) ports.push(port);
    }
    for (const port of ports) {
      children.push(
        startRedis([
          ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
          ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)],
          ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        ]),
      );
    }
    for (const port of ports) await waitFor(`node ${port}`, async () => (await answers(port, 'ping')).includes('PONG'));
    await run(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    for (const port of ports) {
      await waitFor(`cluster_state:ok on ${port}`, async () =>
        (await answers(port, 'cluster', 'info')).includes('cluster_state:ok'),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await stop(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('works through any seed nodes: the Lua counter, values and pub/sub, keys spread over every node', async () => {
    const [first, second, third] = ports as [number, number, number];
    const a = createRedisStore(`redis+cluster://127.0.0.1:${first},127.0.0.1:${second}`, { keyPrefix: prefix });
    const b = createRedisStore(`redis+cluster://127.0.0.1:${third}`, { keyPrefix: prefix });
    stores.push(a, b);
    await exerciseStore(a, b);

    // Every node holds some of the counters, each under the prefix.
    for (const port of ports) {
      const keys = (await answers(port, '--scan')).split('\n').filter(Boolean);
      expect(keys.length, `keys on node ${port}`).toBeGreaterThan(0);
      expect(keys.every((key) => key.startsWith(`${prefix}rate:`))).toBe(true);
    }
  });
});
