import AjvCompiler from '@fastify/ajv-compiler';
import type { Ajv, Options as AjvOptions } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorDetail } from '../errors.js';
import { isDateInRange, isTimeInRange, PATTERN_RULES } from '../shared/http-schemas.js';

/**
 * How requests are validated against their route schemas.
 *
 * - Bodies are JSON, so they are checked as sent: `"123"` is not a number, `null` is not a
 *   boolean, a scalar is not an array. Only query strings, path parameters and headers, which
 *   HTTP carries as text, are coerced to their documented types.
 * - Unknown fields are refused (no mass assignment) and every error is reported.
 * - Dates and date-times must be real calendar values within the years the database and the
 *   date arithmetic behind them handle (`DATE_YEARS` in shared/http-schemas.ts); `0000-01-01`
 *   or `9999-12-31` are refused.
 * - A value one case away from a well-known pattern (`"gb"` for a country code, `"gbp"` for a
 *   currency; PATTERN_RULES) is put in that case first: it can mean nothing else.
 */
const BASE_OPTIONS: AjvOptions = { removeAdditional: false, allErrors: true, useDefaults: true };

function addDateFormats(ajv: Ajv): void {
  ajv.addFormat('date', { type: 'string', validate: isDateInRange });
  ajv.addFormat('date-time', { type: 'string', validate: isTimeInRange });
}

type RouteDefinition = Parameters<ReturnType<ReturnType<typeof AjvCompiler>>>[0];
type Validate = ReturnType<ReturnType<ReturnType<typeof AjvCompiler>>>;
type ValidationIssue = NonNullable<Validate['errors']>[number];

/**
 * Ajv coerces the text "Infinity" to a number and then skips `minimum`/`maximum` for values
 * that are not finite, so `limit=Infinity` would reach the database. Text parts are flat
 * (values or arrays of values): any non-finite number in them came from such a coercion.
 */
function refuseNonFinite(validate: Validate): Validate {
  const checked = ((data: unknown) => {
    if (validate(data) === false) {
      checked.errors = validate.errors;
      return false;
    }
    const issues: ValidationIssue[] = [];
    if (data !== null && typeof data === 'object') {
      for (const [key, value] of Object.entries(data)) {
        const values: unknown[] = Array.isArray(value) ? value : [value];
        if (values.some((item) => typeof item === 'number' && !Number.isFinite(item))) {
          issues.push({
            instancePath: `/${key}`,
            schemaPath: '#/type',
            keyword: 'type',
            params: {},
            message: 'must be a finite number',
          });
        }
      }
    }
    checked.errors = issues.length > 0 ? issues : null;
    return issues.length === 0;
  }) as Validate;
  return checked;
}

/** Puts the values of one part of a request into the case their pattern wants; gives back the value. */
type Normaliser = (value: unknown) => unknown;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The normalisers of a union's branches. A choice (anyOf, oneOf) is normalised only when each of
 * its branches but `null` is: with any other branch ("GB" or the literal "any") the original
 * spelling may be what the client meant. All of an allOf apply.
 */
function unionNormalisers(schema: Record<string, unknown>, depth: number): Normaliser[] {
  const of = (list: unknown) =>
    (Array.isArray(list) ? list : []).filter((branch) => !isRecord(branch) || branch.type !== 'null');
  const choices = [...of(schema.anyOf), ...of(schema.oneOf)].map((branch) => normaliserOf(branch, depth + 1));
  const all = of(schema.allOf).map((branch) => normaliserOf(branch, depth + 1));
  const usable = choices.every((normalise) => normalise !== undefined) ? choices : [];
  return [...usable, ...all].filter((normalise): normalise is Normaliser => normalise !== undefined);
}

/**
 * The normaliser of a schema, or undefined when nothing in it has a pattern to normalise to (most
 * routes: they pay nothing). Walks properties, array items and union branches, as TypeBox builds them.
 */
