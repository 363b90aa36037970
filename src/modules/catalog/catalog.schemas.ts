import { type Static, Type } from '@sinclair/typebox';
import { DateTime, idPageQuery, literals, Nullable, pageQuery, Uuid } from '../../shared/http-schemas.js';
import { CardImageSchema, ImageSchema } from '../media/index.js';
import { PAYMENT_MODES, VERIFICATION_STATES } from './catalog.tables.js';

/** At most this many photos in a provider's gallery (provider_gallery.position is 0..11). */
export const MAX_GALLERY = 12;

const MediaRef = (purpose: string, what: string) =>
  Nullable({
    ...Uuid,
    description: `${what}: the id of one of your uploads made with \`POST /media?purpose=${purpose}\`; null removes it`,
  });

// --- categories ---

const Slug = Type.String({ pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$', minLength: 1, maxLength: 80 });
const CategoryName = Type.String({ minLength: 1, maxLength: 100 });

export const CategorySchema = Type.Object({
  id: Uuid,
  parent_id: Nullable(Uuid),
  slug: Type.String(),
  name: Type.String(),
  active: Type.Boolean(),
});
export type Category = Static<typeof CategorySchema>;

export const CreateCategoryBody = Type.Object(
  { slug: Slug, name: CategoryName, parent_id: Type.Optional(Nullable(Uuid)), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type CreateCategoryInput = Static<typeof CreateCategoryBody>;

export const UpdateCategoryBody = Type.Object(
  {
    slug: Type.Optional(Slug),
    name: Type.Optional(CategoryName),
    parent_id: Type.Optional(Nullable(Uuid)),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateCategoryInput = Static<typeof UpdateCategoryBody>;

// --- providers ---

export const VerificationSchema = literals(VERIFICATION_STATES);

const PublicProviderFields = {
  id: Uuid,
  display_name: Type.String(),
  bio: Type.String(),
  city: Nullable(Type.String()),
  country: Nullable(Type.String()),
  languages: Type.Array(Type.String()),
  time_zone: Type.String(),
  rating_average: Nullable(Type.Number()),
  rating_count: Type.Integer(),
};

export const PublicProviderSchema = Type.Object(PublicProviderFields);
export type PublicProvider = Static<typeof PublicProviderSchema>;

export const OwnProviderSchema = Type.Object({
  ...PublicProviderFields,
  avatar_media_id: Nullable({ ...Uuid, description: 'your profile photo (an upload of yours); null when none' }),
  verification: VerificationSchema,
  verification_reason: Nullable(Type.String()),
  auto_confirm: Type.Boolean(),
  created_at: DateTime,
  updated_at: DateTime,
});
export type OwnProvider = Static<typeof OwnProviderSchema>;

export const AdminProviderSchema = Type.Object({
  ...OwnProviderSchema.properties,
  user_id: Uuid,
});
export type AdminProvider = Static<typeof AdminProviderSchema>;

export const UpdateProfileBody = Type.Object(
  {
    display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    bio: Type.Optional(Type.String({ maxLength: 4000 })),
    city: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
    country: Type.Optional(
      Nullable(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, uppercase' })),
    ),
    languages: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z]{2}$', description: 'ISO 639-1, lowercase' }), {
        maxItems: 20,
        uniqueItems: true,
      }),
    ),
    time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone' })),
    auto_confirm: Type.Optional(Type.Boolean()),
    avatar_media_id: Type.Optional(MediaRef('avatar', 'your profile photo')),
  },
  { additionalProperties: false },
);
export type UpdateProfileInput = Static<typeof UpdateProfileBody>;

export const AdminProvidersQuery = Type.Object(
  {
    verification: Type.Optional(VerificationSchema),
    ...idPageQuery(20),
  },
  { additionalProperties: false },
);
export type AdminProvidersQueryInput = Static<typeof AdminProvidersQuery>;

export const VerifyProviderBody = Type.Object(
  {
    verification: VerificationSchema,
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'required when rejected' })),
  },
  { additionalProperties: false },
);
export type VerifyProviderInput = Static<typeof VerifyProviderBody>;

export const ReplaceGalleryBody = Type.Object(
  {
    media_ids: Type.Array(Uuid, {
      maxItems: MAX_GALLERY,
      uniqueItems: true,
      description: `the gallery in the order shown: ids of your uploads made with \`POST /media?purpose=gallery\` (at most ${MAX_GALLERY}; [] empties it)`,
    }),
  },
  { additionalProperties: false },
);
export type ReplaceGalleryInput = Static<typeof ReplaceGalleryBody>;

// --- services ---

const serviceFields = {
  name: Type.String({ minLength: 1, maxLength: 120 }),
  description: Type.String({ maxLength: 4000 }),
  category_id: Uuid,
  duration_minutes: Type.Integer({ minimum: 5, maximum: 1440 }),
  buffer_minutes: Type.Integer({ minimum: 0, maximum: 240 }),
  price_minor: Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'integer minor units' }),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, uppercase' }),
  is_active: Type.Boolean(),
  payment: literals(
    PAYMENT_MODES,
    'required: paid online when booked (the provider must be set up for payouts); at_visit: paid at the visit',
  ),
  free_cancel_hours: Type.Integer({
    minimum: 0,
    maximum: 720,
    description: 'a paid booking cancelled by the customer until this many hours before the start is refunded in full',
  }),
  late_cancel_fee_bps: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    description: 'after that, this share of the price (basis points) is kept and the rest refunded',
  }),
  image_media_id: MediaRef('service', "the service's photo"),
};

