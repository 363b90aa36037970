import { sql } from 'drizzle-orm';
import { check, date, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const EVENT_SOURCES = ['server', 'client'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/**
 * Product events, sanitised and pseudonymous: `subject` is HMAC(user id, her secret), null
 * when the event is anonymous or she has objected. Range-partitioned by month on
 * `occurred_at` (migration 0011; the partitions are made ahead by the maintenance job), so
 * there is no single-column primary key: `(occurred_at, id)` identifies a row.
 */
export const productEvents = pgTable(
  'product_events',
  {
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    subject: uuid('subject'),
    source: text('source').$type<EventSource>().notNull(),
    // Her plan and country when the event happened, for filters; never anything finer.
    plan: text('plan'),
    country: text('country'),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.occurredAt, table.id] }),
    index('product_events_name_occurred_at_idx').on(table.name, table.occurredAt),
    index('product_events_subject_occurred_at_idx').on(table.subject, table.occurredAt),
  ],
);

/**
 * The per-person secret behind her subject id. Withdrawing analytics consent or erasure
 * sets `secret` null (`forgotten_at`): her past events stay counted but can no longer be
 * tied to her, and new server events are stored without a subject until she opts in again.
 */
export const analyticsSubjectKeys = pgTable('analytics_subject_keys', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secret: text('secret'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  forgottenAt: timestamp('forgotten_at', { withTimezone: true }),
});

/** Raw events older than the raw-retention window, rolled up per day (the roll-up job). */
export const productEventDaily = pgTable(
  'product_event_daily',
  {
    day: date('day', { mode: 'string' }).notNull(),
    name: text('name').notNull(),
    source: text('source').$type<EventSource>().notNull(),
    // '' = unknown; part of the key, so never null.
    plan: text('plan').notNull(),
    country: text('country').notNull(),
    events: integer('events').notNull(),
    subjects: integer('subjects').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.day, table.name, table.source, table.plan, table.country] }),
    check('product_event_daily_counts_check', sql`${table.events} >= 0 and ${table.subjects} >= 0`),
  ],
);

/** Days whose metrics row the Google Sheets sync has appended: each day goes once. */
export const analyticsSheetDays = pgTable('analytics_sheet_days', {
  day: date('day', { mode: 'string' }).primaryKey(),
  syncedAt: timestamp('synced_at', { withTimezone: true }).notNull(),
});
