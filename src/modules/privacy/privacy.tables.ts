import { sql } from 'drizzle-orm';
import { check, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const EXPORT_STATUSES = ['pending', 'ready', 'failed', 'expired'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** Data-export jobs (GDPR Art. 15/20): the document is built by a worker and kept a few days. */
export const dataExports = pgTable(
  'data_exports',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: text('status').$type<ExportStatus>().notNull(),
    document: jsonb('document').$type<Record<string, unknown>>(),
    error: text('error'),
    requestedAt: timestamp('requested_at', { withTimezone: true }).notNull(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (table) => [
    index('data_exports_user_id_idx').on(table.userId),
    index('data_exports_expires_at_idx').on(table.expiresAt),
    check('data_exports_status_check', sql`${table.status} in ('pending', 'ready', 'failed', 'expired')`),
  ],
);

/**
 * Erasure receipts: proof that an erasure happened, naming the person only by a keyed hash
 * of the former id (so a receipt can be matched when the person asks, and nothing else).
 */
export const erasureReceipts = pgTable(
  'erasure_receipts',
  {
    id: uuid('id').primaryKey(),
    subjectHash: text('subject_hash').notNull(),
    requestedBy: text('requested_by').$type<'self' | 'admin'>().notNull(),
    summary: jsonb('summary').$type<Record<string, unknown>>().notNull(),
    erasedAt: timestamp('erased_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('erasure_receipts_subject_hash_idx').on(table.subjectHash),
    check('erasure_receipts_requested_by_check', sql`${table.requestedBy} in ('self', 'admin')`),
  ],
);

export type DataExportRow = typeof dataExports.$inferSelect;
