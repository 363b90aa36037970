import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorCode, type ErrorDetail } from '../errors.js';
import { isDatabaseUnavailable, isPoolExhausted, isUnstorableText, sqlState } from '../infra/db/errors.js';
import { redact } from '../infra/logger.js';
import { DATE_YEARS, PATTERN_RULES } from '../shared/http-schemas.js';
import { BASE_HEADERS } from './request-context.js';

// Fastify's own error codes, translated into ours.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'VALIDATION_ERROR',
};

// The generic code for a client-error status that has no mapping of its own.
const GENERIC_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  INVALID_JSON: 'Request body is not valid JSON',
  PAYLOAD_TOO_LARGE: 'Request body is too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type: send application/json',
  VALIDATION_ERROR: 'Request validation failed',
};

interface AjvIssue {
  instancePath: string;
  /** Where in the schema the check failed: a union's branches lie under its own path. */
  schemaPath?: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** What a value had to be, gathered from the branches of a union that all refused its kind. */
interface Expected {
  values: unknown[];
  types: string[];
  nullable: boolean;
}

/** One Ajv issue with the message a client reads; `expected` when it stands for a whole union. */
interface Issue extends AjvIssue {
  schemaPath: string;
  message: string;
  expected?: Expected;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
};

// What a `format` check wanted, in words; the dates' years are those of DATE_YEARS.
const FORMAT_WORDS: Record<string, string> = {
  'date-time': `an RFC 3339 date-time with its offset, e.g. 2027-03-25T09:00:00Z (years ${DATE_YEARS.min}-${DATE_YEARS.max})`,
  date: `a calendar date YYYY-MM-DD, e.g. 2027-03-25 (years ${DATE_YEARS.min}-${DATE_YEARS.max})`,
  uuid: 'a UUID, e.g. 01890a5d-ac96-774b-bcce-b302099a8057',
  email: 'an email address',
  uri: 'an absolute URL, e.g. https://example.com/page',
};

/** "an integer", "a string or null": Ajv's `type` (one name, or several joined by commas) in words. */
const typeWords = (type: unknown) =>
  String(type)
    .split(',')
    .map((name) => TYPE_WORDS[name] ?? name)
    .join(' or ');

const listOf = (values: unknown[]) =>
  values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));

/** "one of: a, b, c", "a string": what was expected, null aside. */
function kindsOf({ values, types }: Expected): string[] {
  const allowed = [...new Set(listOf(values))];
  return [...(allowed.length > 1 ? [`one of: ${allowed.join(', ')}`] : allowed), ...new Set(types.map(typeWords))];
}

/** "must be one of: a, b, c", "must be a string", each with " (or null)" when null is allowed too. */
function expectedMessage(expected: Expected): string {
  const kinds = kindsOf(expected);
  if (kinds.length === 0) return 'must be null';
  return `must be ${kinds.join(' or ')}${expected.nullable ? ' (or null)' : ''}`;
}

/** " (or null)", " (or any)": the other branches' kinds, added to the message of the branch chosen. */
const otherwise = (expected: Expected) => {
  const kinds = [...kindsOf(expected), ...(expected.nullable ? ['null'] : [])];
  return kinds.length > 0 ? ` (or ${kinds.join(' or ')})` : '';
};

/** The message for one issue as Ajv reported it: allowed values and formats in words. */
function messageOf(issue: AjvIssue): string {
  const { keyword, params } = issue;
  if (keyword === 'additionalProperties') return 'is not an accepted field';
  if (keyword === 'required') return 'is required';
  if (keyword === 'const') return `must be ${listOf([params.allowedValue]).join('')}`;
  if (keyword === 'enum') return `must be one of: ${listOf(params.allowedValues as unknown[]).join(', ')}`;
  if (keyword === 'type' && typeof params.type === 'string') return `must be ${typeWords(params.type)}`;
  if (keyword === 'pattern') {
    const rule = PATTERN_RULES[params.pattern as string];
    return rule ? `must be ${rule.words}` : `must match the pattern ${params.pattern}`;
  }
  if (keyword === 'format' && FORMAT_WORDS[params.format as string])
    return `must be ${FORMAT_WORDS[params.format as string]}`;
  return issue.message ?? 'is invalid';
}

const isUnion = (issue: { keyword: string }) => issue.keyword === 'anyOf' || issue.keyword === 'oneOf';

/** A branch that refused the value's kind outright (wrong type, not the constant), so it says only what the value should have been. */
const refusesKind = (branch: Issue[], at: string) =>
  branch.every(
    (issue) => issue.instancePath === at && (issue.expected || ['type', 'const', 'enum'].includes(issue.keyword)),
  );

