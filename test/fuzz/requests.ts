import fc from 'fast-check';
import {
  EXTRA_FIELD_NAMES,
  type Family,
  HOSTILE_PATH_SEGMENTS,
  hostileHeader,
  hostileJson,
  hostileQuery,
  randomBase64Cursor,
} from './mutations.js';
import type { JsonObject, JsonSchema, JsonValue, OpenApiParameter, Operation } from './openapi.js';
import { PATH_PARAM_POOLS, type PoolName, type Pools } from './pools.js';
import type { Role } from './roles.js';
import { arbitraryFor, branchFor, type SchemaContext } from './schema-arbitrary.js';

export type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: JsonValue }
  | { kind: 'raw'; payload: string; contentType: string };

/** A status the request must get, besides the guard's own 401/403 (which run before the body is read). */
export type Expectation = { status: number; why: string } | { status: 'client-error'; why: string };

export interface FuzzRequest {
  operation: Operation;
  role: Role;
  /** Each path parameter as its URL segment goes on the wire (encoded, or raw on purpose). */
  pathParams: Record<string, string>;
  query: QueryEntries;
  headers: Record<string, string>;
  body: BodySpec;
  /** What a mutated request changed; undefined for a valid one. */
  mutation?: string;
  expect?: Expectation;
  /** Send again with `If-None-Match` set to the first answer's ETag. */
  replayEtag?: boolean;
}

export interface GenerationEnv {
  context: SchemaContext;
  pools: Pools;
  /** The operation's last `meta.next_cursor`, to reuse and to tamper with. */
  realCursor?: string;
  bodyLimitBytes: number;
  /** Roles and their weights for this operation (allowed roles weigh more). */
  roles: [Role, number][];
  /** Mutations this operation already got: the next one of a family is a new one while any is left. */
  used: ReadonlySet<string>;
}

/** `encodeURIComponent`, except a lone surrogate goes out as its WTF-8 bytes instead of throwing. */
export function encodeComponent(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      out += `%${(0xe0 | (code >> 12)).toString(16).toUpperCase()}%${(0x80 | ((code >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (code & 0x3f)).toString(16).toUpperCase()}`;
    } else {
      out += encodeURIComponent(char);
    }
  }
  return out;
}

export function urlOf(request: FuzzRequest): string {
  const path = request.operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => request.pathParams[name] ?? '');
  const query = request.query.map(({ name, value }) => `${encodeComponent(name)}=${encodeComponent(value)}`).join('&');
  return query ? `${path}?${query}` : path;
}

/** How a generated JSON value goes into a query string (a list as a repeated key). */
function queryTexts(value: JsonValue): string[] {
  if (value === null) return [];
  if (Array.isArray(value)) return value.flatMap((item) => queryTexts(item));
  if (typeof value === 'object') return [JSON.stringify(value)];
  return [String(value)];
}

function pathParamArbitrary(operation: Operation, parameter: OpenApiParameter, pools: Pools): fc.Arbitrary<string> {
  const pool: PoolName | undefined = PATH_PARAM_POOLS[operation.path]?.[parameter.name];
  const values = pool ? pools[pool] : [];
  // An empty pool (or an unmapped parameter, which fails its own test) still gets requests.
  return values.length > 0 ? fc.constantFrom(...values).map(encodeComponent) : fc.uuid();
}

type QueryEntries = { name: string; value: string }[];

function queryParamArbitrary(parameter: OpenApiParameter, env: GenerationEnv): fc.Arbitrary<QueryEntries> {
  const fromSchema = arbitraryFor(parameter.schema, env.context, { field: parameter.name }).map(
    (value): QueryEntries => queryTexts(value).map((text) => ({ name: parameter.name, value: text })),
  );
  const realCursor: QueryEntries = env.realCursor ? [{ name: parameter.name, value: env.realCursor }] : [];
  const smallest: QueryEntries = [{ name: parameter.name, value: String(parameter.schema.minimum) }];
  let values = fromSchema;
  if (parameter.name === 'cursor' && env.realCursor) values = fc.oneof(fromSchema, fc.constant(realCursor));
  // The smallest page makes a `next_cursor` likely, which the cursor mutations then tamper with.
  if (parameter.name === 'limit' && parameter.schema.minimum !== undefined) {
    values = fc.oneof(fromSchema, fc.constant(smallest));
  }
  if (parameter.required) return values;
  const absent: QueryEntries = [];
  return fc.oneof({ weight: 1, arbitrary: values }, { weight: 1, arbitrary: fc.constant(absent) });
}

