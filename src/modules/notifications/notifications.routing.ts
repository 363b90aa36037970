import type { Channel } from './notifications.tables.js';
import type { TemplateName } from './notifications.templates.js';

/**
 * Each message type's channels, in the order they are tried. The first one the person can be
 * reached on (configured, allowed by consent and preferences, a device or number to send to)
 * takes the message; one that fails for good hands it to the next. One message goes out once.
 */
export const CHANNEL_ORDER: Record<TemplateName, readonly Channel[]> = {
  // Secrets and money go by email only: a receipt or a reset link is not a lock-screen text.
  password_reset: ['email'],
  payment_receipt: ['email'],
  refund_notice: ['email'],
  security_alert: ['email'],
  booking_confirmed: ['push', 'sms', 'email'],
  booking_cancelled: ['push', 'sms', 'email'],
  booking_reminder: ['push', 'sms', 'email'],
  booking_pending: ['push', 'sms', 'email'],
  booking_rescheduled: ['push', 'sms', 'email'],
  booking_series_created: ['push', 'email'],
  waitlist_offer: ['push', 'sms', 'email'],
  chat_message: ['push', 'sms', 'email'],
  review_request: ['push', 'email'],
  review_posted: ['push', 'email'],
  wellness_reminder: ['whatsapp', 'sms'],
  provider_application_received: ['email'],
  provider_application_decided: ['push', 'email'],
};

/** The order for one message: the caller's when given (the person chose a channel), else its type's. */
export function channelOrder(template: TemplateName, chosen?: readonly Channel[]): Channel[] {
  const order = chosen && chosen.length > 0 ? chosen : CHANNEL_ORDER[template];
  return [...new Set(order)];
}

/**
 * How many attempts a channel gets before the message moves on to the next one (about six
 * minutes with the retry delays); the last channel keeps every attempt the outbox allows.
 */
export const ATTEMPTS_BEFORE_FALLBACK = 3;
