import fc from 'fast-check';
import type { JsonObject, JsonSchema, JsonValue } from './openapi.js';

/**
 * JSON Schema (the OpenAPI 3.0 dialect Fastify's swagger emits) → fast-check arbitraries of
 * values the schema accepts. Written here rather than taken from a library so that it follows
 * exactly the keywords our document uses, and so that fields can draw real ids from the
 * seeded database (a random uuid for `service_id` only ever reaches the 404 branch).
 */
export interface SchemaContext {
  resolve(schema: JsonSchema): JsonSchema;
  /** Real values for a field of this name (e.g. `service_id` → service ids), when known. */
  valuesFor?(field: string): readonly string[] | undefined;
}

// Open-ended lengths and counts are capped: long values are the mutations' job.
const OPEN_STRING_LENGTH = 24;
const OPEN_ARRAY_LENGTH = 4;
const MAX_DEPTH = 8;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

const asciiText = (minLength: number, maxLength: number) => fc.string({ minLength, maxLength, unit: 'grapheme-ascii' });
// Single code points (astral ones included), so a length counts as ajv counts it.
const unicodeText = (minLength: number, maxLength: number) => fc.string({ minLength, maxLength, unit: 'binary' });

/** The JSON type names a value has (an integer is also a number). */
export function jsonTypesOf(value: JsonValue): string[] {
  if (value === null) return ['null'];
  if (Array.isArray(value)) return ['array'];
  if (typeof value === 'number') return Number.isInteger(value) ? ['integer', 'number'] : ['number'];
  return [typeof value];
}

/**
 * The types a schema admits, looking through `anyOf`/`oneOf`/`enum` (used to pick mutations).
 * `integer` stays apart from `number`, so integer-only fields can be told apart.
 */
export function schemaTypes(schema: JsonSchema, context: SchemaContext): Set<string> {
  const resolved = context.resolve(schema);
  const types = new Set<string>();
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (branches) for (const branch of branches) for (const type of schemaTypes(branch, context)) types.add(type);
  if (resolved.allOf) for (const part of resolved.allOf) for (const type of schemaTypes(part, context)) types.add(type);
  if (resolved.type !== undefined) for (const type of [resolved.type].flat()) types.add(type);
  if (resolved.enum) for (const value of resolved.enum) for (const type of jsonTypesOf(value)) types.add(type);
  if (resolved.const !== undefined) for (const type of jsonTypesOf(resolved.const)) types.add(type);
  if (resolved.properties && resolved.type === undefined) types.add('object');
  if (resolved.nullable) types.add('null');
  return types;
}

/** The `anyOf`/`oneOf` branch a generated value came from (the first whose type fits it). */
export function branchFor(schema: JsonSchema, value: JsonValue, context: SchemaContext): JsonSchema {
  const resolved = context.resolve(schema);
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (!branches) return resolved;
  const types = jsonTypesOf(value);
  const fitting = branches.find((branch) => [...schemaTypes(branch, context)].some((type) => types.includes(type)));
  return branchFor(fitting ?? branches[0] ?? {}, value, context);
}

/** `allOf` folded into one schema (properties and required lists merged). */
function mergeAllOf(schema: JsonSchema, context: SchemaContext): JsonSchema {
  const { allOf, ...rest } = schema;
  let merged: JsonSchema = rest;
  for (const part of allOf ?? []) {
    const resolved = context.resolve(part);
    merged = {
      ...merged,
      ...resolved,
      properties: { ...merged.properties, ...resolved.properties },
      required: [...(merged.required ?? []), ...(resolved.required ?? [])],
    };
  }
  return merged;
}

function lowerBound(schema: JsonSchema, step: number): number | undefined {
  if (typeof schema.exclusiveMinimum === 'number') return schema.exclusiveMinimum + step;
  if (schema.minimum === undefined) return undefined;
  return schema.exclusiveMinimum === true ? schema.minimum + step : schema.minimum;
}

function upperBound(schema: JsonSchema, step: number): number | undefined {
  if (typeof schema.exclusiveMaximum === 'number') return schema.exclusiveMaximum - step;
  if (schema.maximum === undefined) return undefined;
  return schema.exclusiveMaximum === true ? schema.maximum - step : schema.maximum;
}

function integerArbitrary(schema: JsonSchema): fc.Arbitrary<JsonValue> {
  const low = lowerBound(schema, 1);
  const high = upperBound(schema, 1);
  const min = Math.max(INT32_MIN, Math.ceil(low ?? (high !== undefined ? high - 1000 : -1000)));
  const max = Math.min(INT32_MAX, Math.floor(high ?? min + 10_000));
  return fc.integer({ min, max });
}

function numberArbitrary(schema: JsonSchema): fc.Arbitrary<JsonValue> {
  const min = lowerBound(schema, Number.EPSILON) ?? -1e6;
  const max = upperBound(schema, Number.EPSILON) ?? min + 1e6;
  return fc
    .double({ min, max, noNaN: true, noDefaultInfinity: true })
    .map((value) => (Object.is(value, -0) ? 0 : value));
}