function normaliserOf(schema: unknown, depth = 0): Normaliser | undefined {
  if (!isRecord(schema) || depth > 16) return undefined;
  const rule = typeof schema.pattern === 'string' ? PATTERN_RULES[schema.pattern] : undefined;
  if (rule?.normalise) {
    const change = rule.normalise === 'upper' ? String.prototype.toUpperCase : String.prototype.toLowerCase;
    return (value) => (typeof value === 'string' ? change.call(value) : value);
  }
  const branches = unionNormalisers(schema, depth);
  if (branches.length > 0) return (value) => branches.reduce((current, normalise) => normalise(current), value);
  if (isRecord(schema.properties)) {
    const fields = Object.entries(schema.properties).flatMap(([key, property]) => {
      const normalise = normaliserOf(property, depth + 1);
      return normalise ? [[key, normalise] as const] : [];
    });
    if (fields.length === 0) return undefined;
    return (value) => {
      if (!isRecord(value)) return value;
      for (const [key, normalise] of fields) if (Object.hasOwn(value, key)) value[key] = normalise(value[key]);
      return value;
    };
  }
  const item = normaliserOf(schema.items, depth + 1);
  if (!item) return undefined;
  // A query string may carry one value where the schema wants an array (coerced later).
  return (value) => {
    if (!Array.isArray(value)) return item(value);
    value.forEach((element, index) => {
      value[index] = item(element);
    });
    return value;
  };
}

/** Validation after the part's values are in the case their patterns want. */
function normalisingFirst(route: RouteDefinition, validate: Validate): Validate {
  const normalise = normaliserOf(route.schema);
  if (!normalise) return validate;
  const checked = ((data: unknown) => {
    normalise(data);
    const valid = validate(data);
    checked.errors = validate.errors;
    return valid;
  }) as Validate;
  return checked;
}

// One pool per process: Ajv keeps what it compiled, so every app built here (tests build many)
// reuses the validators of schemas it has seen instead of compiling them again.
const pool = AjvCompiler();

/** Fastify's `schemaController.compilersFactory.buildValidator`: one Ajv for bodies, one for the rest. */
export function requestValidators() {
  return (externalSchemas: Parameters<typeof pool>[0]) => {
    const body = pool(externalSchemas, {
      customOptions: { ...BASE_OPTIONS, coerceTypes: false },
      onCreate: addDateFormats,
    });
    const text = pool(externalSchemas, {
      customOptions: { ...BASE_OPTIONS, coerceTypes: 'array' },
      onCreate: addDateFormats,
    });
    return (route: RouteDefinition) =>
      normalisingFirst(route, route.httpPart === 'body' ? body(route) : refuseNonFinite(text(route)));
  };
}

// JSON can carry text PostgreSQL will not store: a NUL character or half of a surrogate pair.
// Both only arrive written as `\u` escapes, so the raw body says whether to look.
const SUSPECT_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_DETAILS = 20;
const SUSPECT_BODY = Symbol('suspectBody');

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character, which cannot be stored';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

function isEmpty(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return value === undefined || value === null;
  for (const _key in value) return false;
  return true;
}

/** Every field (and key) holding text that cannot be stored, named as the client sent it. */
function findBadText(value: unknown, path: string, out: ErrorDetail[], depth = 0): void {
  if (out.length >= MAX_DETAILS || depth > 32) return;
  if (typeof value === 'string') {
    const problem = textProblem(value);
    if (problem) out.push({ field: path, message: problem });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) findBadText(item, `${path}.${index}`, out, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = textProblem(key);
    if (keyProblem) out.push({ field: path, message: `has a field name that ${keyProblem}` });
    else findBadText(item, `${path}.${key}`, out, depth + 1);
  }
}

/**
 * Refuses text that cannot be stored before validation, with 400 naming each field: in the
 * query and path always (small), in a JSON body when its raw text holds a suspect escape.
 */
export const inputTextPlugin = fp(
  async (app: FastifyInstance) => {
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (typeof body === 'string' && SUSPECT_ESCAPE.test(body)) {
        (request as unknown as Record<symbol, boolean>)[SUSPECT_BODY] = true;
      }
      parseJson(request, body as string, done);
    });

    const check = (request: FastifyRequest): ErrorDetail[] => {
      const details: ErrorDetail[] = [];
      findBadText(request.params, 'params', details);
      findBadText(request.query, 'query', details);
      if ((request as unknown as Record<symbol, boolean>)[SUSPECT_BODY]) findBadText(request.body, 'body', details);
      return details;
    };

    app.addHook('preValidation', (request, _reply, done) => {
      // Most requests carry no path parameter, no query and no suspect body: nothing to walk.
      if (
        isEmpty(request.params) &&
        isEmpty(request.query) &&
        !(request as unknown as Record<symbol, boolean>)[SUSPECT_BODY]
      ) {
        return done();
      }
      const details = check(request);
      if (details.length === 0) return done();
      done(new AppError('VALIDATION_ERROR', 'Request validation failed', { details }));
    });
  },
  { name: 'input-text' },
);
