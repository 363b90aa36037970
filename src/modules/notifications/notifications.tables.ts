import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const CHANNELS = ['whatsapp', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Why a message is sent; it decides the consent it needs at send time:
 * account and booking messages need only the account, reminders over WhatsApp need
 * `whatsapp`, promotions need `marketing` (and `whatsapp` on that channel).
 */
export const MESSAGE_PURPOSES = ['account', 'booking', 'reminder', 'promotion'] as const;
export type MessagePurpose = (typeof MESSAGE_PURPOSES)[number];

export const NOTIFICATION_STATUSES = ['queued', 'sent', 'cancelled', 'dead'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** One outbound message, from the moment it is queued (in the caller's transaction) until it ends. */
export const notifications = pgTable(
  'notifications',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<Channel>().notNull(),
    purpose: text('purpose').$type<MessagePurpose>().notNull(),
    template: text('template').notNull(),
    // What the template needs; cleared once the message ends (it may hold a reset token).
    data: jsonb('data').$type<Record<string, unknown>>(),
    urgent: boolean('urgent').notNull(),
    priority: boolean('priority').notNull().default(false),
    status: text('status').$type<NotificationStatus>().notNull(),
    cancelReason: text('cancel_reason'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    outboxId: uuid('outbox_id'),
    notBefore: timestamp('not_before', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (table) => [
    index('notifications_user_id_sent_at_idx').on(table.userId, table.sentAt),
    index('notifications_status_channel_idx').on(table.status, table.channel, table.id),
    index('notifications_updated_at_idx').on(table.updatedAt),
    check('notifications_channel_check', sql`${table.channel} in ('whatsapp', 'email')`),
    check('notifications_purpose_check', sql`${table.purpose} in ('account', 'booking', 'reminder', 'promotion')`),
    check('notifications_status_check', sql`${table.status} in ('queued', 'sent', 'cancelled', 'dead')`),
  ],
);

/** Per-user delivery preferences; no row = the defaults (both channels, 21:00–08:00 quiet). */
export const notificationPreferences = pgTable('notification_preferences', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  channels: jsonb('channels').$type<Record<Channel, boolean>>().notNull(),
  quietStart: text('quiet_start').notNull(),
  quietEnd: text('quiet_end').notNull(),
  // null = the account's time zone.
  timeZone: text('time_zone'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

export type NotificationRow = typeof notifications.$inferSelect;
export type NotificationPreferencesRow = typeof notificationPreferences.$inferSelect;
