import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify';

const ROUTE_CONFIG = Symbol('routeConfig');

export type RouteConfig = FastifyContextConfig & { url?: string; method?: string };

/**
 * The matched route's `config` (with its `url` pattern), read once per request. Fastify's
 * `request.routeOptions` builds a new object on every read, and half a dozen hooks read it
 * on every request; this keeps the first answer on the request.
 */
export function routeConfigOf(request: FastifyRequest): RouteConfig {
  const slot = request as unknown as Record<symbol, RouteConfig | null | undefined>;
  let config = slot[ROUTE_CONFIG];
  if (!config) {
    config = (request.routeOptions.config ?? {}) as RouteConfig;
    slot[ROUTE_CONFIG] = config;
  }
  return config;
}

/** Declares the slot on every request from the start (a request decorator), so filling it does not change the request's shape. */
export function reserveRouteConfigSlot(app: FastifyInstance): void {
  app.decorateRequest(ROUTE_CONFIG, null);
}
