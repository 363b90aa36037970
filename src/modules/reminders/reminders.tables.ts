import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const RECURRENCES = ['none', 'daily', 'weekly', 'monthly', 'every_n_months'] as const;
export type Recurrence = (typeof RECURRENCES)[number];
export const REMINDER_CHANNELS = ['whatsapp', 'email'] as const;
export type ReminderChannel = (typeof REMINDER_CHANNELS)[number];

/**
 * A user-chosen reminder: a title, a first occurrence in the member's time zone and an optional
 * recurrence, kept as local wall time so 09:00 stays 09:00 across daylight-saving changes.
 * It stores no health meaning.
 */
export const reminders = pgTable(
  'reminders',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    // The first occurrence as given, and the same moment as wall time in `time_zone` (YYYY-MM-DDTHH:MM).
    startsAt: timestamp('starts_at', { withTimezone: true }).notNull(),
    localStart: text('local_start').notNull(),
    timeZone: text('time_zone').notNull(),
    recurrence: text('recurrence').$type<Recurrence>().notNull(),
    intervalMonths: integer('interval_months'),
    channel: text('channel').$type<ReminderChannel>().notNull(),
    active: boolean('active').notNull(),
    priority: boolean('priority').notNull().default(false),
    // The next occurrence the scheduler will enqueue; null when none is left.
    nextOccurrenceAt: timestamp('next_occurrence_at', { withTimezone: true }),
    // How many occurrences were enqueued (the n-th occurrence is computed from the start).
    occurrences: integer('occurrences').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('reminders_user_id_idx').on(table.userId),
    index('reminders_due_idx').on(table.nextOccurrenceAt).where(sql`${table.active}`),
    check(
      'reminders_recurrence_check',
      sql`${table.recurrence} in ('none', 'daily', 'weekly', 'monthly', 'every_n_months')`,
    ),
    check('reminders_channel_check', sql`${table.channel} in ('whatsapp', 'email')`),
    check(
      'reminders_interval_check',
      sql`(${table.recurrence} = 'every_n_months') = (${table.intervalMonths} is not null and ${table.intervalMonths} between 1 and 120)`,
    ),
  ],
);

/** One row per enqueued occurrence: the primary key makes "exactly once per occurrence" a database fact. */
export const reminderOccurrences = pgTable(
  'reminder_occurrences',
  {
    reminderId: uuid('reminder_id')
      .notNull()
      .references(() => reminders.id, { onDelete: 'cascade' }),
    occursAt: timestamp('occurs_at', { withTimezone: true }).notNull(),
    notificationId: uuid('notification_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.reminderId, table.occursAt] })],
);

export type ReminderRow = typeof reminders.$inferSelect;