/** What a branch that refused the value's kind expected: its constants, else its type. */
function expectationOf(branch: Issue[]): Expected {
  const expected: Expected = { values: [], types: [], nullable: false };
  const constants = branch.filter((issue) => issue.keyword === 'const' || issue.keyword === 'enum' || issue.expected);
  for (const issue of constants) {
    if (issue.expected) {
      expected.values.push(...issue.expected.values);
      expected.types.push(...issue.expected.types);
      expected.nullable ||= issue.expected.nullable;
    } else if (issue.keyword === 'enum') expected.values.push(...(issue.params.allowedValues as unknown[]));
    else expected.values.push(issue.params.allowedValue);
  }
  if (constants.length > 0) return expected;
  for (const issue of branch) {
    for (const type of String(issue.params.type).split(',')) {
      if (type === 'null') expected.nullable = true;
      else expected.types.push(type);
    }
  }
  return expected;
}

/**
 * A union's issues as one answer. When every branch refused the value's kind, one issue names
 * all that was allowed ("must be one of: sms, email (or null)"). Otherwise the value was of a
 * branch's kind and that branch's issues say what is wrong (the one with fewest, first on a tie),
 * noting what the other branches would have taken ("(or null)"); their complaints are noise.
 */
function unionAnswer(union: Issue, members: Issue[]): Issue[] {
  const branches = new Map<string, Issue[]>();
  for (const member of members) {
    const index = member.schemaPath.slice(union.schemaPath.length + 1).split('/', 1)[0] as string;
    branches.set(index, [...(branches.get(index) ?? []), member]);
  }
  const answers = [...branches.values()].map(collapseUnions);
  if (answers.length === 0) return [union];
  const at = union.instancePath;
  const kindRefusals = answers.filter((branch) => refusesKind(branch, at));
  const expected = kindRefusals.map(expectationOf).reduce(
    (all, one) => ({
      values: [...all.values, ...one.values],
      types: [...all.types, ...one.types],
      nullable: all.nullable || one.nullable,
    }),
    { values: [], types: [], nullable: false },
  );
  if (kindRefusals.length === answers.length) {
    return [{ ...union, keyword: 'union', message: expectedMessage(expected), expected }];
  }
  const chosen = answers
    .filter((branch) => !refusesKind(branch, at))
    .reduce((best, branch) => (branch.length < best.length ? branch : best));
  const others = otherwise(expected);
  return chosen.map((issue) =>
    issue.instancePath === at ? { ...issue, message: `${issue.message}${others}` } : issue,
  );
}

/** Issues with each union (anyOf/oneOf) and its branches' issues replaced by the union's answer. */
function collapseUnions(issues: Issue[]): Issue[] {
  // The outermost union first: it gathers the issues of unions nested in its branches.
  const unions = issues.filter(isUnion).sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  const answered = new Map<Issue, Issue[]>();
  const consumed = new Set<Issue>();
  for (const union of unions) {
    if (consumed.has(union)) continue;
    const members = issues.filter(
      (issue) => issue !== union && !consumed.has(issue) && issue.schemaPath.startsWith(`${union.schemaPath}/`),
    );
    for (const member of members) consumed.add(member);
    answered.set(union, unionAnswer(union, members));
  }
  return issues.flatMap((issue) => answered.get(issue) ?? (consumed.has(issue) ? [] : [issue]));
}

/**
 * One entry per field at fault, named as the client sent it (`body.email`, `query.limit`),
 * saying what to send: the allowed values of an enum, the format of a pattern in words, null
 * when it is allowed too. A union (a nullable field, a set of literals) answers once, not once
 * per branch; a field refused for several reasons gets them in one message.
 */
export function validationDetails(error: FastifyError): ErrorDetail[] {
  const where = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'body');
  const issues = ((error.validation ?? []) as AjvIssue[]).map(
    (issue): Issue => ({
      ...issue,
      schemaPath: issue.schemaPath ?? '',
      message: messageOf(issue),
      // A missing or unknown field is named itself, not its object.
      ...(issue.params.missingProperty === undefined && issue.params.additionalProperty === undefined
        ? {}
        : { instancePath: `${issue.instancePath}/${issue.params.missingProperty ?? issue.params.additionalProperty}` }),
    }),
  );
  const messages = new Map<string, string[]>();
  for (const issue of collapseUnions(issues)) {
    const field = [where, ...issue.instancePath.split('/').filter((part) => part !== '')].join('.');
    const list = messages.get(field) ?? [];
    if (!list.includes(issue.message)) list.push(issue.message);
    messages.set(field, list);
  }
  return [...messages].map(([field, list]) => {
    // A union left whole (its branches out of reach, behind a $ref) adds nothing to a real reason.
    const real = list.filter((message) => !/^must match (a|exactly one) schema in (anyOf|oneOf)$/.test(message));
    return { field, message: (real.length > 0 ? real : list).join('; ') };
  });
}

