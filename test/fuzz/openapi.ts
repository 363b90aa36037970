/** The slice of OpenAPI 3.0 (and its JSON Schema dialect) the fuzz suite reads. */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  nullable?: boolean;
  enum?: JsonValue[];
  const?: JsonValue;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  minProperties?: number;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  default?: JsonValue;
  description?: string;
}

export interface OpenApiParameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface OpenApiMediaType {
  schema?: JsonSchema;
}

export interface OpenApiResponse {
  description?: string;
  content?: Record<string, OpenApiMediaType>;
}

export interface OpenApiOperation {
  operationId?: string;
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content: Record<string, OpenApiMediaType> };
  responses: Record<string, OpenApiResponse>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** One operation of the document, with its parts split out and `$ref`s at the top resolved. */
export interface Operation {
  /** `GET /api/v1/bookings/{id}`: how failures and counts name it. */
  key: string;
  method: HttpMethod;
  /** The OpenAPI path template, `{id}` style. */
  path: string;
  /** The Fastify route url, `:id` style (as in `app.guardedRoutes`). */
  routeUrl: string;
  /** The JSON pointer of the operation inside the document, for response validation. */
  pointer: string;
  spec: OpenApiOperation;
  pathParams: OpenApiParameter[];
  queryParams: OpenApiParameter[];
  headerParams: OpenApiParameter[];
  body?: JsonSchema;
}

/** `#/components/schemas/X` → the schema, followed until it is not a `$ref`. */
export function createResolver(doc: OpenApiDocument): (schema: JsonSchema) => JsonSchema {
  return (schema) => {
    let current = schema;
    for (let hops = 0; current.$ref !== undefined; hops += 1) {
      const name = /^#\/components\/schemas\/(.+)$/.exec(current.$ref)?.[1];
      const target = name === undefined ? undefined : doc.components?.schemas?.[name];
      if (!target || hops > 10) throw new Error(`cannot resolve $ref ${current.$ref}`);
      current = target;
    }
    return current;
  };
}

/** A JSON pointer segment (RFC 6901): `~` and `/` escaped. */
export const pointerSegment = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

export function listOperations(doc: OpenApiDocument): Operation[] {
  const resolve = createResolver(doc);
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [verb, spec] of Object.entries(item)) {
      const method = verb.toUpperCase() as HttpMethod;
      if (!METHODS.includes(method)) continue;
      const parameters = (spec.parameters ?? []).map((parameter) => ({
        ...parameter,
        schema: resolve(parameter.schema),
      }));
      const bodySchema = spec.requestBody?.content['application/json']?.schema;
      operations.push({
        key: `${method} ${path}`,
        method,
        path,
        routeUrl: path.replace(/\{(\w+)\}/g, ':$1'),
        pointer: `#/paths/${pointerSegment(path)}/${verb}`,
        spec,
        pathParams: parameters.filter((parameter) => parameter.in === 'path'),
        queryParams: parameters.filter((parameter) => parameter.in === 'query'),
        headerParams: parameters.filter((parameter) => parameter.in === 'header'),
        body: bodySchema ? resolve(bodySchema) : undefined,
      });
    }
  }
  return operations;
}
