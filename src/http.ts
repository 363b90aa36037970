import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyPluginCallback,
  LogController,
} from 'fastify';
import type { Config } from './config.js';
import type { KeyValueStore } from './infra/kv/kv.js';
import { type Logger, lazyChild } from './infra/logger.js';
import type { Metrics } from './infra/metrics.js';
import {
  type AccessChecks,
  accessGuardPlugin,
  authenticationPlugin,
  type SessionStateReader,
  type TokenVerifier,
} from './plugins/auth.js';
import { docsPlugin } from './plugins/docs.js';
import { errorHandlerPlugin, sendError, toAppError } from './plugins/error-handler.js';
import { etagPlugin } from './plugins/etag.js';
import { type ObservabilityOptions, observabilityPlugin } from './plugins/observability.js';
import { optionalBodyPlugin } from './plugins/optional-body.js';
import { overloadPlugin } from './plugins/overload.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { correlationIdFor, requestContextPlugin } from './plugins/request-context.js';
import { inputTextPlugin, requestValidators } from './plugins/request-validation.js';
import { responseSerializers } from './plugins/response-serializers.js';

/** The Fastify instance with the server-wide options; no routes, no plugins yet. */
export function createFastify(config: Config, logger: Logger): FastifyInstance {
  return Fastify({
    loggerInstance: logger,
    // One line per finished request is written by the request-context plugin instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlation_id' }),
    genReqId: correlationIdFor,
    childLoggerFactory: (parent, bindings) => lazyChild(parent as Logger, bindings),
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    // A hop count trusts that many proxies in front of us and no client-supplied entries.
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(config.trustProxy)
        : config.trustProxy,
    // While draining, requests on open connections are still served (readiness already says
    // 503 so the load balancer stops sending); closing never turns an accepted request away.
    return503OnClosing: false,
    // Errors Fastify raises before routing (e.g. a malformed URL) get the same envelope.
    frameworkErrors: (error, request, reply) => sendError(request, reply, toAppError(error)),
    routerOptions: { ignoreTrailingSlash: true },
    // Bodies checked as sent, query and path coerced from text; unknown fields refused.
    schemaController: {
      compilersFactory: { buildValidator: requestValidators(), buildSerializer: responseSerializers() },
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as FastifyInstance;
}

/**
 * The cross-cutting plugins, in the order their hooks must run: tracing and error reporting
 * (when configured), correlation id and request log, errors, input text, load shedding,
 * authentication (before the limiter, so budgets are per signed-in user), rate limits, request
 * inspection, the access guard, CORS, ETag, compression, docs.
 */
export async function registerPlugins(
  app: FastifyInstance,
  deps: {
    config: Config;
    kv: KeyValueStore;
    metrics: Metrics;
    logger: Logger;
    version: string;
    auth: { tokens: TokenVerifier; sessionState: SessionStateReader; access: AccessChecks };
    /** Request inspection (the security module's plugin), right after the rate limiter. */
    inspection?: { plugin: FastifyPluginCallback<never> | FastifyPluginAsync<never>; options: unknown };
    /** Tracing and error reporting (both off unless configured): first, so its span covers every later hook. */
    observability?: ObservabilityOptions;
  },
): Promise<void> {
  const { config, kv, metrics, logger } = deps;
  // JSON only: anything else is 415 UNSUPPORTED_MEDIA_TYPE.
  app.removeContentTypeParser('text/plain');
  if (deps.observability) await app.register(observabilityPlugin, deps.observability);
  await app.register(requestContextPlugin, { metrics });
  await app.register(errorHandlerPlugin);
  await app.register(inputTextPlugin);
  await app.register(optionalBodyPlugin);
  await app.register(overloadPlugin, { options: config.overload, metrics });
  await app.register(authenticationPlugin, { tokens: deps.auth.tokens, sessionState: deps.auth.sessionState });
  await app.register(rateLimitPlugin, {
    options: config.rateLimit,
    kv,
    metrics,
    logger,
    ipv6PrefixLength: config.security.ipv6PrefixLength,
  });
  if (deps.inspection) await app.register(deps.inspection.plugin, deps.inspection.options as never);
  await app.register(accessGuardPlugin, { access: deps.auth.access });
  // No allow-list, no CORS plugin: same-origin only, and no per-request cost.
  if (config.corsOrigins.length > 0)
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      // Credentials only ever go to an explicit allow-list, never to "*".
      credentials: !config.corsOrigins.includes('*'),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      exposedHeaders: [
        'x-correlation-id',
        'etag',
        'ratelimit-limit',
        'ratelimit-remaining',
        'ratelimit-reset',
        'retry-after',
      ],
      maxAge: 600,
    });
  await app.register(etagPlugin);
  await app.register(compress, {
    global: true,
    threshold: config.compressionThresholdBytes,
    encodings: ['br', 'gzip'],
    // Brotli's default quality 11 costs more CPU than it saves on API-sized bodies.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
  await app.register(docsPlugin, { version: deps.version, serve: config.docsEnabled });
  // Before any route, so an upgrade to a route without a WebSocket handler is refused.
  // Client messages on /api/v1/live are small (an access token at most): 16 KiB is plenty.
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 },
    // On shutdown every socket hears 1001 "going away" (reconnect, to another instance).
    preClose(done) {
      for (const socket of app.websocketServer.clients) socket.close(1001, 'server going away');
      app.websocketServer.close(() => done());
    },
  });
}