// How the Redis store (src/infra/kv/redis.ts, ioredis) says it cannot run a command now: not
// connected within its short wait, the connection dropped mid-command, no reply in time, or
// retries used up.
const STORE_UNAVAILABLE =
  /^redis not connected|^Connection is closed\.$|^Command timed out$|enableOfflineQueue options is false/;

function isStoreUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if (current.name === 'MaxRetriesPerRequestError' || STORE_UNAVAILABLE.test(current.message)) return true;
  }
  return false;
}

export function toAppError(error: FastifyError | AppError): AppError {
  if (error instanceof AppError) return error;
  // Text the database cannot store (a NUL byte, an invalid sequence): the client's input, not our fault.
  if (isUnstorableText(error)) {
    return new AppError('VALIDATION_ERROR', 'Request contains characters that cannot be stored (such as NUL)');
  }
  // Every database connection busy for the pool's whole wait: overload, answered like the load shedder.
  if (isPoolExhausted(error)) {
    return new AppError('SERVICE_UNAVAILABLE', 'Server is busy, please retry shortly', {
      headers: { 'retry-after': '1' },
    });
  }
  // The database is down, restarting or unreachable, or the shared store is and this request
  // cannot go on without it (security state fails closed): a fast 503 the client may retry, never
  // a 500 (nothing is wrong with the request or the code) and never a hang.
  if (isDatabaseUnavailable(error) || isStoreUnavailable(error)) {
    return new AppError('SERVICE_UNAVAILABLE', 'Service temporarily unavailable, please retry shortly', {
      headers: { 'retry-after': '2' },
      cause: error,
    });
  }
  if (error.validation) {
    return new AppError('VALIDATION_ERROR', MESSAGES.VALIDATION_ERROR as string, {
      details: validationDetails(error),
    });
  }
  const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (mapped) return new AppError(mapped, MESSAGES[mapped] ?? error.message);
  const status = error.statusCode ?? 500;
  if (status === 429) return new AppError('RATE_LIMITED', 'Too many requests, please try again later');
  if (status === 503) return new AppError('SERVICE_UNAVAILABLE', 'Service unavailable, please retry');
  if (status >= 400 && status < 500) return new AppError(GENERIC_CODES[status] ?? 'BAD_REQUEST', error.message);
  return new AppError('INTERNAL_ERROR', 'Internal server error', { cause: error });
}

/**
 * What of an unexpected error may be logged. A query error's own message lists the query's
 * parameters (emails, password hashes), so the database's cause is logged instead, redacted.
 */
function loggableError(error: unknown): Record<string, unknown> {
  const root = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(root instanceof Error)) return { message: String(redact(String(root))) };
  return redact({
    type: (error as Error).name,
    code: sqlState(error),
    message: root.message,
    stack: root.stack,
  }) as Record<string, unknown>;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, appError: AppError) {
  if (appError.headers) reply.headers(appError.headers);
  // Usually set on the way in already; not for errors raised before routing (a malformed URL).
  if (!reply.hasHeader('x-content-type-options')) reply.headers(BASE_HEADERS);
  reply.header('x-correlation-id', request.id);
  return reply.code(appError.statusCode).send({
    // A route's documented extras (e.g. a premium teaser) first, so they can never replace the envelope.
    ...appError.extra,
    success: false,
    message:
      appError.statusCode >= 500 && appError.code === 'INTERNAL_ERROR' ? 'Internal server error' : appError.message,
    code: appError.code,
    correlation_id: request.id,
    ...(appError.details ? { details: appError.details } : {}),
  });
}

/** The one place that knows HTTP statuses for errors; 5xx bodies never carry internals. */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
      const appError = toAppError(error);
      if (appError.statusCode >= 500)
        request.log.error({ err: loggableError(appError.cause ?? error) }, 'request failed');
      return sendError(request, reply, appError);
    });

    app.setNotFoundHandler((request, reply) =>
      sendError(
        request,
        reply,
        new AppError('NOT_FOUND', `Route ${request.method} ${request.url.split('?', 1)[0]} not found`),
      ),
    );
  },
  { name: 'error-handler' },
);
