import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createRequestLineWriter, type Logger } from '../infra/logger.js';
import type { Metrics, SeriesObserver } from '../infra/metrics.js';
import { reserveRouteConfigSlot, routeConfigOf } from './route-config.js';

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

// The time part changes once a millisecond: the ids made within one share its text (turning the
// time into base 36 cost more than the rest of the id).
let prefixMs = 0;
let prefix = 'req_0_';

/** Keeps a well-formed inbound `x-correlation-id`, else makes `req_<time>_<random>`. */
export function correlationIdFor(req: IncomingMessage): string {
  const inbound = req.headers['x-correlation-id'];
  if (typeof inbound === 'string' && INBOUND_ID.test(inbound)) return inbound;
  const now = Date.now();
  if (now !== prefixMs) {
    prefixMs = now;
    prefix = `req_${now.toString(36)}_`;
  }
  return prefix + randomHex12();
}

export const BASE_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};

const IN_FLIGHT = Symbol('inFlight');

/** `map`'s entry for `key`, made by `make` the first time. */
function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

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
    // Declared on every request from the start, so setting them does not change its shape.
    app.decorateRequest(IN_FLIGHT, false);
    reserveRouteConfigSlot(app);
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

    // One observer per (route pattern, method, status), found through maps keyed by the route's
    // own pattern string, the parser's method string and the status number: no key is built per
    // request. Route patterns, not URLs, keep this bounded.
    const durations = new Map<string, Map<string, Map<number, SeriesObserver>>>();
    const durationFor = (method: string, route: string, status: number): SeriesObserver => {
      const byMethod = entryOf(durations, route, () => new Map<string, Map<number, SeriesObserver>>());
      const byStatus = entryOf(byMethod, method, () => new Map<number, SeriesObserver>());
      return entryOf(byStatus, status, () => metrics.httpRequestDuration.labels(method, route, String(status)));
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