// Idempotency keys and the like: visible ASCII within the declared length.
function headerArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = Math.max(1, schema.minLength ?? 1);
  const maxLength = Math.min(schema.maxLength ?? 64, 64);
  return fc.stringMatching(new RegExp(`^[A-Za-z0-9-]{${minLength},${maxLength}}$`));
}

function roleArbitrary(roles: [Role, number][]): fc.Arbitrary<Role> {
  return fc.oneof(...roles.map(([role, weight]) => ({ weight, arbitrary: fc.constant(role) })));
}

/** A request whose every part is drawn from the operation's schemas and the real pools. */
export function validRequest(operation: Operation, env: GenerationEnv): fc.Arbitrary<FuzzRequest> {
  const pathParams: Record<string, fc.Arbitrary<string>> = {};
  for (const parameter of operation.pathParams) {
    pathParams[parameter.name] = pathParamArbitrary(operation, parameter, env.pools);
  }
  const query = fc
    .tuple(...operation.queryParams.map((parameter) => queryParamArbitrary(parameter, env)))
    .map((parts) => parts.flat());
  const headers: Record<string, fc.Arbitrary<string>> = {};
  for (const parameter of operation.headerParams) headers[parameter.name] = headerArbitrary(parameter.schema);
  const body: fc.Arbitrary<BodySpec> = operation.body
    ? arbitraryFor(operation.body, env.context).map((value) => ({ kind: 'json' as const, value }))
    : fc.constant({ kind: 'none' as const });
  return fc
    .record({
      role: roleArbitrary(env.roles),
      pathParams: fc.record(pathParams),
      query,
      headers: fc.record(headers, { requiredKeys: [] }),
      body,
    })
    .map((parts) => ({
      operation,
      ...parts,
      headers: Object.fromEntries(
        Object.entries(parts.headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    }));
}

type PathKey = string | number;

interface ValueLocation {
  path: PathKey[];
  schema: JsonSchema;
  present: boolean;
  required: boolean;
  /** No union on the way down: removing or adding a field cannot make another branch match. */
  plain: boolean;
}

interface ObjectLocation {
  path: PathKey[];
  schema: JsonSchema;
  plain: boolean;
}

const isObject = (value: JsonValue | undefined): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Every field of a generated body (present or not) and every object in it, with its schema. */
function bodyLocations(
  value: JsonValue,
  schema: JsonSchema,
  context: SchemaContext,
  at: { path: PathKey[]; plain: boolean; depth: number },
  out: { values: ValueLocation[]; objects: ObjectLocation[] },
): void {
  if (at.depth > 6) return;
  const resolved = context.resolve(schema);
  const union = Boolean(resolved.anyOf ?? resolved.oneOf);
  const branch = branchFor(resolved, value, context);
  const plain = at.plain && !union;
  if (isObject(value) && branch.properties) {
    out.objects.push({ path: at.path, schema: branch, plain });
    const required = new Set(branch.required ?? []);
    for (const [name, property] of Object.entries(branch.properties)) {
      const path = [...at.path, name];
      const present = name in value;
      out.values.push({ path, schema: property, present, required: required.has(name), plain });
      const child = value[name];
      if (present && child !== undefined) {
        bodyLocations(child, property, context, { path, plain, depth: at.depth + 1 }, out);
      }
    }
  } else if (Array.isArray(value) && branch.items && value.length > 0 && value[0] !== undefined) {
    const path = [...at.path, 0];
    out.values.push({ path, schema: branch.items, present: true, required: true, plain });
    bodyLocations(value[0], branch.items, context, { path, plain, depth: at.depth + 1 }, out);
  }
}

const ABSENT = Symbol('absent');

/** A copy of `root` with the value at `path` replaced (or removed, with ABSENT). */
function withValueAt(root: JsonValue, path: PathKey[], value: JsonValue | typeof ABSENT): JsonValue {
  const copy = structuredClone(root);
  if (path.length === 0) return value === ABSENT ? {} : value;
  let parent: JsonValue = copy;
  for (const key of path.slice(0, -1)) {
    const next: JsonValue | undefined = Array.isArray(parent)
      ? parent[Number(key)]
      : isObject(parent)
        ? parent[String(key)]
        : undefined;
    if (next === undefined) return copy;
    parent = next;
  }
  const last = path.at(-1) as PathKey;
  if (Array.isArray(parent)) {
    if (value === ABSENT) parent.splice(Number(last), 1);
    else parent[Number(last)] = value;
  } else if (isObject(parent)) {
    if (value === ABSENT) delete parent[String(last)];
    // `__proto__` must become an own, serialised key rather than set the prototype.
    else Object.defineProperty(parent, String(last), { value, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

const describePath = (part: string, path: PathKey[]) => [part, ...path].join('.');

/** One possible hostile change to a valid request, made only if it is the one drawn. */
interface Candidate {
  family: Family;
  /** The mutation's description; it also tells apart the candidates already sent. */
  label: string;
  make(): FuzzRequest;
}

// What each unknown field carries: the mass-assignment names get the values an attacker would send.
// A Map, because `__proto__` in an object literal would set the prototype instead of a key.
const EXTRA_FIELD_VALUES = new Map<string, JsonValue>([
  ['role', 'admin'],
  ['is_admin', true],
  ['plan', 'premium'],
  ['user_id', '0190f2c4-8a1b-7c3d-9e4f-5a6b7c8d9e0f'],
  ['id', '0190f2c4-8a1b-7c3d-9e4f-5a6b7c8d9e0f'],
  ['__proto__', { is_admin: true }],
]);

/** A candidate that changes `request` as `change` says, labelled for the report. */
const candidateOf =
  (request: FuzzRequest) =>
  (family: Family, label: string, change: () => Partial<FuzzRequest>): Candidate => ({
    family,
    label,
    make: () => ({ ...request, ...change(), mutation: label }),
  });

function bodyCandidates(request: FuzzRequest, env: GenerationEnv): Candidate[] {
  const schema = request.operation.body;
  if (!schema || request.body.kind !== 'json') return [];
  const body = request.body.value;
  const found = { values: [] as ValueLocation[], objects: [] as ObjectLocation[] };
  bodyLocations(body, schema, env.context, { path: [], plain: true, depth: 0 }, found);
  const candidate = candidateOf(request);
  const json = (value: JsonValue): BodySpec => ({ kind: 'json', value });
  const out: Candidate[] = [];
  for (const location of found.values) {
    const where = describePath('body', location.path);
    for (const hostile of hostileJson(location.schema, env.context)) {
      out.push(
        candidate(hostile.family, `${where}: ${hostile.label}`, () => ({
          body: json(withValueAt(body, location.path, hostile.value)),
        })),
      );
    }
    if (location.required && location.present) {
      // Only a named field of a union-free object is certainly required whatever else is sent.
      const certain = location.plain && typeof location.path.at(-1) === 'string';
      out.push(
        candidate('missing', `${where}: required field missing`, () => ({
          body: json(withValueAt(body, location.path, ABSENT)),
          expect: certain ? { status: 'client-error', why: 'a required field is missing' } : undefined,
        })),
      );
    }
  }
  for (const object of found.objects) {
    if (object.schema.additionalProperties !== false) continue;
    for (const name of EXTRA_FIELD_NAMES) {
      if (name in (object.schema.properties ?? {})) continue;
      const path = [...object.path, name];
      out.push(
        candidate('extra', `${describePath('body', path)}: unknown extra field`, () => ({
          body: json(withValueAt(body, path, EXTRA_FIELD_VALUES.get(name) ?? 'x')),
          expect: object.plain ? { status: 'client-error', why: 'an unknown field was accepted' } : undefined,
        })),
      );
    }
  }
  return out;
}

function wholeBodyCandidates(request: FuzzRequest, env: GenerationEnv): Candidate[] {
  const { operation } = request;
  if (!operation.body && operation.method !== 'POST') return [];
  const raw = (payload: string, contentType: string): BodySpec => ({ kind: 'raw', payload, contentType });
  const mustBeObject: Expectation | undefined = operation.body
    ? { status: 'client-error', why: 'the body must be an object' }
    : undefined;
  const variants: { label: string; body: () => BodySpec; expect?: Expectation }[] = [
    {
      label: 'invalid JSON text',
      body: () => raw('{"a": 1,', 'application/json'),
      expect: { status: 400, why: 'invalid JSON is a 400' },
    },
    { label: 'empty body with content-type application/json', body: () => raw('', 'application/json') },
    {
      label: 'a JSON array instead of an object',
      body: () => ({ kind: 'json', value: [1, 'two', { three: 3 }] }),
      expect: mustBeObject,
    },
    { label: 'a JSON number instead of an object', body: () => ({ kind: 'json', value: 42 }), expect: mustBeObject },
    {
      label: 'content-type text/plain',
      body: () => raw('hello', 'text/plain'),
      expect: { status: 415, why: 'only JSON is accepted' },
    },
    {
      label: `a body over the limit (more than ${env.bodyLimitBytes} bytes)`,
      body: () => raw(JSON.stringify({ padding: 'a'.repeat(env.bodyLimitBytes) }), 'application/json'),
      expect: { status: 413, why: 'the body is over bodyLimitBytes' },
    },
  ];
  const candidate = candidateOf(request);
  return variants.map((variant) =>
    candidate('whole body', `whole body: ${variant.label}`, () => ({ body: variant.body(), expect: variant.expect })),
  );
}

function parameterCandidates(
  request: FuzzRequest,
  env: GenerationEnv,
  random: { uuid: string; bytes: Uint8Array },
): Candidate[] {
  const { operation } = request;
  const candidate = candidateOf(request);
  const out: Candidate[] = [];
  for (const parameter of operation.pathParams) {
    const segments = [
      ...HOSTILE_PATH_SEGMENTS,
      { family: 'path' as const, label: 'a random uuid', value: random.uuid },
    ];
    for (const hostile of segments) {
      out.push(
        candidate(hostile.family, `path.${parameter.name}: ${hostile.label}`, () => ({
          pathParams: { ...request.pathParams, [parameter.name]: hostile.value },
        })),
      );
    }
  }
  const withoutQuery = (name: string) => request.query.filter((entry) => entry.name !== name);
  for (const parameter of operation.queryParams) {
    const values = hostileQuery(parameter.name, parameter.schema, env.context, env.realCursor);
    if (parameter.name === 'cursor') values.push(randomBase64Cursor(random.bytes));
    for (const hostile of values) {
      out.push(
        candidate(hostile.family, `query.${parameter.name}: ${hostile.label}`, () => ({
          query: [
            ...withoutQuery(parameter.name),
            ...[hostile.value].flat().map((value) => ({ name: parameter.name, value })),
          ],
        })),
      );
    }
    if (parameter.required) {
      out.push(
        candidate('missing', `query.${parameter.name}: required parameter missing`, () => ({
          query: withoutQuery(parameter.name),
        })),
      );
    }
  }
  out.push(
    candidate('extra', 'query: unknown extra parameter', () => ({
      query: [...request.query, { name: 'unexpected_param', value: '1' }],
    })),
  );
  for (const parameter of operation.headerParams) {
    for (const hostile of hostileHeader(parameter.schema)) {
      out.push(
        candidate(hostile.family, `header.${parameter.name}: ${hostile.label}`, () => ({
          headers: { ...request.headers, [parameter.name]: hostile.value },
        })),
      );
    }
  }
  if (operation.method === 'GET') {
    out.push(candidate('etag', 'If-None-Match replay of the ETag', () => ({ replayEtag: true })));
  }
  return out;
}

// Cursors are opaque text the server decodes itself: the likeliest place for a 500.
const FAMILY_WEIGHTS: Partial<Record<Family, number>> = { cursor: 2, 'tampered cursor': 2 };

/**
 * A valid request with exactly one part changed by a hostile mutation: first a family
 * (missing, mistyped, bounds, text, date, cursor, …), then a change of that family this
 * operation has not had yet (any, once all have been sent).
 */
export function mutatedRequest(operation: Operation, env: GenerationEnv): fc.Arbitrary<FuzzRequest> {
  return fc
    .tuple(validRequest(operation, env), fc.uuid(), fc.uint8Array({ minLength: 1, maxLength: 48 }))
    .chain(([request, uuid, bytes]) => {
      const candidates = [
        ...bodyCandidates(request, env),
        ...wholeBodyCandidates(request, env),
        ...parameterCandidates(request, env, { uuid, bytes }),
      ];
      const families = [...new Set(candidates.map((candidate) => candidate.family))];
      return fc
        .oneof(...families.map((family) => ({ weight: FAMILY_WEIGHTS[family] ?? 1, arbitrary: fc.constant(family) })))
        .chain((family) => {
          const ofFamily = candidates.filter((candidate) => candidate.family === family);
          const fresh = ofFamily.filter((candidate) => !env.used.has(candidate.label));
          return fc.constantFrom(...(fresh.length > 0 ? fresh : ofFamily));
        })
        .map((candidate) => candidate.make());
    });
}

/** Valid and mutated requests, mutated ones more often (they find more). */
export function requestArbitrary(operation: Operation, env: GenerationEnv): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 2, arbitrary: validRequest(operation, env) },
    { weight: 3, arbitrary: mutatedRequest(operation, env) },
  );
}
