import { sql } from 'drizzle-orm';
import { boolean, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

/** A question to the team; premium and trial users' requests are flagged priority. */
export const supportRequests = pgTable(
  'support_requests',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    subject: text('subject').notNull(),
    message: text('message').notNull(),
    priority: boolean('priority').notNull(),
    status: text('status').$type<'open' | 'closed'>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('support_requests_user_id_idx').on(table.userId),
    index('support_requests_open_idx').on(table.priority, table.createdAt),
    check('support_requests_status_check', sql`${table.status} in ('open', 'closed')`),
  ],
);

export type SupportRequestRow = typeof supportRequests.$inferSelect;
