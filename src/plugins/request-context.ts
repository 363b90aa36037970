import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createRequestLineWriter, type Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { routeConfigOf } from './route-config.js';

const INBOUND_ID = /^[A-Za-z0-9._:-]{8,128}$/;

// randomBytes (and hex-encoding) per request costs more than the rest of the id: slice a
// pre-encoded pool instead, 12 hex characters (48 random bits) per id.
const POOL_HEX_CHARS = 12 * 1024;
let pool = randomBytes(POOL_HEX_CHARS / 2).toString('hex');
let poolOffset = 0;

function randomHex12(): string {
  if (poolOffset + 12 > POOL_HEX_CHARS) {
    pool = randomBytes(POOL_HEX_CHARS / 2).toString('hex');
    poolOffset = 0;
  }
  poolOffset += 12;
  return pool.slice(poolOffset - 12, poolOffset);
}

/** Keeps a well-formed inbound `x-correlation-id`, else makes `req_<time>_<random>`. */
export function correlationIdFor(req: IncomingMessage): string {
  const inbound = req.headers['x-correlation-id'];
  if (typeof inbound === 'string' && INBOUND_ID.test(inbound)) return inbound;
  return `req_${Date.now().toString(36)}_${randomHex12()}`;
}

export const BASE_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};

const IN_FLIGHT = Symbol('inFlight');

/**
 * Per-request plumbing in two cheap hooks: correlation id and security headers on the way in
 * (static headers set in a hook rather than @fastify/helmet, which halves throughput; only the
 * headers an API needs, since Node validates every header on every response), one log line
 * and the duration histogram on the way out.
 */
export const requestContextPlugin = fp<{ metrics: Metrics }>(
  async (app: FastifyInstance, { metrics }) => {
    const { inFlight } = metrics;
    const writeRequestLine = createRequestLineWriter(app.log as Logger);
    app.addHook('onRequest', (request, reply, done) => {
      reply.headers(BASE_HEADERS);
      reply.header('x-correlation-id', request.id);
      inFlight.count += 1;
      (request as unknown as Record<symbol, boolean>)[IN_FLIGHT] = true;
      done();
    });

    const leave = (request: object) => {
      const flags = request as Record<symbol, boolean>;
      if (flags[IN_FLIGHT]) {
        flags[IN_FLIGHT] = false;
        inFlight.count -= 1;
      }
    };

    // One labelled child per (method, route pattern, status): observing on it skips
    // prom-client's per-call label hashing. Route patterns, not URLs, keep this bounded.
    const durationByLabels = new Map<string, { observe(seconds: number): void }>();
    const durationFor = (method: string, route: string, status: number) => {
      const key = `${method} ${status} ${route}`;
      let child = durationByLabels.get(key);
      if (!child) {
        child = metrics.httpRequestDuration.labels(method, route, String(status));
        durationByLabels.set(key, child);
      }
      return child;
    };

    app.addHook('onResponse', (request, reply, done) => {
      leave(request);
      const route = routeConfigOf(request).url ?? 'unmatched';
      const duration = reply.elapsedTime;
      const status = reply.statusCode;
      durationFor(request.method, route, status).observe(duration / 1000);
      const query = request.url.indexOf('?');
      // Through the root logger's destination, with the id spelt out: no per-request child
      // logger is made for this line.
      writeRequestLine({
        correlation_id: request.id,
        method: request.method,
        route,
        path: query === -1 ? request.url : request.url.slice(0, query),
        status,
        duration_ms: Math.round(duration * 100) / 100,
      });
      done();
    });

    app.addHook('onRequestAbort', (request, done) => {
      leave(request);
      done();
    });
  },
  { name: 'request-context' },
);
