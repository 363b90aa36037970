import AjvCompiler from '@fastify/ajv-compiler';
import type { Ajv, Options as AjvOptions } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorDetail } from '../errors.js';
import { isDateInRange, isTimeInRange } from '../shared/http-schemas.js';

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
    return (route: RouteDefinition) => (route.httpPart === 'body' ? body(route) : refuseNonFinite(text(route)));
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
