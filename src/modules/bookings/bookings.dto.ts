import type { Static } from '@sinclair/typebox';
import type {
  AvailabilitySchema,
  BookingDetailSchema,
  BookingSchema,
  CreateBookingBody,
  DashboardSchema,
  ModeratedReviewSchema,
  ReviewSchema,
} from './bookings.schemas.js';
import type { Schedule } from './bookings.slots.js';
import type { AvailabilityRow, BookingRow, ReviewRow } from './bookings.tables.js';

// What the API answers with is what the response schemas serialise, so the types come from them.
export type BookingInput = Static<typeof CreateBookingBody>;
export type PublicBooking = Static<typeof BookingSchema>;
export type BookingDetail = Static<typeof BookingDetailSchema>;
export type PublicReview = Static<typeof ReviewSchema>;
export type ModeratedReview = Static<typeof ModeratedReviewSchema>;
export type Availability = Static<typeof AvailabilitySchema>;
export type Dashboard = Static<typeof DashboardSchema>;

export const toPublicBooking = (row: BookingRow): PublicBooking => ({
  id: row.id,
  customer_id: row.customerId,
  provider_id: row.providerId,
  service_id: row.serviceId,
  status: row.status,
  starts_at: row.startsAt.toISOString(),
  ends_at: row.endsAt.toISOString(),
  blocks_until: row.blocksUntil.toISOString(),
  price_minor: row.priceMinor,
  currency: row.currency,
  note: row.note,
  payment_status: (row.paymentStatus as PublicBooking['payment_status']) ?? null,
  payment_due_at: row.paymentDueAt?.toISOString() ?? null,
  cancelled_by: row.cancelledBy,
  cancel_reason: row.cancelReason,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

/** What a booking view adds to a booking: names a client can show ("Relaxation massage with Thames Therapy"). */
export interface BookingNames {
  service_name: string;
  provider_name: string;
  /** Only in the provider's views. */
  customer_name?: string | null;
}

export const toNamedBooking = (row: BookingRow, names: BookingNames): PublicBooking => ({
  ...toPublicBooking(row),
  ...names,
});

export const toPublicReview = (row: ReviewRow): PublicReview => ({
  id: row.id,
  booking_id: row.bookingId,
  provider_id: row.providerId,
  rating: row.rating,
  text: row.text,
  reply: row.reply,
  replied_at: row.repliedAt?.toISOString() ?? null,
  created_at: row.createdAt.toISOString(),
});

/** A review as its author, its provider and admins see it: with whether it is shown, and why not. */
export const toModeratedReview = (row: ReviewRow): ModeratedReview => ({
  ...toPublicReview(row),
  visible: row.visible,
  hidden_reason: row.hiddenReason,
});

export const toSchedule = (row: Pick<AvailabilityRow, 'timeZone' | 'weekly' | 'breaks' | 'exceptions'>): Schedule => ({
  time_zone: row.timeZone,
  weekly: row.weekly,
  breaks: row.breaks,
  exceptions: row.exceptions,
});
