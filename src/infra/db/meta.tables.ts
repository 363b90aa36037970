import { sql } from 'drizzle-orm';
import { jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** Facts about this database itself, such as when demo data was seeded. */
export const appMeta = pgTable('app_meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

/**
 * This database's identity: one row, written once by migration 0027, never changed. It names the
 * Redis key namespace (`care:<id>:`) unless REDIS_KEY_PREFIX is set, so two databases that share
 * one Redis never read each other's caches, counters or channels.
 */
export const deployment = pgTable(
  'deployment',
  {
    id: text('id').primaryKey(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // A unique index on a constant: a second row cannot exist.
  () => [uniqueIndex('deployment_one_row').on(sql`(true)`)],
);