const isoDate = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2035-12-31T23:59:59Z'), noInvalidDate: true })
  .map((date) => date.toISOString());

function stringArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? minLength + OPEN_STRING_LENGTH, minLength + OPEN_STRING_LENGTH);
  const fits = (value: string) =>
    [...value].length >= minLength && (schema.maxLength === undefined || [...value].length <= schema.maxLength);
  switch (schema.format) {
    case 'uuid':
      return fc.uuid();
    case 'date-time':
      return isoDate;
    case 'date':
      return isoDate.map((value) => value.slice(0, 10));
    case 'email':
      return fc.emailAddress().filter(fits);
    case 'uri':
      return fc.webUrl().filter(fits);
  }
  if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern)).filter(fits);
  return fc.oneof(
    { weight: 4, arbitrary: asciiText(minLength, maxLength) },
    { weight: 1, arbitrary: unicodeText(minLength, maxLength) },
  );
}

function objectArbitrary(schema: JsonSchema, context: SchemaContext, depth: number): fc.Arbitrary<JsonValue> {
  const properties = schema.properties ?? {};
  const required = (schema.required ?? []).filter((name) => name in properties);
  const model: Record<string, fc.Arbitrary<JsonValue>> = {};
  for (const [name, property] of Object.entries(properties)) {
    model[name] = arbitraryFor(property, context, { field: name, depth: depth + 1 });
  }
  let record: fc.Arbitrary<JsonObject> = fc.record(model, { requiredKeys: required }).map((value) => {
    const object: JsonObject = {};
    for (const [key, entry] of Object.entries(value)) if (entry !== undefined) object[key] = entry;
    return object;
  });
  const additional = schema.additionalProperties;
  if (Object.keys(properties).length === 0 && additional !== false) {
    const values =
      typeof additional === 'object' ? arbitraryFor(additional, context, { depth: depth + 1 }) : scalarJson;
    record = fc.dictionary(asciiText(1, 12), values, { maxKeys: 3 });
  }
  const minProperties = schema.minProperties ?? 0;
  return minProperties > 0 ? record.filter((value) => Object.keys(value).length >= minProperties) : record;
}

function arrayArbitrary(schema: JsonSchema, context: SchemaContext, depth: number): fc.Arbitrary<JsonValue> {
  const items = schema.items ? arbitraryFor(schema.items, context, { depth: depth + 1 }) : scalarJson;
  const minLength = schema.minItems ?? 0;
  const maxLength = Math.min(schema.maxItems ?? minLength + OPEN_ARRAY_LENGTH, minLength + OPEN_ARRAY_LENGTH);
  return schema.uniqueItems
    ? fc.uniqueArray(items, { minLength, maxLength, selector: (value) => JSON.stringify(value) })
    : fc.array(items, { minLength, maxLength });
}

const scalarJson: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => (Object.is(value, -0) ? 0 : value)),
  asciiText(0, 12),
);

/** Any JSON at all, for a schema that says nothing (e.g. the items of an event batch). */
export const anyJson: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarJson,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(asciiText(1, 10), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function typedArbitrary(
  type: string,
  schema: JsonSchema,
  context: SchemaContext,
  depth: number,
): fc.Arbitrary<JsonValue> {
  switch (type) {
    case 'string':
      return stringArbitrary(schema);
    case 'integer':
      return integerArbitrary(schema);
    case 'number':
      return numberArbitrary(schema);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return arrayArbitrary(schema, context, depth);
    case 'object':
      return objectArbitrary(schema, context, depth);
    default:
      throw new Error(`unsupported schema type ${type}`);
  }
}

/** Values the schema accepts; `field` names the property (for real-id pools). */
export function arbitraryFor(
  schema: JsonSchema,
  context: SchemaContext,
  where: { field?: string; depth?: number } = {},
): fc.Arbitrary<JsonValue> {
  const depth = where.depth ?? 0;
  if (depth > MAX_DEPTH) return fc.constant(null);
  let resolved = context.resolve(schema);
  if (resolved.allOf) resolved = mergeAllOf(resolved, context);
  let arbitrary: fc.Arbitrary<JsonValue>;
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (resolved.const !== undefined) arbitrary = fc.constant(resolved.const);
  else if (resolved.enum) arbitrary = fc.constantFrom(...resolved.enum);
  else if (branches) arbitrary = fc.oneof(...branches.map((branch) => arbitraryFor(branch, context, where)));
  else if (resolved.type === undefined) {
    arbitrary = resolved.properties ? objectArbitrary(resolved, context, depth) : anyJson;
  } else {
    const types = [resolved.type].flat();
    arbitrary = fc.oneof(...types.map((type) => typedArbitrary(type, resolved, context, depth)));
  }
  const pool = where.field !== undefined ? context.valuesFor?.(where.field) : undefined;
  if (pool && pool.length > 0 && schemaTypes(resolved, context).has('string')) {
    arbitrary = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary });
  }
  if (resolved.nullable && resolved.enum === undefined) {
    arbitrary = fc.oneof({ weight: 4, arbitrary }, { weight: 1, arbitrary: fc.constant(null) });
  }
  return arbitrary;
}
