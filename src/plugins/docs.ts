import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { ErrorResponse, errorCodesOf, errorResponse } from '../shared/http-schemas.js';

// Swagger UI ships inline styles and data: images; the relaxed policy applies to /docs only.
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SUCCESS_DESCRIPTIONS: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: queued for processing',
  204: 'Done (no body)',
};
const NOT_MODIFIED = {
  type: 'null',
  description: 'Not modified: the ETag sent in If-None-Match still matches (no body)',
};

type RouteSchema = Record<string, unknown> & { response?: Record<string, unknown>; hide?: boolean };

const isErrorEnvelope = (schema: unknown) =>
  errorCodesOf(schema).length > 0 || (schema as { $ref?: unknown } | undefined)?.$ref === ErrorResponse.$id;

/** A request schema whose defaulted properties are optional for the client (the server fills them in). */
function optionalDefaults(schema: unknown): unknown {
  const object = schema as { properties?: Record<string, { default?: unknown }>; required?: string[] } | undefined;
  if (!object?.properties || !object.required) return schema;
  const properties = object.properties;
  return { ...object, required: object.required.filter((name) => properties[name]?.default === undefined) };
}

/**
 * What the document says of one route, beyond what the route declares: the statuses any
 * route of its kind answers (400 for input that fails its schema or a malformed path, 400
 * INVALID_JSON / 413 / 415 for a body, 304 for a GET with an ETag), each error status
 * described by its codes, and parameters with a default marked optional.
 */
function documentRoute(schema: RouteSchema, route: RouteOptions): RouteSchema {
  const methods = [route.method].flat();
  const response: Record<string, unknown> = { ...schema.response };
  for (const [status, description] of Object.entries(SUCCESS_DESCRIPTIONS)) {
    const success = response[status] as { description?: string } | undefined;
    if (success && !success.description) response[status] = { ...success, description };
  }
  const add = (codes: ErrorCode[]) => {
    for (const code of codes) {
      const status = ERROR_STATUS[code];
      const current = response[status];
      if (current !== undefined && !isErrorEnvelope(current)) continue;
      const known = errorCodesOf(current);
      if (!known.includes(code)) response[status] = errorResponse([...known, code]);
    }
  };
  if (schema.params || schema.querystring || schema.body || schema.headers) add(['VALIDATION_ERROR']);
  // Request inspection answers for any route it inspects: an attack-looking value, a blocked address.
  if (route.config?.inspection !== false) add(['REQUEST_REJECTED', 'IP_BLOCKED']);
  // A path segment that is not valid percent-encoding (`%ZZ`) is refused before routing.
  if (schema.params) add(['BAD_REQUEST']);
  if (methods.some((method) => BODY_METHODS.has(method))) {
    add(['INVALID_JSON', 'VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']);
  }
  if (methods.includes('GET') && route.config?.etag !== false && response[200] !== undefined) {
    response[304] = NOT_MODIFIED;
  }
  return {
    ...schema,
    response,
    ...(schema.querystring ? { querystring: optionalDefaults(schema.querystring) } : {}),
    ...(schema.body ? { body: optionalDefaults(schema.body) } : {}),
  };
}

/**
 * OpenAPI 3 at /docs/json and Swagger UI at /docs, generated from the route schemas. With
 * `serve` false (production's default: the document lists every admin route) the document is
 * still built for `app.swagger()` but nothing is served.
 */
export const docsPlugin = fp<{ version: string; serve: boolean }>(
  async (app: FastifyInstance, { version, serve }) => {
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
      transform: ({ schema, url, route }) => ({
        schema: schema && !(schema as RouteSchema).hide ? documentRoute(schema as RouteSchema, route) : schema,
        url,
      }),
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    });
    if (!serve) return;
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
