import type { JsonSchema, JsonValue } from './openapi.js';
import { type SchemaContext, schemaTypes } from './schema-arbitrary.js';

/**
 * Kinds of hostile change. A mutated request first picks a kind, then a change of that kind
 * anywhere in the request: an operation with twenty text fields and one date still gets its
 * date mutated as often as its text.
 */
export type Family =
  | 'missing'
  | 'extra'
  | 'mistyped'
  | 'bounds'
  | 'text'
  | 'date'
  | 'cursor'
  | 'tampered cursor'
  | 'path'
  | 'header'
  | 'whole body'
  | 'etag';

/** One hostile value, its kind, and how a failure report names it. */
export interface Hostile<T> {
  family: Family;
  label: string;
  value: T;
}

const ISO = '2026-11-23T10:00:00.000Z';
const SOME_UUID = '0190f2c4-8a1b-7c3d-9e4f-5a6b7c8d9e0f';

const hostile = <T>(family: Family, label: string, value: T): Hostile<T> => ({ family, label, value });

const TEXT: Hostile<string>[] = [
  hostile('text', 'empty string', ''),
  hostile('text', 'whitespace only', ' \t\n '),
  hostile('text', '100,000 characters', 'a'.repeat(100_000)),
  hostile('text', 'lone surrogate \\ud800', 'a\ud800b'),
  hostile('text', 'NUL character', 'a\u0000b'),
  hostile('text', 'right-to-left override', '\u202Eevil\u202C'),
  hostile('text', 'zero-width characters', 'a\u200Bb\uFEFFc'),
  hostile('text', 'emoji', '😀👩‍👩‍👧'),
  hostile('text', 'combining characters', 'e\u0301\u0302\u0303\u0304'),
  hostile('text', 'SQL-ish text', "' or 1=1--"),
  hostile('text', 'path-ish text', '../../etc/passwd'),
];

const BAD_DATES: Hostile<string>[] = [
  hostile('date', 'month 13', '2026-13-01'),
  hostile('date', 'date 0000-00-00', '0000-00-00'),
  hostile('date', 'date 9999-12-31', '9999-12-31'),
  hostile('date', 'year 0 date-time', '0000-01-01T00:00:00Z'),
  hostile('date', 'February 30th date-time', '2026-02-30T10:00:00Z'),
];

const looksLikeDate = (schema: JsonSchema) =>
  schema.format === 'date' || schema.format === 'date-time' || schema.pattern === '^\\d{4}-\\d{2}-\\d{2}$';

function dateValues(schema: JsonSchema): Hostile<string>[] {
  if (!looksLikeDate(schema)) return [];
  const swapped =
    schema.format === 'date-time'
      ? hostile('date', 'a date where a date-time is expected', '2026-11-30')
      : hostile('date', 'a date-time where a date is expected', '2026-11-30T10:00:00Z');
  return [...BAD_DATES, swapped];
}

function textValues(schema: JsonSchema): Hostile<string>[] {
  const out = [...TEXT, ...dateValues(schema)];
  if (schema.maxLength !== undefined) out.push(hostile('text', 'maxLength+1', 'a'.repeat(schema.maxLength + 1)));
  if ((schema.minLength ?? 0) > 1) out.push(hostile('text', 'minLength-1', 'a'.repeat((schema.minLength ?? 1) - 1)));
  if (schema.format === 'uuid') out.push(hostile('text', 'not a uuid', 'not-a-uuid'));
  if (schema.format === 'email') out.push(hostile('text', 'not an email', 'not-an-email'));
  if (schema.pattern !== undefined && !looksLikeDate(schema)) {
    out.push(hostile('text', 'does not match the pattern', 'No Match!'));
  }
  return out;
}

function boundValues(schema: JsonSchema, integer: boolean): Hostile<number>[] {
  const out = [
    hostile('bounds', '0', 0),
    hostile('bounds', '-1', -1),
    hostile('bounds', '2^31', 2 ** 31),
    hostile('bounds', '2^53', 2 ** 53),
    hostile('bounds', '1e308', 1e308),
    hostile('bounds', '-1e308', -1e308),
  ];
  if (schema.minimum !== undefined) out.push(hostile('bounds', 'minimum-1', schema.minimum - 1));
  if (schema.maximum !== undefined) out.push(hostile('bounds', 'maximum+1', schema.maximum + 1));
  if (integer) out.push(hostile('bounds', '1.5 for an integer', 1.5));
  return out;
}

/** The string branch of a union (its length, format and pattern drive the string mutations). */
function stringSchemaOf(schema: JsonSchema, context: SchemaContext): JsonSchema {
  const branches = schema.anyOf ?? schema.oneOf;
  if (!branches) return schema;
  const branch = branches.find((candidate) => schemaTypes(candidate, context).has('string'));
  return branch ? stringSchemaOf(context.resolve(branch), context) : schema;
}

