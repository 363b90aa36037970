import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { ErrorRef, errorResponses } from '../../shared/http-schemas.js';
import { HealthReport, LiveReport, ReadyReport } from './health.schemas.js';
import type { HealthService } from './health.service.js';

const NO_STORE = 'no-store';

export const healthRoutes: FastifyPluginAsyncTypebox<{
  healthService: HealthService;
  mayViewDetails: (request: FastifyRequest) => boolean;
}> = async (app, { healthService, mayViewDetails }) => {
  app.get(
    '/health',
    {
      config: { rateLimit: 'probe', etag: false },
      schema: {
        operationId: 'health.getHealth',
        description:
          'Everyone gets `success` and the overall `status` (healthy, degraded or critical); admins and monitors sending the HEALTH_TOKEN also get each component (database, cache, …) with its own status. Answers 503 when a required dependency is down.',
        tags: ['health'],
        summary: 'Health status; components (database, cache, …) for admins and HEALTH_TOKEN monitors',
        // 503 is either the critical report or the overload envelope.
        response: {
          ...errorResponses(),
          200: HealthReport,
          503: Type.Union([HealthReport, ErrorRef], {
            description: 'A required dependency is down (the report), or SERVICE_UNAVAILABLE while overloaded',
          }),
        },
      },
    },
    async (request, reply) => {
      const report = await healthService.report();
      const body = mayViewDetails(request) ? report : { success: report.success, status: report.status };
      return reply
        .code(report.status === 'critical' ? 503 : 200)
        .header('cache-control', NO_STORE)
        .send(body);
    },
  );

  app.get(
    '/health/live',
    {
      config: { rateLimit: 'probe', etag: false, shedWhenOverloaded: false },
      // Probe bodies are a few bytes, far under the compression threshold, and GETs carry no
      // body to decompress: skip the compression plugin's three per-request hooks.
      compress: false,
      decompress: false,
      schema: {
        operationId: 'health.getLiveness',
        description:
          'For a process supervisor: 200 as long as the process answers. Restart the process when this fails.',
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: LiveReport, ...errorResponses() },
      },
    },
    // Synchronous: the probe a load balancer calls most often costs no promise.
    (_request, reply) => {
      reply.header('cache-control', NO_STORE).send({ success: true, status: 'alive' });
    },
  );

  app.get(
    '/health/ready',
    {
      config: { rateLimit: 'probe', etag: false, shedWhenOverloaded: false },
      compress: false,
      decompress: false,
      schema: {
        operationId: 'health.getReadiness',
        description:
          'For a load balancer: 200 `ready` while this instance should get traffic; 503 `not_ready` with a `reason` while it drains for shutdown, sheds load or has lost its database.',
        tags: ['health'],
        summary: 'Readiness: send traffic here (false while draining, overloaded or without a database)',
        response: {
          ...errorResponses(),
          200: ReadyReport,
          503: Type.Union([ReadyReport, ErrorRef], {
            description: 'Not ready: draining or a required dependency is down (the report), or SERVICE_UNAVAILABLE',
          }),
        },
      },
    },
    async (_request, reply) => {
      const readiness = await healthService.readiness();
      return reply
        .code(readiness.success ? 200 : 503)
        .header('cache-control', NO_STORE)
        .send(readiness);
    },
  );
};
