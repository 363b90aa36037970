import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { AccessRule } from '../shared/access-rules.js';
import { ErrorRef, ErrorResponse, errorCodesOf, errorResponse } from '../shared/http-schemas.js';
import { PERMISSIONS } from '../shared/permissions.js';

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

/** Every tag an operation may carry, in the order a reader meets them; a test checks none is missing. */
const TAGS = [
  { name: 'auth', description: 'Sign-up, sign-in, token refresh, sessions and passwords' },
  { name: 'users', description: 'Your account: name, phone, locale, time zone' },
  { name: 'profile', description: 'Your lifestyle profile (never medical data), the input of your plans' },
  { name: 'recommendations', description: 'Your diet plan, protection plan and (Premium) insights' },
  { name: 'content', description: 'Published articles, tips and plan blocks; some need Premium' },
  { name: 'reminders', description: 'Your reminders (WhatsApp, SMS, email, push) and their schedule' },
  { name: 'notifications', description: 'Your channels, quiet hours and push devices' },
  { name: 'consent', description: 'Granular consent per purpose, its history and the notices you agree to' },
  { name: 'privacy', description: 'Your GDPR rights: export and erasure' },
  { name: 'access', description: 'Plans, trial, entitlements and feature flags for you' },
  { name: 'me', description: 'Your Premium subscription' },
  { name: 'support', description: 'Questions to the team' },
  { name: 'catalog', description: 'Categories, service search and public provider profiles' },
  { name: 'bookings', description: 'Schedules, free slots, bookings, chat and reviews' },
  { name: 'payments', description: 'Payments of bookings and their refunds' },
  { name: 'provider', description: 'For providers: your profile, services and earnings' },
  { name: 'media', description: 'Image uploads, resized and served for a CDN to keep' },
  {
    name: 'calendar',
    description: 'Your bookings in your calendar app: iCalendar files and a secret, rotatable feed address',
  },
  { name: 'live', description: 'Live updates over a WebSocket' },
  { name: 'analytics', description: 'Privacy-safe product events, and reports for admins' },
  { name: 'webhooks', description: 'Events from payment gateways and messaging providers (signed by them)' },
  { name: 'security', description: 'Threat detection events and address blocks' },
  { name: 'admin', description: 'Administration (admins only)' },
  { name: 'health', description: 'Liveness, readiness and dependency health' },
  { name: 'observability', description: 'Metrics for Prometheus' },
];

/** Response headers the document names by reference (`#/components/headers/…`). */
const HEADERS = {
  'X-Correlation-Id': {
    description: 'The id of this request in our logs (also `correlation_id` in an error body); quote it to support',
    schema: { type: 'string', maxLength: 100 },
  },
  'RateLimit-Limit': {
    description: 'Requests allowed in the current window for your budget (per user when signed in, else per address)',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Remaining': {
    description: 'Requests left in the current window',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the window starts again',
    schema: { type: 'integer', minimum: 0 },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again',
    schema: { type: 'integer', minimum: 0 },
  },
  ETag: {
    // If-None-Match is not a documented parameter: no route validates it, and a parameter implies a 400.
    description:
      'A strong tag of this body: send it back as `If-None-Match` to get 304 with no body while nothing changed',
    schema: { type: 'string', maxLength: 200 },
  },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored first answer to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
} as const;

/** What the document transform adds to an operation, found by the route transform from the route's config. */
interface HeaderFacts {
  rateLimited: boolean;
  etag: boolean;
}
const FACTS = 'x-care-headers';

type RouteSchema = Record<string, unknown> & { response?: Record<string, unknown>; hide?: boolean };
type Json = Record<string, unknown>;

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
 * The error envelope of one status with its `code` narrowed to the codes the route answers
 * there, so a generated client can switch on them; the description still lists them for readers.
 */
const errorEnvelope = (codes: readonly ErrorCode[]) => ({
  description: `Error: ${codes.join(' | ')} (the body's \`code\`)`,
  allOf: [ErrorRef, { type: 'object', required: ['code'], properties: { code: { type: 'string', enum: [...codes] } } }],
});

/** Who may call a route, in words, from its access rule (the guard in plugins/auth.ts enforces it). */
function whoMayCall(rule: AccessRule | undefined): string {
  if (!rule) return 'Who may call: anyone, no access token needed.';
  const parts: string[] = [];
  if (rule.roles) parts.push(`the role ${rule.roles.join(' or ')}`);
  if (rule.permission) {
    parts.push(`the \`${rule.permission}\` permission (role ${PERMISSIONS[rule.permission].join(' or ')})`);
  }
  if (rule.premium) parts.push('Premium or an active trial (else 403 PREMIUM_REQUIRED)');
  if (rule.feature) parts.push(`the feature flag \`${rule.feature}\` on for you (else 404 FEATURE_DISABLED)`);
  const needs = parts.length > 0 ? `, with ${parts.join(' and ')}` : '';
  return `Who may call: a signed-in caller (\`Authorization: Bearer <access token>\`)${needs}.`;
}

