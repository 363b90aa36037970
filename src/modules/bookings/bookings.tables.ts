import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { providers, services } from '../catalog/catalog.tables.js';
import { users } from '../identity/identity.tables.js';

/** A provider's weekly schedule, breaks and date exceptions, in the provider's time zone. */
export const availability = pgTable('availability', {
  providerId: uuid('provider_id')
    .primaryKey()
    .references(() => providers.id, { onDelete: 'cascade' }),
  timeZone: text('time_zone').notNull(),
  // [{ day_of_week: 1–7, start: "09:00", end: "17:00" }]
  weekly: jsonb('weekly').$type<{ day_of_week: number; start: string; end: string }[]>().notNull(),
  breaks: jsonb('breaks').$type<{ day_of_week: number; start: string; end: string }[]>().notNull(),
  // [{ date: "2026-12-25", closed: true } | { date, start, end }]
  exceptions: jsonb('exceptions')
    .$type<({ date: string; closed: true } | { date: string; start: string; end: string })[]>()
    .notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

/** `pending_payment`: a paid service's booking holds its slot until it is paid or `payment_due_at` passes. */
export const BOOKING_STATUSES = [
  'pending_payment',
  'pending',
  'confirmed',
  'completed',
  'no_show',
  'cancelled',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

/**
 * A booking. `blocks_from`/`blocks_until` is the time it takes from the provider's calendar
 * (the visit plus the service's buffer); an exclusion constraint (migration) makes two active
 * bookings of one provider overlapping impossible. `customer_id` is null once the customer is
 * erased (the provider keeps the history, pseudonymised).
 */
export const bookings = pgTable(
  'bookings',
  {
    id: uuid('id').primaryKey(),
    customerId: uuid('customer_id').references(() => users.id, { onDelete: 'set null' }),
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'restrict' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'restrict' }),
    status: text('status').$type<BookingStatus>().notNull(),
    startsAt: timestamp('starts_at', { withTimezone: true }).notNull(),
    endsAt: timestamp('ends_at', { withTimezone: true }).notNull(),
    blocksFrom: timestamp('blocks_from', { withTimezone: true }).notNull(),
    blocksUntil: timestamp('blocks_until', { withTimezone: true }).notNull(),
    priceMinor: integer('price_minor').notNull(),
    currency: text('currency').notNull(),
    note: text('note'),
    /** Its payment's status (payments.status), kept in step by the payments module's messages; null when paid at the visit. */
    paymentStatus: text('payment_status'),
    /** Until when an unpaid booking (`pending_payment`) holds its slot. */
    paymentDueAt: timestamp('payment_due_at', { withTimezone: true }),
    cancelledBy: text('cancelled_by').$type<'customer' | 'provider' | 'admin' | 'system'>(),
    cancelReason: text('cancel_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('bookings_customer_id_idx').on(table.customerId),
    index('bookings_provider_starts_idx').on(table.providerId, table.startsAt),
    index('bookings_service_id_idx').on(table.serviceId),
    index('bookings_payment_due_idx').on(table.paymentDueAt).where(sql`${table.status} = 'pending_payment'`),
    check(
      'bookings_status_check',
      sql`${table.status} in ('pending_payment', 'pending', 'confirmed', 'completed', 'no_show', 'cancelled')`,
    ),
    check(
      'bookings_times_check',
      sql`${table.startsAt} < ${table.endsAt} and ${table.blocksFrom} < ${table.blocksUntil}`,
    ),
  ],
);

/** One review per completed booking; hidden by an admin with a reason; the provider may reply once. */
export const reviews = pgTable(
  'reviews',
  {
    id: uuid('id').primaryKey(),
    bookingId: uuid('booking_id')
      .notNull()
      .references(() => bookings.id, { onDelete: 'cascade' }),
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'cascade' }),
    customerId: uuid('customer_id').references(() => users.id, { onDelete: 'set null' }),
    rating: integer('rating').notNull(),
    text: text('text').notNull(),
    visible: boolean('visible').notNull().default(true),
    hiddenReason: text('hidden_reason'),
    reply: text('reply'),
    repliedAt: timestamp('replied_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('reviews_booking_id_unique').on(table.bookingId),
    index('reviews_provider_visible_idx').on(table.providerId, table.visible, table.createdAt),
    index('reviews_customer_id_idx').on(table.customerId),
    check('reviews_rating_check', sql`${table.rating} between 1 and 5`),
  ],
);

/**
 * The chat of one booking between its customer and its provider. `sender_id` is null and `body`
 * is null once the sender's account is erased (the other party sees "message removed");
 * `read_at` is when the other party read it.
 */
export const bookingMessages = pgTable(
  'booking_messages',
  {
    id: uuid('id').primaryKey(),
    bookingId: uuid('booking_id')
      .notNull()
      .references(() => bookings.id, { onDelete: 'cascade' }),
    senderId: uuid('sender_id').references(() => users.id, { onDelete: 'set null' }),
    senderRole: text('sender_role').$type<'customer' | 'provider'>().notNull(),
    body: text('body'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    readAt: timestamp('read_at', { withTimezone: true }),
  },
  (table) => [
    index('booking_messages_booking_id_idx').on(table.bookingId, table.id),
    index('booking_messages_sender_id_idx').on(table.senderId),
    check('booking_messages_sender_role_check', sql`${table.senderRole} in ('customer', 'provider')`),
  ],
);

export const WAITLIST_STATUSES = ['waiting', 'offered', 'booked', 'expired', 'cancelled'] as const;
export type WaitlistStatus = (typeof WAITLIST_STATUSES)[number];

/**
 * A person waiting for a free time with a provider on one day (the provider's local date), for
 * one service. When a time frees, the first waiter whose service fits it is `offered` it until
 * `offer_expires_at`: the time is held for them alone, and accepting books it (`booked`, with
 * `booking_id`). An offer not taken in time `expired`; the next waiter is offered the time.
 */
export const waitlistEntries = pgTable(
  'waitlist_entries',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    providerId: uuid('provider_id')
      .notNull()
      .references(() => providers.id, { onDelete: 'cascade' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'cascade' }),
    day: date('day', { mode: 'string' }).notNull(),
    status: text('status').$type<WaitlistStatus>().notNull(),
    /** The offered visit, [offer_starts_at, offer_ends_at), and what it holds of the calendar (with the buffer). */
    offerStartsAt: timestamp('offer_starts_at', { withTimezone: true }),
    offerEndsAt: timestamp('offer_ends_at', { withTimezone: true }),
    offerBlocksUntil: timestamp('offer_blocks_until', { withTimezone: true }),
    offerExpiresAt: timestamp('offer_expires_at', { withTimezone: true }),
    bookingId: uuid('booking_id').references(() => bookings.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    // One live place per person, provider and day.
    uniqueIndex('waitlist_entries_live_unique')
      .on(table.userId, table.providerId, table.day)
      .where(sql`${table.status} in ('waiting', 'offered')`),
    index('waitlist_entries_queue_idx')
      .on(table.providerId, table.day, table.createdAt)
      .where(sql`${table.status} = 'waiting'`),
    index('waitlist_entries_offers_idx')
      .on(table.providerId, table.offerStartsAt)
      .where(sql`${table.status} = 'offered'`),
    index('waitlist_entries_expiry_idx').on(table.offerExpiresAt).where(sql`${table.status} = 'offered'`),
    index('waitlist_entries_user_id_idx').on(table.userId, table.createdAt),
    check(
      'waitlist_entries_status_check',
      sql`${table.status} in ('waiting', 'offered', 'booked', 'expired', 'cancelled')`,
    ),
    check(
      'waitlist_entries_offer_check',
      sql`${table.status} <> 'offered' or (${table.offerStartsAt} is not null and ${table.offerEndsAt} is not null and ${table.offerBlocksUntil} is not null and ${table.offerExpiresAt} is not null)`,
    ),
  ],
);

export type WaitlistEntryRow = typeof waitlistEntries.$inferSelect;
export type AvailabilityRow = typeof availability.$inferSelect;
export type BookingMessageRow = typeof bookingMessages.$inferSelect;
export type BookingRow = typeof bookings.$inferSelect;
export type ReviewRow = typeof reviews.$inferSelect;
