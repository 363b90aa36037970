import { type Static, Type } from '@sinclair/typebox';
import { DateTime, idPageQuery, literals, Nullable, pageQuery, Uuid } from '../../shared/http-schemas.js';
import { ImageSchema } from '../media/index.js';
import { ACTIVITY_LEVELS, DIET_PREFERENCES } from '../profiles/profiles.tables.js';
import { CONTENT_STATUSES, CONTENT_TIERS, CONTENT_TYPES } from './content.tables.js';

export const ContentTypeSchema = literals(CONTENT_TYPES);
export const ContentStatusSchema = literals(CONTENT_STATUSES);
export const ContentTierSchema = literals(CONTENT_TIERS);
export const BlockTypeSchema = literals(['diet_block', 'protection_block'] as const);

const KEBAB = '^[a-z0-9]+(?:-[a-z0-9]+)*$';
const Slug = Type.String({ pattern: KEBAB, minLength: 1, maxLength: 120, description: 'lowercase kebab-case, unique' });
const Tag = Type.String({ pattern: KEBAB, minLength: 1, maxLength: 40 });
const Locale = Type.String({ pattern: '^[a-z]{2}(?:-[A-Z]{2})?$', description: 'BCP 47 language, e.g. en or en-GB' });
const Age = Type.Integer({ minimum: 0, maximum: 120 });

/** Who an item is for; every rule optional, all given rules must match the reader's profile. */
export const AudienceSchema = Type.Object(
  {
    min_age: Type.Optional(Age),
    max_age: Type.Optional(Age),
    diets: Type.Optional(Type.Array(literals(DIET_PREFERENCES), { minItems: 1, uniqueItems: true })),
    activity_levels: Type.Optional(Type.Array(literals(ACTIVITY_LEVELS), { minItems: 1, uniqueItems: true })),
    countries: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, uppercase' }), {
        minItems: 1,
        maxItems: 250,
        uniqueItems: true,
      }),
    ),
  },
  { additionalProperties: false },
);

// What an edit may change; each edit with any of these is a new version.
const contentFields = {
  title: Type.String({ minLength: 1, maxLength: 200 }),
  summary: Type.String({ minLength: 1, maxLength: 600 }),
  body: Type.String({ minLength: 1, maxLength: 100_000, description: 'Markdown (raw HTML is not rendered)' }),
  locale: Locale,
  tags: Type.Array(Tag, { maxItems: 20, uniqueItems: true }),
  audience: AudienceSchema,
  tier: ContentTierSchema,
  source_name: Nullable(Type.String({ minLength: 1, maxLength: 200 })),
  source_url: Nullable(Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 })),
};

export const CONTENT_FIELDS = Object.keys(contentFields) as (keyof typeof contentFields)[];

/** The item's picture: not versioned, shown with whichever version readers see. */
const ImageMediaId = Nullable({
  ...Uuid,
  description:
    'the picture shown with the item: the id of one of your uploads made with `POST /media?purpose=content`; null removes it',
});

export const CreateContentBody = Type.Object(
  {
    type: ContentTypeSchema,
    slug: Slug,
    title: contentFields.title,
    summary: contentFields.summary,
    body: contentFields.body,
    locale: Type.Optional({ ...contentFields.locale, default: 'en' }),
    tags: Type.Optional(contentFields.tags),
    audience: Type.Optional(contentFields.audience),
    tier: Type.Optional(contentFields.tier),
    status: Type.Optional(ContentStatusSchema),
    publish_at: Type.Optional(Nullable(DateTime)),
    source_name: Type.Optional(contentFields.source_name),
    source_url: Type.Optional(contentFields.source_url),
    image_media_id: Type.Optional(ImageMediaId),
  },
  { additionalProperties: false },
);
export type CreateContentInput = Static<typeof CreateContentBody>;