const isEnumLike = (schema: JsonSchema) =>
  schema.enum !== undefined || schema.const !== undefined || schema.anyOf !== undefined;

/** Hostile values for one JSON body location, chosen by what its schema admits. */
export function hostileJson(schema: JsonSchema, context: SchemaContext): Hostile<JsonValue>[] {
  const resolved = context.resolve(schema);
  const types = schemaTypes(resolved, context);
  const numeric = types.has('number') || types.has('integer');
  const scalar = numeric || types.has('string') || types.has('boolean');
  const out: Hostile<JsonValue>[] = [];
  if (!types.has('null')) out.push(hostile('mistyped', 'null where not nullable', null));
  if (scalar && !types.has('object')) out.push(hostile('mistyped', 'an object where a scalar is expected', { a: 1 }));
  if (scalar && !types.has('array')) out.push(hostile('mistyped', 'an array where a scalar is expected', ['x', 1]));
  if (types.has('array')) {
    out.push(hostile('mistyped', 'a scalar where an array is expected', 'x'));
    out.push(hostile('mistyped', 'an object where an array is expected', { a: 1 }));
  }
  if (types.has('object')) {
    out.push(hostile('mistyped', 'a string where an object is expected', 'x'));
    out.push(hostile('mistyped', 'an array where an object is expected', []));
  }
  if (numeric) {
    out.push(...boundValues(resolved, !types.has('number')));
    out.push(hostile('mistyped', 'a number sent as a string', '123'));
  }
  if (types.has('boolean')) {
    out.push(hostile('mistyped', 'a boolean sent as a string', 'true'));
    out.push(hostile('mistyped', 'a number where a boolean is expected', 1));
  }
  if (types.has('string')) {
    out.push(...textValues(stringSchemaOf(resolved, context)));
    out.push(hostile('mistyped', 'a number where a string is expected', 123));
    if (isEnumLike(resolved)) out.push(hostile('mistyped', 'a value outside the enum', 'not_in_enum'));
  }
  return out;
}

const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const json64 = (value: unknown) => base64url(JSON.stringify(value));

// Each decoder reads its own keys and ignores the rest, so one object with every key names a
// non-uuid id to all of them at once (with and without the search rank `r`).
const EVERY_CURSOR_KEY = { t: ISO, p: ISO, at: ISO, m: 'all', s: 'relevance', k: 1 };

const CURSORS: Hostile<string>[] = [
  hostile('cursor', 'JSON with a non-uuid id', json64({ ...EVERY_CURSOR_KEY, i: 'not-a-uuid', id: 'not-a-uuid' })),
  hostile(
    'cursor',
    'JSON (search form) with a non-uuid id',
    json64({ ...EVERY_CURSOR_KEY, r: 0.5, m: 'fts', i: 'not-a-uuid', id: 'not-a-uuid' }),
  ),
  hostile(
    'cursor',
    'JSON fields of the wrong types',
    json64({ t: 12, i: 34, r: 'x', p: null, m: [], s: {}, k: '1', id: false, at: 5 }),
  ),
  hostile('cursor', 'JSON with extra fields', json64({ ...EVERY_CURSOR_KEY, i: SOME_UUID, extra: 'x', admin: true })),
  hostile(
    'cursor',
    'JSON with an impossible date',
    json64({ ...EVERY_CURSOR_KEY, t: '2026-02-30T10:00:00Z', p: '2026-02-30T10:00:00Z', i: SOME_UUID }),
  ),
  hostile('cursor', 'JSON with a huge key', json64({ ...EVERY_CURSOR_KEY, k: 1e308, r: 1e308, i: SOME_UUID })),
  hostile('cursor', 'JSON array', json64([ISO, SOME_UUID])),
  hostile('cursor', 'JSON null', json64(null)),
  hostile('cursor', 'date|non-uuid', base64url(`${ISO}|not-a-uuid`)),
  hostile('cursor', 'non-date|uuid', base64url(`not-a-date|${SOME_UUID}`)),
  hostile('cursor', 'a plain uuid', SOME_UUID),
  hostile('cursor', 'huge number', '99999999999999999999999'),
  hostile('cursor', '-1', '-1'),
  hostile('cursor', 'empty', ''),
];

