import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorCode, type ErrorDetail } from '../errors.js';
import { isDatabaseUnavailable, isPoolExhausted, isUnstorableText, sqlState } from '../infra/db/errors.js';
import { redact } from '../infra/logger.js';
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
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

// What a nullable field (`anyOf: [X, null]`) adds to the real reason: "must be null", "must match a schema in anyOf".
const isUnionNoise = (issue: AjvIssue) =>
  issue.keyword === 'anyOf' || (issue.keyword === 'type' && issue.params.type === 'null');

/** One entry per problem, each field named as the client sent it: `body.email`, `query.limit`. */
export function validationDetails(error: FastifyError): ErrorDetail[] {
  const where = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'body');
  const details = ((error.validation ?? []) as AjvIssue[]).map((issue) => {
    const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const extra = issue.params.missingProperty ?? issue.params.additionalProperty;
    const field = [where, path, extra].filter((part) => part !== undefined && part !== '').join('.');
    let message = issue.message ?? 'is invalid';
    if (issue.keyword === 'additionalProperties') message = 'is not an accepted field';
    if (issue.keyword === 'required') message = 'is required';
    return { field, message, noise: isUnionNoise(issue) };
  });
  const explained = new Set(details.filter((detail) => !detail.noise).map((detail) => detail.field));
  return details
    .filter((detail) => !detail.noise || !explained.has(detail.field))
    .map(({ field, message }) => ({ field, message }));
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
