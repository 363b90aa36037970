import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const CONSENT_PURPOSES = ['whatsapp', 'sms', 'marketing', 'analytics', 'data_processing'] as const;
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];

export const CONSENT_SOURCES = ['signup', 'user', 'admin', 'erasure'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

const purposeCheck = (column: unknown) =>
  sql`${column} in ('whatsapp', 'sms', 'marketing', 'analytics', 'data_processing')`;

/** The text users agree to, per purpose; a new version asks everyone to agree again. */
export const consentNotices = pgTable(
  'consent_notices',
  {
    id: uuid('id').primaryKey(),
    purpose: text('purpose').$type<ConsentPurpose>().notNull(),
    version: integer('version').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    createdBy: uuid('created_by'),
    publishedAt: timestamp('published_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('consent_notices_purpose_version_unique').on(table.purpose, table.version),
    check('consent_notices_purpose_check', purposeCheck(table.purpose)),
    check('consent_notices_version_check', sql`${table.version} >= 1`),
  ],
);

/**
 * Every consent change, appended and never rewritten (a trigger rejects UPDATE, migration
 * 0006). Rows go only when the person is erased.
 */
export const consentRecords = pgTable(
  'consent_records',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<ConsentPurpose>().notNull(),
    granted: boolean('granted').notNull(),
    noticeVersion: integer('notice_version').notNull(),
    source: text('source').$type<ConsentSource>().notNull(),
    ip: text('ip'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('consent_records_user_id_created_at_idx').on(table.userId, table.createdAt),
    check('consent_records_purpose_check', purposeCheck(table.purpose)),
  ],
);

/** The current state per user and purpose, kept in step with the history in one transaction. */
export const consents = pgTable(
  'consents',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<ConsentPurpose>().notNull(),
    granted: boolean('granted').notNull(),
    noticeVersion: integer('notice_version').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.purpose] }),
    check('consents_purpose_check', purposeCheck(table.purpose)),
  ],
);

export type ConsentNoticeRow = typeof consentNotices.$inferSelect;
export type ConsentRecordRow = typeof consentRecords.$inferSelect;
export type ConsentRow = typeof consents.$inferSelect;