/**
 * What the document says of one route, beyond what the route declares: the statuses any
 * route of its kind answers (400 for input that fails its schema or a malformed path, 400
 * INVALID_JSON / 413 / 415 for a body, 304 for a GET with an ETag), each error status with
 * its codes as an enum, who may call it, and parameters with a default marked optional.
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
  const etag = methods.includes('GET') && route.config?.etag !== false && response[200] !== undefined;
  if (etag) response[304] = NOT_MODIFIED;
  for (const [status, current] of Object.entries(response)) {
    const codes = errorCodesOf(current);
    if (codes.length > 0) response[status] = errorEnvelope(codes);
  }
  const facts: HeaderFacts = { rateLimited: route.config?.rateLimit !== false, etag };
  return {
    ...schema,
    description: [schema.description, whoMayCall(route.config?.access)].filter(Boolean).join('\n\n'),
    response,
    [FACTS]: facts,
    ...(schema.querystring ? { querystring: optionalDefaults(schema.querystring) } : {}),
    ...(schema.body ? { body: optionalDefaults(schema.body) } : {}),
    ...(!schema.body && isMultipart(schema) ? { body: MULTIPART_FILE } : {}),
  };
}

/** An upload route parses its own multipart body (no schema to validate): the document still names it. */
const isMultipart = (schema: RouteSchema) =>
  Array.isArray(schema.consumes) && schema.consumes.includes('multipart/form-data');
const MULTIPART_FILE = {
  type: 'object',
  required: ['file'],
  properties: { file: { type: 'string', format: 'binary', description: 'the image (one file part)' } },
};

// Keywords whose values are schemas (or maps or lists of schemas); every other value is data.
const SCHEMA_KEYWORDS = new Set(['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains']);
const SCHEMA_LISTS = new Set(['anyOf', 'oneOf', 'allOf', 'prefixItems']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs']);
// Keywords that describe a schema without constraining it: safe to carry over when branches merge.
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', 'example', 'deprecated']);

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const onlyAnnotationsBesides = (schema: Json, keys: string[]) =>
  Object.keys(schema).every((key) => keys.includes(key) || ANNOTATIONS.has(key));

/** The values a branch allows when it is nothing but a list of values (`enum`, `const`, `type: 'null'`). */
function valuesOf(branch: Json): unknown[] | undefined {
  if (branch.type === 'null' && onlyAnnotationsBesides(branch, ['type'])) return [null];
  if (Array.isArray(branch.enum) && onlyAnnotationsBesides(branch, ['type', 'enum'])) return branch.enum;
  if ('const' in branch && onlyAnnotationsBesides(branch, ['type', 'const'])) return [branch.const];
  return undefined;
}

const jsonTypeOf = (value: unknown): string =>
  value === null ? 'null' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;

/** Annotations of the branches the parent does not state itself (a branch's description of its values). */
const annotationsOf = (parent: Json, branches: Json[]): Json =>
  Object.fromEntries(
    branches.flatMap((branch) => Object.entries(branch)).filter(([key]) => ANNOTATIONS.has(key) && !(key in parent)),
  );

/**
 * One union, the OpenAPI 3.1 way: a union of single values (TypeBox's `Union` of `Literal`s,
 * maybe with `Null`) becomes one `enum` of one type, `null` listed when allowed; `[T, null]`
 * for a plain T becomes `type: [T, 'null']`. Anything else stays a union.
 */
function mergeUnion(schema: Json, keyword: 'anyOf' | 'oneOf'): Json {
  const branches = schema[keyword] as Json[];
  const { [keyword]: _union, ...parent } = schema;
  const values = branches.map(valuesOf);
  if (values.every((list) => list !== undefined)) {
    const all = values.flat();
    const types = new Set(all.map(jsonTypeOf));
    const nullable = types.delete('null');
    // Integers and fractions together are numbers; any other mix of types stays a union.
    if (types.size === 2 && types.has('integer') && types.has('number')) types.delete('integer');
    const [type] = [...types];
    if (types.size === 1 && type) {
      return {
        ...parent,
        ...annotationsOf(parent, branches),
        type: nullable ? [type, 'null'] : type,
        enum: [...new Set(all)],
      };
    }
  }
  const isNull = (branch: Json) => valuesOf(branch)?.length === 1 && valuesOf(branch)?.[0] === null;
  const nullable = branches.filter(isNull);
  const [plain, ...others] = branches.filter((branch) => !isNull(branch));
  if (nullable.length === 0 || others.length > 0 || !plain || typeof plain.type !== 'string') return schema;
  // Merging is safe only when the branch restates nothing of the parent and is not itself a union.
  const clash = Object.keys(plain).some((key) => (key in parent && !ANNOTATIONS.has(key)) || SCHEMA_LISTS.has(key));
  if (clash) return schema;
  const merged: Json = { ...plain, ...parent, type: [plain.type, 'null'] };
  if (Array.isArray(plain.enum)) merged.enum = [...plain.enum, null];
  return merged;
}

/** A schema in OpenAPI 3.1 form, its sub-schemas first. */
function simplifySchema(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SCHEMA_KEYWORDS.has(key)) out[key] = simplifySchema(value);
    else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) out[key] = value.map(simplifySchema);
    else if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, simplifySchema(sub)]));
    } else out[key] = value;
  }
  let result = out;
  for (const keyword of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(result[keyword])) result = mergeUnion(result, keyword);
  }
  return result;
}

