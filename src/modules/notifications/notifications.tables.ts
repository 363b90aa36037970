import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const CHANNELS = ['whatsapp', 'email', 'sms', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * What the provider last told of a message it accepted (Twilio's status callbacks), in the order
 * a message moves through them: a callback never moves it back.
 */
export const DELIVERY_STATUSES = ['accepted', 'sent', 'delivered', 'undelivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A channel a message did not go out on, and why (tried in order until one takes it). */
export interface ChannelAttempt {
  channel: Channel;
  reason: string;
  at: string;
}

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
    // The channel being tried now, or the one it went out on.
    channel: text('channel').$type<Channel>().notNull(),
    // Every channel in the order they are tried; null on rows queued before fallback existed.
    channels: jsonb('channels').$type<Channel[]>(),
    // Channels passed over before `channel`, with the reason.
    fallbacks: jsonb('fallbacks').$type<ChannelAttempt[]>().notNull().default(sql`'[]'::jsonb`),
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
    // When the message took one of the person's weekly places (counted under a per-person lock).
    cappedAt: timestamp('capped_at', { withTimezone: true }),
    // A worker is handing it to a channel until then: another worker (its outbox lease ran out)
    // waits instead of sending it a second time.
    sendingUntil: timestamp('sending_until', { withTimezone: true }),
    providerMessageId: text('provider_message_id'),
    deliveryStatus: text('delivery_status').$type<DeliveryStatus>(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    segments: integer('segments'),
    encoding: text('encoding'),
  },
  (table) => [
    index('notifications_user_id_sent_at_idx').on(table.userId, table.sentAt),
    index('notifications_user_id_capped_at_idx').on(table.userId, table.cappedAt),
    uniqueIndex('notifications_provider_message_id_unique').on(table.providerMessageId),
    index('notifications_status_channel_idx').on(table.status, table.channel, table.id),
    index('notifications_updated_at_idx').on(table.updatedAt),
    check('notifications_channel_check', sql`${table.channel} in ('whatsapp', 'email', 'sms', 'push')`),
    check(
      'notifications_delivery_status_check',
      sql`${table.deliveryStatus} in ('accepted', 'sent', 'delivered', 'undelivered', 'failed')`,
    ),
    check('notifications_purpose_check', sql`${table.purpose} in ('account', 'booking', 'reminder', 'promotion')`),
    check('notifications_status_check', sql`${table.status} in ('queued', 'sent', 'cancelled', 'dead')`),
  ],
);

/** Per-user delivery preferences; no row = the defaults (every channel, 21:00–08:00 quiet). */
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

export const DEVICE_KINDS = ['fcm', 'webpush'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
export const DEVICE_PLATFORMS = ['android', 'ios', 'web'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

/**
 * Where push messages reach a person: an FCM registration token (Android, iOS, or web through
 * Firebase) or a Web Push subscription. A token or endpoint belongs to one account: registering
 * it again from another account moves it. Removed when the push service says it is gone.
 */
export const pushDevices = pgTable(
  'push_devices',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<DeviceKind>().notNull(),
    platform: text('platform').$type<DevicePlatform>().notNull(),
    // The FCM token, or the Web Push endpoint URL.
    token: text('token').notNull(),
    p256dh: text('p256dh'),
    auth: text('auth'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('push_devices_token_unique').on(table.token),
    index('push_devices_user_id_idx').on(table.userId),
    check('push_devices_kind_check', sql`${table.kind} in ('fcm', 'webpush')`),
    check('push_devices_platform_check', sql`${table.platform} in ('android', 'ios', 'web')`),
  ],
);

export type NotificationRow = typeof notifications.$inferSelect;
export type PushDeviceRow = typeof pushDevices.$inferSelect;
export type NotificationPreferencesRow = typeof notificationPreferences.$inferSelect;
