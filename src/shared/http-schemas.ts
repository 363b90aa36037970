import { type TLiteral, type TSchema, Type } from '@sinclair/typebox';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { ERROR_STATUS, type ErrorCode, SLOT_UNAVAILABLE_REASONS } from '../errors.js';

/**
 * The years a `date` or `date-time` field accepts: real calendar values the database and the
 * date arithmetic behind them (a day added, a 60-day horizon) always handle.
 */
export const DATE_YEARS = { min: 1900, max: 2999 } as const;

type FormatCheck = { validate: (text: string) => boolean };
const calendarDate = fullFormats.date as FormatCheck;
const calendarTime = fullFormats['date-time'] as FormatCheck;
const inYears = (text: string) => {
  const year = Number(text.slice(0, 4));
  return year >= DATE_YEARS.min && year <= DATE_YEARS.max;
};

/** `YYYY-MM-DD`, a real day within DATE_YEARS. */
export const isDateInRange = (text: string): boolean => calendarDate.validate(text) && inYears(text);
/** An RFC 3339 date-time with its offset, a real instant within DATE_YEARS. */
export const isTimeInRange = (text: string): boolean => calendarTime.validate(text) && inYears(text);

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** One of the given strings; the description lists them. */
export const literals = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Union(values.map((value) => Type.Literal(value)) as TLiteral<T[number]>[], {
    description: description ?? values.join(' | '),
  });
export const Uuid = Type.String({ format: 'uuid' });

/**
 * What a value refused by a well-known pattern should have been, in words a client can act on
 * ("must be a two-letter ISO 3166-1 country code, e.g. GB"), and the case that makes a value
 * right when that is unambiguous: "gb" can only mean "GB", so it is upper-cased before
 * validation (request-validation.ts) instead of refused. Keyed by the pattern itself, so a
 * field written with the same pattern anywhere is explained and normalised the same way; a
 * pattern not listed here is named as it is.
 */
export const PATTERN_RULES: Readonly<Record<string, { words: string; normalise?: 'upper' | 'lower' }>> = {
  '^[A-Z]{2}$': { words: 'a two-letter ISO 3166-1 country code, e.g. GB', normalise: 'upper' },
  '^[A-Z]{3}$': { words: 'a three-letter ISO 4217 currency code, e.g. GBP', normalise: 'upper' },
  '^[a-z]{2}$': { words: 'a two-letter ISO 639-1 language code, e.g. en', normalise: 'lower' },
  '^[a-z]{2,3}(-[A-Z]{2})?$': { words: 'a language tag such as en, fr or pt-BR' },
  '^[a-z]{2}(?:-[A-Z]{2})?$': { words: 'a language tag such as en or en-GB' },
  '^\\+[1-9][0-9]{6,14}$': { words: 'a phone number in E.164 form, e.g. +447700900123' },
  '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$': { words: 'a time of day HH:MM, 00:00 to 24:00' },
  '^([01][0-9]|2[0-3]):[0-5][0-9]$': { words: 'a time of day HH:MM, 00:00 to 23:59' },
  '^[a-z0-9]+(?:-[a-z0-9]+)*$': { words: 'lowercase letters and digits in words joined by hyphens, e.g. deep-tissue' },
  '\\S': { words: 'text with at least one character that is not a space' },
};

export const DateTime = Type.String({
  format: 'date-time',
  description: `RFC 3339 date-time with offset, years ${DATE_YEARS.min}-${DATE_YEARS.max}`,
});
export const DateOnly = Type.String({
  format: 'date',
  description: `a calendar date, YYYY-MM-DD, years ${DATE_YEARS.min}-${DATE_YEARS.max}`,
});
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

/**
 * `?limit=&cursor=`: spread into a list route's query schema. `limit` is always there once
 * validated (its default fills it in); the OpenAPI document lists it as optional.
 */
export const pageQuery = (defaultLimit = 20) => ({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: defaultLimit }),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 500, description: 'meta.next_cursor of the previous page' }),
  ),
});
/** `?limit=&cursor=` for lists paged by id: the cursor is the last item's id. */
export const idPageQuery = (defaultLimit = 20) => ({
  limit: pageQuery(defaultLimit).limit,
  cursor: Type.Optional(Type.String({ format: 'uuid', description: 'meta.next_cursor of the previous page' })),
});
export const NextCursorMeta = Type.Object({
  next_cursor: Nullable(Type.String({ description: 'pass as `cursor` for the next page; null on the last page' })),
});

export const ErrorResponse = Type.Object(
  {
    success: Type.Literal(false),
    message: Type.String(),
    code: Type.String({ description: 'stable error code, see the README' }),
    correlation_id: Type.String(),
    details: Type.Optional(
      Type.Array(
        Type.Object({
          field: Type.String({ description: 'the field as sent: `body.email`, `query.limit`, `params.id`' }),
          message: Type.String({
            description: 'what to send instead: the allowed values, the expected format, or the range',
          }),
          reason: Type.Optional(
            literals(
              SLOT_UNAVAILABLE_REASONS,
              `SLOT_UNAVAILABLE only: why the time cannot be booked (${SLOT_UNAVAILABLE_REASONS.join(' | ')})`,
            ),
          ),
        }),
        { description: 'one entry per field at fault' },
      ),
    ),
  },
  { $id: 'ErrorResponse', title: 'ErrorResponse' },
);

/** `{ success: true, data }`, the envelope of every successful JSON response. */
export const Success = <T extends TSchema>(data: T, meta?: TSchema) =>
  Type.Object(meta ? { success: Type.Literal(true), data, meta } : { success: Type.Literal(true), data });

// Statuses any route can answer with: rate limit, overload, server error.
const ALWAYS: ErrorCode[] = ['RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'];

export const ErrorRef = Type.Ref(ErrorResponse);

const codesOfResponse = new WeakMap<object, readonly ErrorCode[]>();

/** The error envelope for one status, described by the codes it carries there. */
export function errorResponse(codes: readonly ErrorCode[]): typeof ErrorRef {
  const schema = Type.Ref(ErrorResponse, { description: `Error: ${codes.join(' | ')} (the body's \`code\`)` });
  codesOfResponse.set(schema, codes);
  return schema;
}

/** The codes a response schema made by `errorResponse` documents (none for a bare ErrorRef). */
export const errorCodesOf = (schema: unknown): readonly ErrorCode[] =>
  (schema !== null && typeof schema === 'object' && codesOfResponse.get(schema)) || [];

/** Response schemas for the error statuses a route documents, plus those every route may return. */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof ErrorRef> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...codes, ...ALWAYS]) {
    const status = ERROR_STATUS[code];
    const list = byStatus.get(status) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  }
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, errorResponse(list)]));
}
