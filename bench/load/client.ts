/**
 * One virtual user's HTTP client, as a browser or an app behaves: one keep-alive connection,
 * `Accept-Encoding: br, gzip`, its access token once signed in, and an ETag cache that
 * revalidates GETs with `If-None-Match` (a 304 is an expected answer and reuses the cached body).
 * Each request waits a think time first and is timed from the moment it is written until its
 * body has been read; the sample goes to the recorder of the phase it was sent in.
 */
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Problem, Recorder } from './stats.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A step of a journey: its name in the report and the route it calls. */
export interface Step {
  name: string;
  method: Method;
  /** The route with its parameters named (`/api/v1/bookings/:id`), for the report. */
  route: string;
}

export interface Call {
  step: Step;
  /** The actual path with its query. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses the journey expects (a revalidated GET also expects 304). */
  expect: readonly number[];
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON (decompressed first), or undefined when empty or not JSON. */
  json<T>(): T;
}

/** The answer was not one the journey expects (already recorded): the iteration ends here. */
export class UnexpectedAnswer extends Error {
  override name = 'UnexpectedAnswer';
}

/** The run is over: the virtual user sends nothing more. */
export class Stopped extends Error {
  override name = 'Stopped';
}

export interface ClientOptions {
  host: string;
  port: number;
  journey: string;
  /** The recorder for a request sent now, or undefined when requests are not recorded (set-up). */
  recorderAt: (at: number) => Recorder | undefined;
  /** Milliseconds to wait before each request; 0 = none. */
  thinkMs: () => number;
  stopped: () => boolean;
  /** Revalidate cached GETs with If-None-Match. */
  etags: boolean;
  timeoutMs?: number;
}

const ETAG_CACHE_ENTRIES = 64;
const USER_AGENT = 'care-platform-load-test/1';

interface Cached {
  etag: string;
  body: Buffer;
  encoding: string | undefined;
}

function decode(body: Buffer, encoding: string | undefined): Buffer {
  if (body.length === 0) return body;
  if (encoding === 'br') return brotliDecompressSync(body);
  if (encoding === 'gzip') return gunzipSync(body);
  if (encoding === 'deflate') return inflateSync(body);
  return body;
}

function answerOf(status: number, headers: IncomingHttpHeaders, body: Buffer, encoding: string | undefined): Answer {
  let parsed: { value: unknown } | undefined;
  return {
    status,
    headers,
    json<T>() {
      if (!parsed) {
        const text = decode(body, encoding).toString('utf8');
        let value: unknown;
        try {
          value = text ? JSON.parse(text) : undefined;
        } catch {
          value = undefined;
        }
        parsed = { value };
      }
      return parsed.value as T;
    },
  };
}

/** An error answer in a few words: its code and message (never its correlation id, so alike answers group). */
function describeBody(raw: Raw): string {
  let body: { code?: unknown; message?: unknown } | undefined;
  try {
    body = JSON.parse(decode(raw.body, raw.headers['content-encoding']).toString('utf8'));
  } catch {
    body = undefined;
  }
  if (body && typeof body.code === 'string') return `${body.code}: ${String(body.message ?? '').slice(0, 200)}`;
  return raw.body.toString('utf8', 0, 200);
}

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class Client {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly cache = new Map<string, Cached>();
  /** `Bearer …` once signed in. */
  token: string | undefined;

  constructor(private readonly options: ClientOptions) {}

  /** Sends one request after a think time; throws UnexpectedAnswer (recorded) when the status is not expected. */
  async send(call: Call): Promise<Answer> {
    const think = this.options.thinkMs();
    if (think > 0) await sleep(think);
    if (this.options.stopped()) throw new Stopped();

    const cached = call.step.method === 'GET' && this.options.etags ? this.cache.get(call.path) : undefined;
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      'accept-encoding': 'br, gzip',
      ...(this.token ? { authorization: this.token } : {}),
      ...(cached ? { 'if-none-match': cached.etag } : {}),
      ...call.headers,
    };
    const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }

    const sentAt = performance.now();
    const recorder = this.options.recorderAt(sentAt);
    let raw: Raw;
    try {
      raw = await this.exchange(call, headers, payload);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      this.record(recorder, call, performance.now() - sentAt, 0, `network: ${code}`);
      throw new UnexpectedAnswer(`${routeLabel(call.step)}: no answer (${code})`);
    }
    const ms = performance.now() - sentAt;

    const expected = call.expect.includes(raw.status) || (cached !== undefined && raw.status === 304);
    this.record(recorder, call, ms, raw.status, expected ? undefined : `HTTP ${raw.status}`);
    if (!expected) throw new UnexpectedAnswer(`${routeLabel(call.step)}: ${raw.status} ${describeBody(raw)}`);

    const encoding = raw.headers['content-encoding'];
    if (raw.status === 304 && cached) return answerOf(200, raw.headers, cached.body, cached.encoding);
    const etag = raw.headers.etag;
    if (call.step.method === 'GET' && this.options.etags && etag && raw.status === 200)
      this.remember(call.path, etag, raw.body, encoding);
    return answerOf(raw.status, raw.headers, raw.body, encoding);
  }

  /** Marks an expected answer as wrong after all (its body failed the journey's check). */
  flag(step: Step, problem: Problem) {
    this.options.recorderAt(performance.now())?.flag(this.options.journey, step.name, routeLabel(step), problem);
  }

  finishedIteration() {
    this.options.recorderAt(performance.now())?.finishedIteration(this.options.journey);
  }

  close() {
    this.agent.destroy();
  }

  private record(recorder: Recorder | undefined, call: Call, ms: number, status: number, problem?: Problem) {
    recorder?.record({
      journey: this.options.journey,
      step: call.step.name,
      route: routeLabel(call.step),
      ms,
      status,
      ...(problem !== undefined ? { problem } : {}),
    });
  }

  private remember(path: string, etag: string, body: Buffer, encoding: string | undefined) {
    this.cache.delete(path);
    this.cache.set(path, { etag, body, encoding });
    if (this.cache.size > ETAG_CACHE_ENTRIES) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  private exchange(call: Call, headers: Record<string, string>, payload: Buffer | undefined): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: this.options.host,
          port: this.options.port,
          method: call.step.method,
          path: call.path,
          headers,
          agent: this.agent,
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.once('error', reject);
          incoming.once('end', () =>
            resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      outgoing.setTimeout(this.options.timeoutMs ?? 10_000, () => outgoing.destroy(new Error('timeout')));
      outgoing.once('error', reject);
      outgoing.end(payload);
    });
  }
}

export const routeLabel = (step: Step) => `${step.method} ${step.route}`;
