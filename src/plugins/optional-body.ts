import type { FastifyInstance, preValidationHookHandler } from 'fastify';
import fp from 'fastify-plugin';

/** No body at all is read as `{}`. */
const emptyObjectWhenMissing: preValidationHookHandler = (request, _reply, done) => {
  if (request.body === undefined) request.body = {};
  done();
};

/**
 * A route whose body is a JSON object takes a request without a body as `{}`: where every field is
 * optional (`POST /bookings/:id/cancel`) a client need not send `{}` to say nothing, and defaults
 * fill in as usual; where a field is required (`DELETE /me` needs `password`) the answer names it
 * instead of "body must be object". A body that is sent is validated as it is (`null` is still not
 * an object). Added per route at registration, so other routes pay nothing.
 */
export const optionalBodyPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onRoute', (route) => {
      if ((route.schema?.body as { type?: unknown } | undefined)?.type !== 'object') return;
      const existing = route.preValidation === undefined ? [] : [route.preValidation].flat();
      route.preValidation = [emptyObjectWhenMissing, ...existing];
    });
  },
  { name: 'optional-body' },
);
