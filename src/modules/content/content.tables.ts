import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';
import { media } from '../media/media.tables.js';

export const CONTENT_TYPES = ['article', 'tip', 'diet_block', 'protection_block'] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];
export const CONTENT_STATUSES = ['draft', 'published', 'archived'] as const;
export type ContentStatus = (typeof CONTENT_STATUSES)[number];
export const CONTENT_TIERS = ['free', 'premium'] as const;
export type ContentTier = (typeof CONTENT_TIERS)[number];

/** Who a piece of content is for; every field optional, all given fields must match. */
export interface AudienceRules {
  min_age?: number;
  max_age?: number;
  diets?: string[];
  activity_levels?: string[];
  countries?: string[];
}

/**
 * A content item: its identity (slug, type) and lifecycle (status, schedule). What it says
 * lives in immutable versions; readers see `published_version`.
 */
export const contentItems = pgTable(
  'content_items',
  {
    id: uuid('id').primaryKey(),
    slug: text('slug').notNull(),
    type: text('type').$type<ContentType>().notNull(),
    status: text('status').$type<ContentStatus>().notNull(),
    currentVersion: integer('current_version').notNull(),
    publishedVersion: integer('published_version'),
    publishAt: timestamp('publish_at', { withTimezone: true }),
    createdBy: uuid('created_by'),
    /** The item's picture, shown with every version: an admin's upload (purpose `content`); null when none or deleted. */
    imageMediaId: uuid('image_media_id').references(() => media.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('content_items_slug_unique').on(table.slug),
    index('content_items_status_type_idx').on(table.status, table.type),
    index('content_items_image_media_id_idx').on(table.imageMediaId),
    check('content_items_type_check', sql`${table.type} in ('article', 'tip', 'diet_block', 'protection_block')`),
    check('content_items_status_check', sql`${table.status} in ('draft', 'published', 'archived')`),
  ],
);

/** Every edit is a new, immutable version. */
export const contentVersions = pgTable(
  'content_versions',
  {
    id: uuid('id').primaryKey(),
    contentId: uuid('content_id')
      .notNull()
      .references(() => contentItems.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    title: text('title').notNull(),
    summary: text('summary').notNull(),
    // Markdown; sanitised when rendered to HTML.
    body: text('body').notNull(),
    locale: text('locale').notNull(),
    tags: jsonb('tags').$type<string[]>().notNull(),
    audience: jsonb('audience').$type<AudienceRules>().notNull(),
    tier: text('tier').$type<ContentTier>().notNull(),
    sourceName: text('source_name'),
    sourceUrl: text('source_url'),
    editedBy: uuid('edited_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('content_versions_content_version_unique').on(table.contentId, table.version),
    // Full-text search over what readers see.
    index('content_versions_search_idx').using(
      'gin',
      sql`to_tsvector('simple', ${table.title} || ' ' || ${table.summary} || ' ' || ${table.body})`,
    ),
    check('content_versions_tier_check', sql`${table.tier} in ('free', 'premium')`),
  ],
);

/** One row per read, for content analytics; a reader's rows go when the reader is erased. */
export const contentViews = pgTable(
  'content_views',
  {
    id: uuid('id').primaryKey(),
    contentId: uuid('content_id')
      .notNull()
      .references(() => contentItems.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    viewedAt: timestamp('viewed_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('content_views_content_viewed_idx').on(table.contentId, table.viewedAt),
    index('content_views_user_id_idx').on(table.userId),
  ],
);

export type ContentItemRow = typeof contentItems.$inferSelect;
export type ContentVersionRow = typeof contentVersions.$inferSelect;
