import { hash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { routeConfigOf } from './route-config.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never send an ETag for this route (e.g. responses that must never be reused). */
    etag?: boolean;
  }
}

function matches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}

/**
 * A strong ETag over the serialised body of successful GETs, and 304 when the client's
 * `If-None-Match` names it. Registered before compression, so the tag is the same
 * whatever encoding the client asked for.
 */
export const etagPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      if (
        (request.method !== 'GET' && request.method !== 'HEAD') ||
        reply.statusCode !== 200 ||
        routeConfigOf(request).etag === false ||
        reply.hasHeader('etag') ||
        (typeof payload !== 'string' && !Buffer.isBuffer(payload))
      ) {
        return done(null, payload);
      }
      // One-shot hashing: the same digest as createHash('sha1'), without a Hash object per response.
      const etag = `"${hash('sha1', payload, 'base64url')}"`;
      reply.header('etag', etag);
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch && matches(ifNoneMatch, etag)) {
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
