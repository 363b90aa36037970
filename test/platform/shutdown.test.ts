import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * Graceful shutdown of a real process (test/fixtures/slow-server.ts: start() plus
 * `GET /test/slow?ms=N`, with main()'s signal handling) over real HTTP on 127.0.0.1.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = 'test/fixtures/slow-server.ts';
// Idle, a boot takes ~3 s; on a busy 2-core machine with four booting at once, far longer.
const BOOT_TIMEOUT_MS = 90_000;

interface ServerProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line starting with `prefix` (seen before or after the call). */
  waitForLine(prefix: string, timeoutMs: number): Promise<string>;
}

const children = new Set<ChildProcess>();

function kill(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dataDirs: string[] = [];

/**
 * An embedded database directory of its own, unpacked from the run's migrated template
 * (test/global-setup.ts): the server opens it and finds every migration applied. On an empty
 * `memory://` database each boot ran initdb and every migration first, ≈ 10 s of CPU apiece.
 */
function migratedDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'care-shutdown-'));
  dataDirs.push(dir);
  execFileSync('tar', ['-xf', inject('pgliteTemplate'), '-C', dir], { stdio: 'ignore' });
  return dir;
}

/** Spawns the fixture on a migrated embedded database and resolves once it prints `LISTENING <url>`. */
async function spawnServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: migratedDataDir(),
    LOG_LEVEL: 'silent',
    RATE_LIMIT_ENABLED: 'false',
    SHUTDOWN_TIMEOUT_MS: '10000',
    SEED_DEMO_DATA: 'false',
    ...env,
  };
  // Always the embedded database and memory store, whatever the surrounding shell points at.
  delete childEnv.DATABASE_URL;
  delete childEnv.REDIS_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);

  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters) wake();
    });
  });

  const waitForLine = (prefix: string, timeoutMs: number) =>
    withTimeout(
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => l.startsWith(prefix));
          if (line !== undefined) {
            waiters.delete(check);
            resolve(line);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`server exited before printing "${prefix}"; stderr:\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
      timeoutMs,
      `waiting for "${prefix}" from the server`,
    );

  const listening = await waitForLine('LISTENING ', BOOT_TIMEOUT_MS);
  return { child, url: listening.slice('LISTENING '.length), exited, waitForLine };
}

function waitForExit(server: ServerProcess, timeoutMs: number) {
  return withTimeout(server.exited, timeoutMs, 'waiting for the server process to exit');
}

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One GET; a new connection each time unless an agent is given. */
function get(url: string, options: { agent?: http.Agent; timeoutMs?: number } = {}): Promise<HttpResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: options.agent ?? false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
      response.on('error', reject);
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A request the test awaits later: if the test fails first, its rejection is not left unhandled. */
function inFlight<T>(request: Promise<T>): Promise<T> {
  request.catch(() => {});
  return request;
}

/**
 * A GET on a fresh connection, reduced to what a load balancer sees: a status, a refused
 * connection, or one reset because it raced the listener closing (accepted, then dropped as
 * idle before its request was read). Never a hang: `get` gives up after 2 s.
 */
async function attempt(url: string): Promise<number | 'refused' | 'reset'> {
  try {
    return (await get(url, { timeoutMs: 2000 })).status;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') return 'refused';
    if (code === 'ECONNRESET') return 'reset';
    throw error;
  }
}

/**
 * Opens a connection and sends a request's headers except the final blank line: the request
 * has begun, so the server counts the connection as active (closing idle connections on
 * shutdown leaves it alone) but cannot answer yet. `finish()` completes it.
 */
async function beginRequest(url: string, path: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    2000,
    'connecting',
  );
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n`);
  return {
    socket,
    async finish(): Promise<{ status: number; body: string }> {
      socket.write('\r\n');
      await withTimeout(closed, 3000, `GET ${path}`);
      const [head = '', body = ''] = received.split('\r\n\r\n', 2);
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body };
    },
  };
}