const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** The response headers of one operation: correlation id always, rate limits where they apply. */
function documentHeaders(operation: Json, facts: HeaderFacts | undefined): void {
  const responses = (operation.responses ?? {}) as Record<string, Json>;
  const replays = ((operation.parameters ?? []) as Json[]).some(
    (parameter) => String(parameter.name).toLowerCase() === 'idempotency-key',
  );
  for (const [status, response] of Object.entries(responses)) {
    const headers: Json = {
      ...(response.headers as Json | undefined),
      'X-Correlation-Id': headerRef('X-Correlation-Id'),
    };
    if (facts?.rateLimited) {
      for (const name of ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const) {
        headers[name] = headerRef(name);
      }
      if (status === '429') headers['Retry-After'] = headerRef('Retry-After');
    }
    if (facts?.etag && (status === '200' || status === '304')) headers.ETag = headerRef('ETag');
    if (replays && status.startsWith('2')) headers['Idempotent-Replayed'] = headerRef('Idempotent-Replayed');
    response.headers = headers;
  }
}

/** Each operation of each path, as the document holds them. */
const operationsOf = (document: Json): Json[] =>
  Object.values((document.paths ?? {}) as Record<string, Json>).flatMap((item) =>
    Object.values(item).filter((operation): operation is Json => isObject(operation) && 'responses' in operation),
  );

/** Every schema of an operation: parameters, request body and responses per media type. */
function simplifyOperation(operation: Json): void {
  for (const parameter of (operation.parameters ?? []) as Json[]) parameter.schema = simplifySchema(parameter.schema);
  const media = [
    ...Object.values(((operation.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>),
    ...Object.values((operation.responses ?? {}) as Record<string, Json>).flatMap((response) =>
      Object.values((response.content ?? {}) as Record<string, Json>),
    ),
  ];
  for (const type of media) type.schema = simplifySchema(type.schema);
}

/** The whole document, once built: unions in their 3.1 form everywhere, and the response headers. */
function finishDocument({ openapiObject }: { openapiObject: Json }): Json {
  const components = (openapiObject.components ?? {}) as Json;
  const schemas = (components.schemas ?? {}) as Json;
  openapiObject.components = {
    ...components,
    schemas: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, simplifySchema(schema)])),
    headers: HEADERS,
  };
  for (const operation of operationsOf(openapiObject)) {
    simplifyOperation(operation);
    documentHeaders(operation, operation[FACTS] as HeaderFacts | undefined);
    delete operation[FACTS];
  }
  return openapiObject;
}

/**
 * OpenAPI 3.1 at /docs/json and Swagger UI at /docs, generated from the route schemas. With
 * `serve` false (production's default: the document lists every admin route) the document is
 * still built for `app.swagger()` but nothing is served.
 */
export const docsPlugin = fp<{ version: string; serve: boolean }>(
  async (app: FastifyInstance, { version, serve }) => {
    app.addSchema(ErrorResponse);
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Care Platform API',
          description:
            'Wellness (cervical-health prevention) and Marketplace (self-care services) on one platform. ' +
            'Successful responses are `{ success: true, data, meta }`; failures are ' +
            '`{ success: false, message, code, correlation_id, details }`.',
          version,
        },
        tags: TAGS,
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        },
      },
      transform: ({ schema, url, route }) => ({
        schema: schema && !(schema as RouteSchema).hide ? documentRoute(schema as RouteSchema, route) : schema,
        url,
      }),
      // The OpenAPI form is the only one built (`openapi` above); its types are the plugin's, the walk is generic.
      transformObject: (documentObject) => finishDocument(documentObject as { openapiObject: Json }) as never,
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
