import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Product events, written by `track` inside the transaction of the action they describe. */
export const productEvents = pgTable(
  'product_events',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    userId: uuid('user_id'),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('product_events_occurred_at_idx').on(table.occurredAt),
    index('product_events_name_occurred_at_idx').on(table.name, table.occurredAt),
    index('product_events_user_id_idx').on(table.userId),
  ],
);
