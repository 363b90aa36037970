/**
 * A small HTTP load balancer on 127.0.0.1 for the rolling-restart test, behaving like nginx in
 * front of the app (the compose file's) with the readiness checks of a Kubernetes Service:
 *
 * - round robin over the upstreams whose `GET /api/health/ready` answered 200 at the last poll
 *   (every `pollMs`, 100 ms by default); an upstream starts unready until its first good answer;
 * - one upstream connection per request, as nginx without `keepalive` (HTTP/1.0-style close);
 * - `proxy_next_upstream error`: a request whose connection failed before it was sent (refused,
 *   reset while connecting) goes to the next upstream whatever its method; one that was sent and
 *   got no response (reset, closed) goes to the next upstream only when its method is idempotent,
 *   since a POST may have been applied; 502 when no upstream is left to try.
 *
 * Every request body is buffered first (they are small here), so a retry can send it again.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export interface LoadBalancerStats {
  /** Requests answered by an upstream. */
  proxied: number;
  /** Attempts that failed and were passed to the next upstream. */
  retried: number;
  /** Requests answered 502 by the balancer itself (no upstream could take them). */
  badGateway: number;
}

export interface LoadBalancer {
  readonly url: string;
  readonly stats: LoadBalancerStats;
  /** Resolves once the balancer itself has seen `url` ready (a rolling update waits for this). */
  waitReady(url: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface UpstreamState {
  url: string;
  ready: boolean;
}

type Attempt = { kind: 'answered' } | { kind: 'failed'; sent: boolean };

/** GET /api/health/ready with a short timeout: 200 is ready, anything else (or nothing) is not. */
async function probe(url: string, agent: Agent): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/api/health/ready`, { agent, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forwardedHeaders(req: IncomingMessage, body: Buffer): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  headers['content-length'] = String(body.length);
  headers.connection = 'close';
  return headers;
}

/** One try at one upstream; streams the answer to the client once its headers arrive. */
function attempt(
  upstream: string,
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse,
  agent: Agent,
): Promise<Attempt> {
  return new Promise((resolve) => {
    let sent = false;
    const outgoing = httpRequest(
      `${upstream}${req.url ?? '/'}`,
      { method: req.method, headers: forwardedHeaders(req, body), agent },
      (answer) => {
        const headers = Object.fromEntries(
          Object.entries(answer.headers).filter(([name, value]) => value !== undefined && !HOP_BY_HOP.has(name)),
        ) as Record<string, string | string[]>;
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        // The upstream failing mid-answer cannot be retried: the client sees the cut.
        answer.on('error', () => res.destroy());
        answer.on('close', () => {
          if (!answer.complete) res.destroy();
        });
        resolve({ kind: 'answered' });
      },
    );
    outgoing.on('socket', (socket) => {
      if (!socket.connecting) sent = true;
      else socket.once('connect', () => (sent = true));
    });
    outgoing.on('error', () => resolve({ kind: 'failed', sent }));
    outgoing.end(body);
  });
}

export async function startLoadBalancer(options: { upstreams: string[]; pollMs?: number }): Promise<LoadBalancer> {
  const pollMs = options.pollMs ?? 100;
  const agent = new Agent({ keepAlive: false });
  const probeAgent = new Agent({ keepAlive: false });
  // Base URLs such as http://127.0.0.1:4001, each unready until its first good probe.
  const upstreams: UpstreamState[] = options.upstreams.map((url) => ({ url, ready: false }));
  let next = 0;
  const stats: LoadBalancerStats = { proxied: 0, retried: 0, badGateway: 0 };

  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const results = await Promise.all(upstreams.map((u) => probe(u.url, probeAgent)));
      upstreams.forEach((u, i) => {
        u.ready = results[i] as boolean;
      });
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), pollMs);

  /** Ready upstreams in round-robin order from the next one, then the unready as a last resort. */
  const candidates = (): string[] => {
    const ready = upstreams.filter((u) => u.ready).map((u) => u.url);
    const start = ready.length ? next++ % ready.length : 0;
    const ordered = [...ready.slice(start), ...ready.slice(0, start)];
    return [...ordered, ...upstreams.filter((u) => !u.ready).map((u) => u.url)];
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const idempotent = IDEMPOTENT.has(req.method ?? 'GET');
    const list = candidates();
    for (const [index, upstream] of list.entries()) {
      const result = await attempt(upstream, req, body, res, agent);
      if (result.kind === 'answered') {
        stats.proxied += 1;
        return;
      }
      const mayRetry = !result.sent || idempotent;
      if (!mayRetry || index === list.length - 1) break;
      stats.retried += 1;
    }
    stats.badGateway += 1;
    res.writeHead(502, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"success":false,"code":"BAD_GATEWAY","message":"no upstream answered"}');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    stats,
    async waitReady(upstream, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!upstreams.some((u) => u.url === upstream && u.ready)) {
        if (Date.now() > deadline) throw new Error(`load balancer never saw ${upstream} ready`);
        await new Promise((resolve) => setTimeout(resolve, pollMs / 2));
      }
    },
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      probeAgent.destroy();
    },
  };
}
