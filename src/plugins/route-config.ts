import type { FastifyContextConfig, FastifyRequest } from 'fastify';

const ROUTE_CONFIG = Symbol('routeConfig');

export type RouteConfig = FastifyContextConfig & { url?: string; method?: string };

/**
 * The matched route's `config` (with its `url` pattern), read once per request. Fastify's
 * `request.routeOptions` builds a new object on every read, and half a dozen hooks read it
 * on every request; this keeps the first answer on the request.
 */
export function routeConfigOf(request: FastifyRequest): RouteConfig {
  const slot = request as unknown as Record<symbol, RouteConfig | undefined>;
  let config = slot[ROUTE_CONFIG];
  if (config === undefined) {
    config = (request.routeOptions.config ?? {}) as RouteConfig;
    slot[ROUTE_CONFIG] = config;
  }
  return config;
}
