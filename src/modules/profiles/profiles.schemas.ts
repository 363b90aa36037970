import { type TLiteral, type TUnion, Type } from '@sinclair/typebox';
import { ACTIVITY_LEVELS, DIET_PREFERENCES, GENDERS } from './profiles.tables.js';

/** A string enum whose static type keeps its literals. */
const oneOf = <T extends string>(values: readonly T[]) =>
  Type.Union(
    values.map((value) => Type.Literal(value)),
    { description: values.join(' | ') },
  ) as unknown as TUnion<TLiteral<T>[]>;

export const ProfileFields = Type.Object({
  age: Type.Union([Type.Integer({ minimum: 13, maximum: 120, description: 'years; or give birth_year' }), Type.Null()]),
  birth_year: Type.Union([Type.Integer({ minimum: 1900, maximum: 2100 }), Type.Null()]),
  gender: Type.Union([oneOf(GENDERS), Type.Null()]),
  country: Type.Union([
    Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. GB, KE, IN' }),
    Type.Null(),
  ]),
  region: Type.Union([
    Type.String({ minLength: 1, maxLength: 100, description: 'state, county or province' }),
    Type.Null(),
  ]),
  diet_preference: Type.Union([oneOf(DIET_PREFERENCES), Type.Null()]),
  activity_level: Type.Union([oneOf(ACTIVITY_LEVELS), Type.Null()]),
  preferred_language: Type.Union([
    Type.String({ pattern: '^[a-z]{2,3}(-[A-Z]{2})?$', description: 'e.g. en, fr, pt-BR' }),
    Type.Null(),
  ]),
});

export const ProfileBody = Type.Partial(ProfileFields, { additionalProperties: false });

export const ProfileSchema = Type.Object({
  ...ProfileFields.properties,
  completion: Type.Integer({ minimum: 0, maximum: 100, description: 'how complete the profile is, in percent' }),
  missing_fields: Type.Array(Type.String(), { description: 'what would personalise plans further' }),
  completed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
