import type { Clock } from '../../infra/clock.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { ChatRepository } from './bookings.chat-repository.js';
import { toModeratedReview, toPublicBooking } from './bookings.dto.js';
import type { BookingsRepository } from './bookings.repository.js';
import type { SlotsCache } from './bookings.slots-cache.js';
import { queueFreedTime, type WaitlistRepository } from './bookings.waitlist.js';

/**
 * What bookings hold about a customer. Erasure pseudonymises rather than deletes: the provider
 * keeps the history of the visits, and ratings stay so that providers' averages stay right.
 */
export function bookingsPersonalData(deps: {
  repository: BookingsRepository;
  chat: ChatRepository;
  waitlist: WaitlistRepository;
  slotsCache: Pick<SlotsCache, 'changed'>;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
}): PersonalDataEntry {
  const { repository, chat, waitlist } = deps;
  return {
    module: 'bookings',
    description:
      'Your bookings (service, provider, time, note, status), the reviews you wrote, the chat messages you sent about your bookings and your waitlist places (provider, service, day, offered time)',
    purposes: [
      'arranging the visits you book',
      'showing your reviews to other customers',
      'talking to the other party of a booking',
      'offering you a time that frees on a day you wait for',
    ],
    legalBasis: 'contract',
    retention:
      'bookings stay with the provider pseudonymised after erasure; review ratings stay, without text or link to you; chat messages you sent lose their text and sender on erasure (the other party sees "removed"); waitlist places are deleted on erasure',
    tables: ['bookings', 'reviews', 'availability', 'booking_messages', 'waitlist_entries'],
    async export(tx, userId) {
      const [own, written, sent, waiting] = await Promise.all([
        repository.listForCustomer(tx, userId),
        repository.reviewsByCustomer(tx, userId),
        chat.listBySender(tx, userId),
        waitlist.listForUser(tx, userId),
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
        waitlist: waiting.map((row) => ({
          id: row.id,
          provider_id: row.providerId,
          service_id: row.serviceId,
          day: row.day,
          status: row.status,
          offer_starts_at: row.offerStartsAt?.toISOString() ?? null,
          offer_expires_at: row.offerExpiresAt?.toISOString() ?? null,
          booking_id: row.bookingId,
          created_at: row.createdAt.toISOString(),
        })),
      };
    },
    async erase(tx, userId) {
      const booked = await repository.pseudonymiseCustomer(tx, userId);
      const reviewed = await repository.pseudonymiseReviews(tx, userId);
      const messages = await chat.eraseSender(tx, userId);
      const left = await waitlist.deleteForUser(tx, userId);
      // A time held for them is free again, and goes to the next person waiting.
      for (const entry of left) {
        if (entry.status !== 'offered' || !entry.offerStartsAt) continue;
        await deps.slotsCache.changed(entry.providerId);
        await queueFreedTime(
          deps.outbox,
          tx,
          { providerId: entry.providerId, startsAt: entry.offerStartsAt },
          deps.clock.now(),
        );
      }
      return {
        action: 'pseudonymised',
        rows: booked + reviewed + messages + left.length,
        note: 'bookings kept for the provider without customer or note; review text removed, rating kept; chat messages kept as "removed", without text or sender; waitlist places deleted',
      };
    },
  };
}