export const CreateServiceBody = Type.Object(
  {
    name: serviceFields.name,
    description: Type.Optional(serviceFields.description),
    category_id: serviceFields.category_id,
    duration_minutes: serviceFields.duration_minutes,
    buffer_minutes: Type.Optional(serviceFields.buffer_minutes),
    price_minor: serviceFields.price_minor,
    currency: serviceFields.currency,
    is_active: Type.Optional(serviceFields.is_active),
    payment: Type.Optional({ ...serviceFields.payment, default: 'at_visit' }),
    free_cancel_hours: Type.Optional({ ...serviceFields.free_cancel_hours, default: 24 }),
    late_cancel_fee_bps: Type.Optional({ ...serviceFields.late_cancel_fee_bps, default: 0 }),
    image_media_id: Type.Optional(serviceFields.image_media_id),
  },
  { additionalProperties: false },
);
export type CreateServiceInput = Static<typeof CreateServiceBody>;

export const UpdateServiceBody = Type.Partial(Type.Object(serviceFields), {
  additionalProperties: false,
  minProperties: 1,
});
export type UpdateServiceInput = Static<typeof UpdateServiceBody>;

export const ServiceSchema = Type.Object({
  id: Uuid,
  provider_id: Uuid,
  name: Type.String(),
  description: Type.String(),
  category_id: Uuid,
  duration_minutes: Type.Integer(),
  buffer_minutes: Type.Integer(),
  price_minor: Type.Integer(),
  currency: Type.String(),
  is_active: Type.Boolean(),
  payment: serviceFields.payment,
  free_cancel_hours: Type.Integer(),
  late_cancel_fee_bps: Type.Integer(),
  image_media_id: Nullable(Uuid),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Service = Static<typeof ServiceSchema>;

// --- search ---

export const SEARCH_SORTS = ['relevance', 'price', 'rating', 'newest'] as const;

export const SearchQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 200 })),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 80, description: 'category slug or id' })),
    city: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    min_price: Type.Optional(Type.Integer({ minimum: 0, maximum: serviceFields.price_minor.maximum })),
    max_price: Type.Optional(Type.Integer({ minimum: 0, maximum: serviceFields.price_minor.maximum })),
    min_rating: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
    provider_id: Type.Optional({ ...Uuid, description: "only this provider's services" }),
    currency: Type.Optional({
      ...serviceFields.currency,
      description:
        'only services priced in this currency (ISO 4217). Needed by `sort=price`, `min_price` and `max_price` when the matches are priced in more than one currency.',
    }),
    sort: Type.Optional(literals(SEARCH_SORTS)),
    ...pageQuery(20),
  },
  { additionalProperties: false },
);
export type SearchQueryInput = Static<typeof SearchQuery>;

export const SearchResultSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  duration_minutes: Type.Integer(),
  price_minor: Type.Integer(),
  currency: Type.String(),
  category: Type.Object({ id: Uuid, slug: Type.String(), name: Type.String() }),
  provider: Type.Object({
    id: Uuid,
    display_name: Type.String(),
    city: Nullable(Type.String()),
    country: Nullable(Type.String()),
    rating_average: Nullable(Type.Number()),
    rating_count: Type.Integer(),
  }),
  image: Nullable(CardImageSchema),
  created_at: DateTime,
});
export type SearchResult = Static<typeof SearchResultSchema>;

/** One bookable service as anyone sees it: the search result with its payment and cancellation terms. */
export const PublicServiceSchema = Type.Composite([
  Type.Omit(SearchResultSchema, ['image']),
  Type.Object({
    image: Nullable(ImageSchema),
    buffer_minutes: Type.Integer(),
    payment: serviceFields.payment,
    free_cancel_hours: serviceFields.free_cancel_hours,
    late_cancel_fee_bps: serviceFields.late_cancel_fee_bps,
  }),
]);
export type PublicService = Static<typeof PublicServiceSchema>;

/** A provider's active service as listed on the provider's page. */
export const ProviderPageServiceSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  category_id: Uuid,
  duration_minutes: Type.Integer(),
  price_minor: Type.Integer(),
  currency: Type.String(),
  payment: serviceFields.payment,
  image: Nullable(CardImageSchema),
});
export type ProviderPageService = Static<typeof ProviderPageServiceSchema>;

/** A verified provider's public profile and their active services, newest first. */
export const ProviderPageSchema = Type.Object({
  ...PublicProviderFields,
  avatar: Nullable(ImageSchema),
  gallery: Type.Array(ImageSchema, { description: "the provider's photos in their order (at most 12)" }),
  services: Type.Array(ProviderPageServiceSchema),
});
export type ProviderPage = Static<typeof ProviderPageSchema>;