export const UpdateContentBody = Type.Object(
  {
    slug: Type.Optional(Slug),
    title: Type.Optional(contentFields.title),
    summary: Type.Optional(contentFields.summary),
    body: Type.Optional(contentFields.body),
    locale: Type.Optional(contentFields.locale),
    tags: Type.Optional(contentFields.tags),
    audience: Type.Optional({ ...contentFields.audience, description: 'replaces the rules as a whole' }),
    tier: Type.Optional(contentFields.tier),
    status: Type.Optional(ContentStatusSchema),
    publish_at: Type.Optional(Nullable(DateTime)),
    source_name: Type.Optional(contentFields.source_name),
    source_url: Type.Optional(contentFields.source_url),
    image_media_id: Type.Optional(ImageMediaId),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateContentInput = Static<typeof UpdateContentBody>;

export const SlugParams = Type.Object({ slug: Type.String({ minLength: 1, maxLength: 120 }) });

export const AdminListQuery = Type.Object(
  {
    type: Type.Optional(ContentTypeSchema),
    status: Type.Optional(ContentStatusSchema),
    ...idPageQuery(50),
  },
  { additionalProperties: false },
);

export const BrowseQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'full-text search over title, summary and body' }),
    ),
    tag: Type.Optional(Tag),
    locale: Type.Optional(Locale),
    tier: Type.Optional(ContentTierSchema),
    type: Type.Optional(ContentTypeSchema),
    ...pageQuery(20),
  },
  { additionalProperties: false },
);
export type BrowseInput = Static<typeof BrowseQuery>;

const versionFields = {
  title: Type.String(),
  summary: Type.String(),
  locale: Type.String(),
  tags: Type.Array(Type.String()),
  audience: AudienceSchema,
  tier: ContentTierSchema,
  source_name: Nullable(Type.String()),
  source_url: Nullable(Type.String()),
};

/** An item as admins see it: lifecycle plus its newest version (body only on the single item). */
export const AdminContentSummarySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  type: ContentTypeSchema,
  status: ContentStatusSchema,
  version: Type.Integer({ description: 'the newest version' }),
  published_version: Nullable(Type.Integer({ description: 'the version readers see; null for a draft' })),
  publish_at: Nullable(DateTime),
  ...versionFields,
  image_media_id: Nullable(Type.String({ format: 'uuid', description: 'the picture shown with the item' })),
  created_at: DateTime,
  updated_at: DateTime,
});
export const AdminContentSchema = Type.Object({ ...AdminContentSummarySchema.properties, body: Type.String() });

export const ContentVersionSchema = Type.Object({
  version: Type.Integer(),
  ...versionFields,
  body: Type.String(),
  edited_by: Nullable(Type.String({ format: 'uuid' })),
  created_at: DateTime,
});

/** What a list shows a reader: no body. */
export const ContentTeaserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  type: ContentTypeSchema,
  title: Type.String(),
  summary: Type.String(),
  tags: Type.Array(Type.String()),
  tier: ContentTierSchema,
  locale: Type.String(),
  image: Nullable(ImageSchema),
  published_at: DateTime,
});

export const ContentArticleSchema = Type.Object({
  ...ContentTeaserSchema.properties,
  body: Type.String({ description: 'Markdown' }),
  body_html: Type.String({ description: 'the body rendered to HTML; raw HTML escaped, unsafe links dropped' }),
  source_name: Nullable(Type.String()),
  source_url: Nullable(Type.String()),
  note: Type.String({ description: 'not medical advice' }),
});

/** 403 PREMIUM_REQUIRED on a premium item: the error plus a teaser of what it is. */
export const PremiumRequiredResponse = Type.Object(
  {
    success: Type.Literal(false),
    message: Type.String(),
    code: Type.String({ description: 'PREMIUM_REQUIRED' }),
    correlation_id: Type.String(),
    title: Type.Optional(Type.String({ description: 'teaser: the item title' })),
    summary: Type.Optional(Type.String({ description: 'teaser: the item summary' })),
  },
  { description: 'Error: PREMIUM_REQUIRED, with a teaser (`title`, `summary`) of the premium item' },
);
