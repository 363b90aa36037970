import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorResponse } from '../shared/http-schemas.js';

// Swagger UI ships inline styles and data: images; the relaxed policy applies to /docs only.
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/** OpenAPI 3 at /docs/json and Swagger UI at /docs, generated from the route schemas. */
export const docsPlugin = fp<{ version: string }>(
  async (app: FastifyInstance, { version }) => {
    app.addSchema(ErrorResponse);
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Care Platform API',
          description:
            'Wellness (cervical-health prevention) and Marketplace (self-care services) on one platform. ' +
            'Successful responses are `{ success: true, data, meta }`; failures are ' +
            '`{ success: false, message, code, correlation_id, details }`.',
          version,
        },
        tags: [
          { name: 'health', description: 'Liveness, readiness and dependency health' },
          { name: 'observability', description: 'Metrics for Prometheus' },
          { name: 'auth', description: 'Sign-up, sign-in, tokens, sessions, passwords' },
          { name: 'users', description: 'Your account' },
          { name: 'access', description: 'Plans, trial, entitlements and feature flags for you' },
          { name: 'admin', description: 'Administration (admins only)' },
        ],
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        },
      },
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    });
    await app.register(async (docs) => {
      docs.addHook('onRequest', async (_request, reply) => {
        reply.header('content-security-policy', DOCS_CSP);
      });
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        staticCSP: false,
        uiConfig: { deepLinking: true },
      });
    });
  },
  { name: 'docs' },
);
