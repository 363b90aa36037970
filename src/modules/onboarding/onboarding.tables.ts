import { sql } from 'drizzle-orm';
import { check, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const APPLICATION_STATUSES = ['pending', 'approved', 'rejected'] as const;
export type ApplicationStatus = (typeof APPLICATION_STATUSES)[number];

/** A person's request to become a provider, and the admin's decision on it. */
export const providerApplications = pgTable(
  'provider_applications',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    businessName: text('business_name').notNull(),
    bio: text('bio').notNull(),
    city: text('city').notNull(),
    country: text('country').notNull(),
    languages: jsonb('languages').$type<string[]>().notNull(),
    /** Category ids the applicant means to offer services in. */
    categoryIds: jsonb('category_ids').$type<string[]>().notNull(),
    /** Uploaded media (licences, certificates) the admin reviews. */
    documentMediaIds: jsonb('document_media_ids').$type<string[]>().notNull(),
    status: text('status').$type<ApplicationStatus>().notNull(),
    /** Why it was rejected (shown to the applicant). */
    reason: text('reason'),
    reviewedBy: uuid('reviewed_by').references(() => users.id, { onDelete: 'set null' }),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    // One open application a person at a time.
    uniqueIndex('provider_applications_pending_unique').on(table.userId).where(sql`${table.status} = 'pending'`),
    index('provider_applications_status_idx').on(table.status, table.createdAt),
    index('provider_applications_user_id_idx').on(table.userId),
    check('provider_applications_status_check', sql`${table.status} in ('pending', 'approved', 'rejected')`),
  ],
);

export type ProviderApplicationRow = typeof providerApplications.$inferSelect;
