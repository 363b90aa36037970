import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const EVENT_SOURCES = ['server', 'client'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/**
 * Product events, sanitised and pseudonymous: `subject` is HMAC(user id, the person's secret),
 * null when the event is anonymous or the person has objected. Range-partitioned by month on
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
    // When the pseudonym began (the person's sign-up, or opt-in after an objection): cohorts and
    // "within N days" windows read it from the row itself, without a join.
    cohortAt: timestamp('cohort_at', { withTimezone: true }),
    source: text('source').$type<EventSource>().notNull(),
    // The person's plan and country when the event happened, for filters; never anything finer.
    plan: text('plan'),
    country: text('country'),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.occurredAt, table.id] }),
    // No index on name: reports scan a month's partition instead, and every index costs
    // each of the 500 rows of an ingest batch (migration 0013 dropped it).
    index('product_events_subject_occurred_at_idx').on(table.subject, table.occurredAt),
  ],
);

/**
 * The per-person secret behind the person's subject id. Withdrawing analytics consent or
 * erasure sets `secret` null (`forgotten_at`): past events stay counted but can no longer be
 * tied to the person, and new server events are stored without a subject until the person
 * opts in again.
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

/**
 * Anonymous client events already stored, one row per (device, event name, item, UTC day):
 * an anonymous event whose key is here is a duplicate and is not stored again, so a device
 * cannot inflate a count by repeating itself. `key` is the hex SHA-256 of those four parts,
 * so the device id itself is never stored. Rows older than the oldest time a client may
 * send are pruned by the maintenance job.
 */
export const analyticsAnonymousSeen = pgTable(
  'analytics_anonymous_seen',
  {
    day: date('day', { mode: 'string' }).notNull(),
    key: text('key').notNull(),
  },
  (table) => [primaryKey({ columns: [table.day, table.key] })],
);

/** Days whose metrics row the Google Sheets sync has appended: each day goes once. */
export const analyticsSheetDays = pgTable('analytics_sheet_days', {
  day: date('day', { mode: 'string' }).primaryKey(),
  syncedAt: timestamp('synced_at', { withTimezone: true }).notNull(),
});

/**
 * What each pseudonym has done, relative to when it began, kept up to date by every insert of
 * the person's events (in the same statement): the cohort reports read one row per person instead of
 * every event. Keyed by the pseudonym only; it outlives the raw events' roll-up.
 */
export const analyticsSubjectFacts = pgTable(
  'analytics_subject_facts',
  {
    subject: uuid('subject').primaryKey(),
    cohortAt: timestamp('cohort_at', { withTimezone: true }).notNull(),
    // The person's latest plan and country seen on an event.
    plan: text('plan'),
    country: text('country'),
    signedUp: boolean('signed_up').notNull(),
    // First time of each step (any time after the pseudonym began).
    profileAt: timestamp('profile_at', { withTimezone: true }),
    contentAt: timestamp('content_at', { withTimezone: true }),
    planViewAt: timestamp('plan_view_at', { withTimezone: true }),
    trialAt: timestamp('trial_at', { withTimezone: true }),
    premiumAt: timestamp('premium_at', { withTimezone: true }),
    searchAt: timestamp('search_at', { withTimezone: true }),
    slotAt: timestamp('slot_at', { withTimezone: true }),
    bookingAt: timestamp('booking_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    // Engagement events in the first 7 days; any event on days 7-13 and on days 30-36.
    engage7d: integer('engage_7d').notNull(),
    activeDay7: boolean('active_day_7').notNull(),
    activeDay30: boolean('active_day_30').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('analytics_subject_facts_cohort_at_idx').on(table.cohortAt),
    index('analytics_subject_facts_search_at_idx').on(table.searchAt),
  ],
);
