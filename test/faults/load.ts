/**
 * Steady load for the fault tests: `concurrency` clients, each sending one request after
 * another from a mix of reads and writes until stopped, over keep-alive connections (as browsers
 * and load balancers with `keepalive` do) unless told otherwise. Every request carries its own
 * `x-correlation-id`, so a client-side failure can be checked against the server's request log.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** A write whose 2xx answer must be found in the database afterwards. */
  write?: boolean;
}

export interface LoadResult {
  method: string;
  path: string;
  write: boolean;
  correlationId: string;
  startedAt: number;
  ms: number;
  status?: number;
  /** The parsed JSON body of the answer, when it had one. */
  body?: unknown;
  /** A network error instead of an answer (its code, e.g. ECONNREFUSED, or message). */
  error?: string;
  /** Whether the request went out on a connection an earlier request had used (keep-alive). */
  reusedSocket: boolean;
}

export interface Load {
  readonly results: LoadResult[];
  /** Stops starting new requests and waits for those in flight. */
  stop(): Promise<LoadResult[]>;
}

/** One request; never rejects: a network failure is part of the result. */
export function send(
  baseUrl: string,
  spec: LoadRequest,
  options: { agent?: Agent; timeoutMs?: number } = {},
): Promise<LoadResult> {
  const correlationId = `load-${randomUUID()}`;
  const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
  const startedAt = performance.now();
  return new Promise((resolve) => {
    let reusedSocket = false;
    const done = (fields: Partial<LoadResult>) =>
      resolve({
        method: spec.method,
        path: spec.path,
        write: spec.write ?? false,
        correlationId,
        startedAt,
        ms: performance.now() - startedAt,
        reusedSocket,
        ...fields,
      });
    const req = httpRequest(
      `${baseUrl}${spec.path}`,
      {
        method: spec.method,
        agent: options.agent,
        headers: {
          'x-correlation-id': correlationId,
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          ...spec.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          done({ status: res.statusCode, body });
        });
        res.on('error', (error) => done({ status: res.statusCode, error: `response: ${errorName(error)}` }));
      },
    );
    req.on('socket', () => {
      reusedSocket = req.reusedSocket;
    });
    if (options.timeoutMs) req.setTimeout(options.timeoutMs, () => req.destroy(new Error('client timeout')));
    req.on('error', (error) => done({ error: errorName(error) }));
    req.end(payload);
  });
}

function errorName(error: Error): string {
  return (error as { code?: string }).code ?? error.message;
}

/**
 * Starts the load: each client picks its next request with `next(client, n)` (its index and
 * how many it sent) and sends it against `baseUrl()` (read per request, so it may change).
 */
export function startLoad(options: {
  baseUrl: string | (() => string);
  concurrency: number;
  next: (client: number, n: number) => LoadRequest;
  keepAlive?: boolean;
  timeoutMs?: number;
  /** Pause between one client's requests, to hold a steady rate rather than saturate. */
  pauseMs?: number;
}): Load {
  const baseUrl = typeof options.baseUrl === 'string' ? () => options.baseUrl as string : options.baseUrl;
  const agent = new Agent({ keepAlive: options.keepAlive ?? true, maxSockets: options.concurrency });
  const results: LoadResult[] = [];
  let running = true;
  const client = async (index: number) => {
    for (let n = 0; running; n++) {
      results.push(await send(baseUrl(), options.next(index, n), { agent, timeoutMs: options.timeoutMs ?? 30_000 }));
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  };
  const clients = Array.from({ length: options.concurrency }, (_, index) => client(index));
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(clients);
      agent.destroy();
      return results;
    },
  };
}

/** Percentile `p` (0–100) of the values, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** "4,210" */
export const count = (n: number): string => n.toLocaleString('en-GB');
