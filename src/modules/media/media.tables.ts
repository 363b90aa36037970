import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const MEDIA_PURPOSES = ['avatar', 'gallery', 'service', 'content', 'document'] as const;
export type MediaPurpose = (typeof MEDIA_PURPOSES)[number];

export const VARIANT_NAMES = ['thumbnail', 'card', 'full'] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

/** One stored rendition of an image; `key` is content-addressed (the SHA-256 of its bytes). */
export interface StoredVariant {
  key: string;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
}

/** An uploaded image: who uploaded it, for what, and its resized variants (the original is not kept). */
export const media = pgTable(
  'media',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<MediaPurpose>().notNull(),
    /** What the upload's bytes were (sniffed, not what the client said). */
    sourceType: text('source_type').notNull(),
    sourceBytes: bigint('source_bytes', { mode: 'number' }).notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    variants: jsonb('variants').$type<Record<VariantName, StoredVariant[]>>().notNull(),
    /** Every variant's key, to find whether another upload still uses one before it is deleted. */
    keys: text('keys').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('media_user_id_idx').on(table.userId, table.createdAt),
    index('media_keys_idx').using('gin', table.keys),
    check('media_purpose_check', sql`${table.purpose} in ('avatar', 'gallery', 'service', 'content', 'document')`),
  ],
);

export type MediaRow = typeof media.$inferSelect;