/** Variants of a cursor the API really gave: each field retyped, an extra field, a flipped character. */
export function tamperedCursors(cursor: string): Hostile<string>[] {
  const tampered = (label: string, value: string) => hostile('tampered cursor', `real cursor ${label}`, value);
  const out = [
    tampered('with a character flipped', `${cursor.slice(0, -1)}${cursor.endsWith('A') ? 'B' : 'A'}`),
    tampered('with text appended', `${cursor}!!`),
  ];
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch {
    const parts = text.split('|');
    for (const index of parts.keys()) {
      const replaced = parts.map((part, at) => (at === index ? 'not-a-uuid' : part)).join('|');
      out.push(tampered(`with part ${index} replaced`, base64url(replaced)));
    }
    return out;
  }
  if (decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) {
    for (const key of Object.keys(decoded)) {
      for (const [what, value] of [
        ['a non-uuid string', 'not-a-uuid'],
        ['a number', 12345],
        ['null', null],
      ] as const) {
        out.push(tampered(`with field ${key} as ${what}`, json64({ ...decoded, [key]: value })));
      }
    }
    out.push(tampered('with an extra field', json64({ ...decoded, extra: 'x' })));
  }
  return out;
}

/** Random bytes as standard base64 (with `+`, `/` and padding): not what any cursor looks like. */
export const randomBase64Cursor = (bytes: Uint8Array) =>
  hostile('cursor', 'random base64', Buffer.from(bytes).toString('base64'));

/** Hostile query-string values (always text on the wire); a list is sent as a repeated key. */
export function hostileQuery(
  name: string,
  schema: JsonSchema,
  context: SchemaContext,
  realCursor: string | undefined,
): Hostile<string | string[]>[] {
  const resolved = context.resolve(schema);
  const types = schemaTypes(resolved, context);
  const out: Hostile<string | string[]>[] = [
    hostile('mistyped', 'null as text', 'null'),
    hostile('mistyped', 'a repeated key (array where a scalar is expected)', ['1', '2']),
    hostile('mistyped', 'JSON object text (object where a scalar is expected)', '{"a":1}'),
  ];
  if (types.has('number') || types.has('integer')) {
    for (const { label, value } of boundValues(resolved, !types.has('number'))) {
      out.push(hostile('bounds', label, String(value)));
    }
    for (const value of ['Infinity', '-Infinity', 'NaN', '1e308', '99999999999999999999999', '', ' 1']) {
      out.push(hostile('bounds', JSON.stringify(value), value));
    }
    out.push(hostile('mistyped', 'a word where a number is expected', 'abc'));
  }
  if (types.has('boolean')) {
    for (const value of ['yes', '2', '', 'TRUE'])
      out.push(hostile('mistyped', `boolean ${JSON.stringify(value)}`, value));
  }
  if (types.has('string')) {
    out.push(...textValues(stringSchemaOf(resolved, context)));
    if (isEnumLike(resolved)) out.push(hostile('mistyped', 'a value outside the enum', 'not_in_enum'));
  }
  if (name === 'cursor') out.push(...CURSORS, ...(realCursor ? tamperedCursors(realCursor) : []));
  return out;
}

/**
 * Hostile path segments as they go on the wire: `%ZZ` raw (an invalid escape on purpose),
 * unicode and SQL-ish text percent-encoded. A random uuid is added by the caller.
 */
export const HOSTILE_PATH_SEGMENTS: Hostile<string>[] = [
  hostile('path', 'not a uuid', 'not-a-uuid'),
  hostile('path', 'raw %ZZ', '%ZZ'),
  hostile('path', 'a very long string', 'a'.repeat(2_000)),
  hostile('path', 'unicode, percent-encoded', encodeURIComponent('ünï\u202E😀e\u0301')),
  hostile('path', 'SQL-ish, percent-encoded', encodeURIComponent("' or 1=1--")),
  hostile('path', 'path traversal, percent-encoded', '..%2F..%2Fetc%2Fpasswd'),
  hostile('path', 'encoded NUL', 'a%00b'),
  hostile('path', 'zero', '0'),
  hostile('path', 'minus one', '-1'),
];

/** Header values stay within what HTTP can carry (visible ASCII and Latin-1). */
export function hostileHeader(schema: JsonSchema): Hostile<string>[] {
  const out = [
    hostile('header', 'empty header', ''),
    hostile('header', 'whitespace-only header', '   '),
    hostile('header', '100,000-character header', 'k'.repeat(100_000)),
    hostile('header', 'SQL-ish header', "' or 1=1--"),
    hostile('header', 'Latin-1 header', 'caf\u00e9'),
  ];
  if (schema.maxLength !== undefined)
    out.push(hostile('header', 'maxLength+1 header', 'k'.repeat(schema.maxLength + 1)));
  return out;
}

/** Names for an unknown field: harmless, and the mass-assignment favourites. */
export const EXTRA_FIELD_NAMES = ['unexpected_field', 'role', 'is_admin', 'user_id', 'id', 'plan', '__proto__'];