describe('graceful shutdown of the server process', { timeout: BOOT_TIMEOUT_MS + 20_000 }, () => {
  // Booting one (PGlite in WASM, migrations) takes seconds; boot them all at once, not one by one.
  let servers: Record<'drain' | 'readiness' | 'timeout' | 'keepAlive', Promise<ServerProcess>>;
  const sockets: net.Socket[] = [];
  const agents: http.Agent[] = [];
  const used = new Set<ChildProcess>();
  const use = async (name: keyof typeof servers) => {
    const server = await servers[name];
    used.add(server.child);
    return server;
  };

  beforeAll(() => {
    servers = {
      drain: spawnServer(),
      readiness: spawnServer(),
      timeout: spawnServer({ SHUTDOWN_TIMEOUT_MS: '500' }),
      keepAlive: spawnServer({ SHUTDOWN_TIMEOUT_MS: '4000' }),
    };
    // A test awaits its own server; a failed boot is reported there, not as an unhandled rejection.
    for (const server of Object.values(servers)) server.catch(() => {});
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const agent of agents.splice(0)) agent.destroy();
    // The server a test used is gone after it, passed or not; the others keep running for theirs.
    for (const child of used) kill(child);
  });

  afterAll(async () => {
    for (const child of children) kill(child);
    await Promise.all(
      [...children].map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => child.once('exit', resolve))
          : undefined,
      ),
    );
    for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('finishes an in-flight request, refuses new connections, and exits 0', async () => {
    const server = await use('drain');
    const slow = inFlight(get(`${server.url}/test/slow?ms=1500`, { timeoutMs: 8000 }));
    await server.waitForLine('SLOW ', 5000);
    await sleep(200);

    server.child.kill('SIGTERM');
    await server.waitForLine('SHUTDOWN ', 3000);

    // A new connection once shutdown has begun never hangs: it is refused, or (racing the
    // listener closing) reset or answered 503; within 2 s the listener is closed: refused.
    expect([503, 'refused', 'reset']).toContain(await attempt(`${server.url}/api/health/ready`));
    let later = await attempt(`${server.url}/api/health`);
    for (let tries = 0; later !== 'refused' && tries < 20; tries++) {
      expect([503, 'reset']).toContain(later);
      await sleep(100);
      later = await attempt(`${server.url}/api/health`);
    }
    expect(later).toBe('refused');

    const response = await slow;
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ done: true });

    // Well inside SHUTDOWN_TIMEOUT_MS (10 s): the process drained, it was not cut off.
    expect(await waitForExit(server, 3000)).toEqual({ code: 0, signal: null });
  });

  it('answers readiness 503 on another connection while a request drains', async () => {
    const server = await use('readiness');
    // Deterministic: the probe's request begins before the signal and completes after
    // `SHUTDOWN`, when lifecycle.draining is already true, so our readiness route answers it
    // (requests on open connections are still served while draining). A fresh connection
    // would instead race the listener closing.
    const probe = await beginRequest(server.url, '/api/health/ready');
    sockets.push(probe.socket);
    const slow = inFlight(get(`${server.url}/test/slow?ms=1500`, { timeoutMs: 8000 }));
    await server.waitForLine('SLOW ', 5000);

    server.child.kill('SIGTERM');
    await server.waitForLine('SHUTDOWN ', 3000);

    const readiness = await probe.finish();
    expect(readiness.status).toBe(503);
    expect(JSON.parse(readiness.body)).toEqual({ success: false, status: 'not_ready', reason: 'shutting down' });

    expect((await slow).status).toBe(200);
    expect(await waitForExit(server, 3000)).toEqual({ code: 0, signal: null });
  });

  it('still exits when a request outlives SHUTDOWN_TIMEOUT_MS, cutting that request off', async () => {
    const server = await use('timeout');
    const slow = get(`${server.url}/test/slow?ms=5000`, { timeoutMs: 8000 }).then(
      (response) => response,
      (error: NodeJS.ErrnoException) => error,
    );
    await server.waitForLine('SLOW ', 5000);

    const signalledAt = performance.now();
    server.child.kill('SIGTERM');
    const exit = await waitForExit(server, 4000);
    expect(performance.now() - signalledAt).toBeLessThan(4000);
    // The timer closes the remaining connections and a request was cut off: exit code 1.
    expect(exit).toEqual({ code: 1, signal: null });

    const outcome = await slow;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  // Responses written while draining say `Connection: close`, so a keep-alive client (every
  // load balancer and proxy) does not hold shutdown until SHUTDOWN_TIMEOUT_MS.
  it('exits soon after the last keep-alive request is answered, not at SHUTDOWN_TIMEOUT_MS', async () => {
    const server = await use('keepAlive');
    const agent = new http.Agent({ keepAlive: true });
    agents.push(agent);
    const slow = inFlight(get(`${server.url}/test/slow?ms=1000`, { agent, timeoutMs: 8000 }));
    await server.waitForLine('SLOW ', 5000);

    server.child.kill('SIGTERM');
    expect((await slow).status).toBe(200);
    // SHUTDOWN_TIMEOUT_MS is 4000 and the answer came ~1 s after the signal.
    expect(await waitForExit(server, 1500)).toEqual({ code: 0, signal: null });
  });
});
