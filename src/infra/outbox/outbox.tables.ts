import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const OUTBOX_STATUSES = ['pending', 'processing', 'delivered', 'dead'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** Side effects written in the same transaction as the change they belong to. */
export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    status: text('status').$type<OutboxStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    deliverAfter: timestamp('deliver_after', { withTimezone: true }).notNull(),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (table) => [
    // The dispatcher's claim query: due rows that are waiting or whose claim lapsed.
    index('outbox_due_idx').on(table.deliverAfter).where(sql`${table.status} in ('pending', 'processing')`),
    index('outbox_status_type_idx').on(table.status, table.type),
    check('outbox_status_check', sql`${table.status} in ('pending', 'processing', 'delivered', 'dead')`),
    check('outbox_attempts_check', sql`${table.attempts} >= 0 and ${table.maxAttempts} >= 1`),
  ],
);

export type OutboxRow = typeof outbox.$inferSelect;
