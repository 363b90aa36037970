import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { etagOf, ifNoneMatchNames } from '../shared/etag.js';
import { routeConfigOf } from './route-config.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never send an ETag for this route (e.g. responses that must never be reused). */
    etag?: boolean;
  }
}

/**
 * A strong ETag over the serialised body of successful GETs, and 304 when the client's
 * `If-None-Match` names it. Registered before compression, so the tag is the same
 * whatever encoding the client asked for. A route that already knows its body's tag (a cached
 * answer kept with `etagOf` of its bytes) sets the `etag` header itself and saves the hashing.
 */
export const etagPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      if (
        (request.method !== 'GET' && request.method !== 'HEAD') ||
        reply.statusCode !== 200 ||
        routeConfigOf(request).etag === false ||
        (typeof payload !== 'string' && !Buffer.isBuffer(payload))
      ) {
        return done(null, payload);
      }
      const known = reply.getHeader('etag');
      const etag = typeof known === 'string' ? known : etagOf(payload);
      if (known === undefined) reply.header('etag', etag);
      if (ifNoneMatchNames(request.headers['if-none-match'], etag)) {
        reply.code(304);
        reply.removeHeader('content-length');
        reply.removeHeader('content-type');
        return done(null, '');
      }
      done(null, payload);
    });
  },
  { name: 'etag' },
);
