import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

/**
 * Every live message sent to a person, kept for a day so a client that reconnects with
 * `last_event_id` gets what it missed. The id is the message id (UUIDv7: id order is time order).
 */
export const liveEvents = pgTable(
  'live_events',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('live_events_user_id_id_idx').on(table.userId, table.id),
    index('live_events_created_at_idx').on(table.createdAt),
  ],
);

export type LiveEventRow = typeof liveEvents.$inferSelect;
