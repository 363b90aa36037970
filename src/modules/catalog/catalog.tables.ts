import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';
import { media } from '../media/media.tables.js';

/** The service category tree. */
export const categories = pgTable(
  'categories',
  {
    id: uuid('id').primaryKey(),
    parentId: uuid('parent_id').references((): AnyPgColumn => categories.id, { onDelete: 'restrict' }),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('categories_slug_unique').on(table.slug),
    index('categories_parent_id_idx').on(table.parentId),
  ],
);

export const VERIFICATION_STATES = ['pending', 'verified', 'rejected'] as const;
export type Verification = (typeof VERIFICATION_STATES)[number];

/** A provider's public profile, owned by a user with role `provider`. */
export const providers = pgTable(
  'providers',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    displayName: text('display_name').notNull(),
    bio: text('bio').notNull().default(''),
    city: text('city'),
    country: text('country'),
    languages: jsonb('languages').$type<string[]>().notNull(),
    timeZone: text('time_zone').notNull(),
    verification: text('verification').$type<Verification>().notNull(),
    verificationReason: text('verification_reason'),
    autoConfirm: boolean('auto_confirm').notNull().default(false),
    ratingAverage: numeric('rating_average', { precision: 3, scale: 2, mode: 'number' }),
    ratingCount: integer('rating_count').notNull().default(0),
    ratingSum: integer('rating_sum').notNull().default(0),
    // Set by the payments module from the gateway's onboarding: only then may the provider sell paid services.
    payoutsEnabled: boolean('payouts_enabled').notNull().default(false),
    /** The profile photo: one of the provider's own uploads (purpose `avatar`); null when none or deleted. */
    avatarMediaId: uuid('avatar_media_id').references(() => media.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('providers_user_id_unique').on(table.userId),
    index('providers_verification_idx').on(table.verification),
    index('providers_city_idx').on(table.city),
    index('providers_avatar_media_id_idx').on(table.avatarMediaId),
    check('providers_verification_check', sql`${table.verification} in ('pending', 'verified', 'rejected')`),
    check('providers_rating_check', sql`${table.ratingCount} >= 0 and ${table.ratingSum} >= 0`),
  ],
);

/** PostgreSQL's parsed full-text document, as the text of its lexemes (the app never reads it back). */
const tsvector = customType<{ data: string; driverData: string }>({ dataType: () => 'tsvector' });

/** A bookable service. The search document is kept by the catalog (name, description, category, provider). */
export const services = pgTable(
  'services',
  {
    id: uuid('id').primaryKey(),
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'cascade' }),
    categoryId: uuid('category_id')
      .notNull()
      .references(() => categories.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    durationMinutes: integer('duration_minutes').notNull(),
    bufferMinutes: integer('buffer_minutes').notNull().default(0),
    priceMinor: integer('price_minor').notNull(),
    currency: text('currency').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    /** `required`: paid when booked, online; `at_visit`: paid to the provider at the visit. */
    paymentMode: text('payment_mode').$type<PaymentMode>().notNull().default('at_visit'),
    /** The cancellation policy of a paid booking: free until this many hours before the start… */
    freeCancelHours: integer('free_cancel_hours').notNull().default(24),
    /** …then this share of the price is kept (basis points). */
    lateCancelFeeBps: integer('late_cancel_fee_bps').notNull().default(0),
    // Denormalised text for search: service name and description, category name, provider name.
    searchText: text('search_text').notNull().default(''),
    // The search document parsed once, when it is written: matching and ranking read it instead of
    // parsing the text of every candidate row again (ts_rank on to_tsvector(search_text) did).
    searchVector: tsvector('search_vector').notNull().generatedAlwaysAs(sql`to_tsvector('simple', search_text)`),
    /** The service's photo: one of its provider's uploads (purpose `service`); null when none or deleted. */
    imageMediaId: uuid('image_media_id').references(() => media.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('services_provider_id_idx').on(table.providerId),
    index('services_category_id_idx').on(table.categoryId),
    index('services_image_media_id_idx').on(table.imageMediaId),
    index('services_search_vector_idx').using('gin', table.searchVector),
    // Release 0.1.0 searches through these two (full text on the expression, then trigram
    // similarity); they stay until no running release does (drop them in a later migration).
    index('services_search_idx').using('gin', sql`to_tsvector('simple', ${table.searchText})`),
    index('services_search_trgm_idx').using('gin', sql`${table.searchText} gin_trgm_ops`),
    index('services_price_idx').on(table.priceMinor),
    check('services_duration_check', sql`${table.durationMinutes} between 5 and 1440`),
    check('services_buffer_check', sql`${table.bufferMinutes} between 0 and 240`),
    check('services_price_check', sql`${table.priceMinor} >= 0`),
    check('services_currency_check', sql`${table.currency} ~ '^[A-Z]{3}$'`),
    check('services_payment_mode_check', sql`${table.paymentMode} in ('required', 'at_visit')`),
    check('services_free_cancel_hours_check', sql`${table.freeCancelHours} between 0 and 720`),
    check('services_late_cancel_fee_check', sql`${table.lateCancelFeeBps} between 0 and 10000`),
  ],
);

/**
 * The words of service and category names, each with its single-letter deletions (the word itself
 * included, as `variant = word`), for the typo fallback of search: two words are one edit apart
 * only if they share a variant, so the words near a query word are an index look-up of its own
 * variants (catalog.typos.ts). Added to by every refresh of a search document, never pruned: a
 * word no service uses any longer corrects to a search that finds nothing.
 */
export const searchVocabulary = pgTable(
  'search_vocabulary',
  {
    variant: text('variant').notNull(),
    word: text('word').notNull(),
  },
  (table) => [primaryKey({ name: 'search_vocabulary_pkey', columns: [table.variant, table.word] })],
);

/** A provider's photo gallery, in the provider's order (at most 12 photos, kept by the catalog). */
export const providerGallery = pgTable(
  'provider_gallery',
  {
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'cascade' }),
    mediaId: uuid('media_id')
      .notNull()
      .references(() => media.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
  },
  (table) => [
    primaryKey({ name: 'provider_gallery_pkey', columns: [table.providerId, table.mediaId] }),
    index('provider_gallery_media_id_idx').on(table.mediaId),
    check('provider_gallery_position_check', sql`${table.position} between 0 and 11`),
  ],
);

export const PAYMENT_MODES = ['required', 'at_visit'] as const;
export type PaymentMode = (typeof PAYMENT_MODES)[number];

export type CategoryRow = typeof categories.$inferSelect;
export type ProviderRow = typeof providers.$inferSelect;
export type ServiceRow = typeof services.$inferSelect;
export type ProviderGalleryRow = typeof providerGallery.$inferSelect;
