import { invalidField } from '../errors.js';
import { isTimeInRange } from './http-schemas.js';

/**
 * Keyset cursors: the sort key of a page's last row, as base64url JSON. A cursor comes back
 * from the client, so every field is checked before it reaches a query; anything else is
 * 400 on `query.cursor`, never a database error.
 */
export interface CursorField<T> {
  encode(value: T): string | number;
  /** The value, or undefined when `raw` is not one this field writes. */
  decode(raw: unknown): T | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const cursorField = {
  uuid: {
    encode: (value: string) => value,
    decode: (raw: unknown) => (typeof raw === 'string' && UUID.test(raw) ? raw : undefined),
  } satisfies CursorField<string>,
  time: {
    encode: (value: Date) => value.toISOString(),
    decode: (raw: unknown) => (typeof raw === 'string' && isTimeInRange(raw) ? new Date(raw) : undefined),
  } satisfies CursorField<Date>,
  number: {
    encode: (value: number) => value,
    decode: (raw: unknown) => (typeof raw === 'number' && Number.isFinite(raw) ? raw : undefined),
  } satisfies CursorField<number>,
  oneOf: <const V extends string>(values: readonly V[]): CursorField<V> => ({
    encode: (value) => value,
    decode: (raw) => ((values as readonly unknown[]).includes(raw) ? (raw as V) : undefined),
  }),
};

export interface CursorCodec<T> {
  encode(value: T): string;
  /** The cursor's fields; 400 VALIDATION_ERROR on `query.cursor` when it is not one `encode` wrote. */
  decode(cursor: string): T;
}

/**
 * A codec for one list's cursors. Fields whose value is undefined are left out when encoding
 * and must then be optional (`T[K]` includes undefined) when decoding.
 */
export function cursorCodec<T extends object>(
  fields: { [K in keyof T]-?: CursorField<Exclude<T[K], undefined>> },
  options: { optional?: (keyof T)[]; hint?: string } = {},
): CursorCodec<T> {
  const names = Object.keys(fields) as (keyof T & string)[];
  const optional = new Set<keyof T>(options.optional ?? []);
  const refuse = () =>
    invalidField('query.cursor', options.hint ?? 'is not a cursor of this list (pass meta.next_cursor as given)');
  return {
    encode(value) {
      const out: Record<string, string | number> = {};
      for (const name of names) {
        const item = value[name];
        if (item !== undefined) out[name] = fields[name].encode(item as Exclude<T[typeof name], undefined>);
      }
      return Buffer.from(JSON.stringify(out), 'utf8').toString('base64url');
    },
    decode(cursor) {
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        throw refuse();
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw refuse();
      const record = raw as Record<string, unknown>;
      // Own fields only: `in` would also accept keys every object inherits (`__proto__`, `constructor`).
      if (Object.keys(record).some((key) => !Object.hasOwn(fields, key))) throw refuse();
      const out: Record<string, unknown> = {};
      for (const name of names) {
        if (record[name] === undefined) {
          if (!optional.has(name)) throw refuse();
          continue;
        }
        const value = fields[name].decode(record[name]);
        if (value === undefined) throw refuse();
        out[name] = value;
      }
      return out as T;
    },
  };
}
