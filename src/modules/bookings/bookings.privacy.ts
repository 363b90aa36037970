import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { ChatRepository } from './bookings.chat-repository.js';
import { toModeratedReview, toPublicBooking } from './bookings.dto.js';
import type { BookingsRepository } from './bookings.repository.js';

/**
 * What bookings hold about a customer. Erasure pseudonymises rather than deletes: the provider
 * keeps the history of the visits, and ratings stay so that providers' averages stay right.
 */
export function bookingsPersonalData(deps: {
  repository: BookingsRepository;
  chat: ChatRepository;
}): PersonalDataEntry {
  const { repository, chat } = deps;
  return {
    module: 'bookings',
    description:
      'Your bookings (service, provider, time, note, status), the reviews you wrote and the chat messages you sent about your bookings',
    purposes: [
      'arranging the visits you book',
      'showing your reviews to other customers',
      'talking to the other party of a booking',
    ],
    legalBasis: 'contract',
    retention:
      'bookings stay with the provider pseudonymised after erasure; review ratings stay, without text or link to you; chat messages you sent lose their text and sender on erasure (the other party sees "removed")',
    tables: ['bookings', 'reviews', 'availability', 'booking_messages'],
    async export(tx, userId) {
      const [own, written, sent] = await Promise.all([
        repository.listForCustomer(tx, userId),
        repository.reviewsByCustomer(tx, userId),
        chat.listBySender(tx, userId),
      ]);
      return {
        bookings: own.map(toPublicBooking),
        reviews: written.map(toModeratedReview),
        chat_messages: sent.map((row) => ({
          id: row.id,
          booking_id: row.bookingId,
          as: row.senderRole,
          text: row.body,
          created_at: row.createdAt.toISOString(),
          read_at: row.readAt?.toISOString() ?? null,
        })),
      };
    },
    async erase(tx, userId) {
      const booked = await repository.pseudonymiseCustomer(tx, userId);
      const reviewed = await repository.pseudonymiseReviews(tx, userId);
      const messages = await chat.eraseSender(tx, userId);
      return {
        action: 'pseudonymised',
        rows: booked + reviewed + messages,
        note: 'bookings kept for the provider without customer or note; review text removed, rating kept; chat messages kept as "removed", without text or sender',
      };
    },
  };
}
