import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import type { Metrics } from '../infra/metrics.js';
import { errorResponses } from '../shared/http-schemas.js';
import { bearerToken, sameSecret } from '../shared/secrets.js';

/** Prometheus text at /metrics; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`. */
export async function metricsRoute(app: FastifyInstance, { metrics, token }: { metrics: Metrics; token?: string }) {
  app.get(
    '/metrics',
    {
      // Monitoring must keep working exactly when the process is overloaded.
      config: { rateLimit: 'probe', etag: false, shedWhenOverloaded: false },
      schema: {
        operationId: 'metrics.getMetrics',
        tags: ['observability'],
        summary: 'Prometheus metrics',
        description:
          'Prometheus text exposition format. With METRICS_TOKEN set, send `Authorization: Bearer <token>`; in production the route exists only when it is set.',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...errorResponses('UNAUTHORIZED'),
        },
      },
    },
    async (request, reply) => {
      if (token) {
        if (!sameSecret(bearerToken(request.headers.authorization), token))
          throw new AppError('UNAUTHORIZED', 'A valid metrics bearer token is required');
      }
      const body = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(body);
    },
  );
}
