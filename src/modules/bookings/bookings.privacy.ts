import type { PersonalDataEntry } from '../../shared/data-map.js';
import { toModeratedReview, toPublicBooking } from './bookings.dto.js';
import type { BookingsRepository } from './bookings.repository.js';

/**
 * What bookings hold about a customer. Erasure pseudonymises rather than deletes: the provider
 * keeps the history of the visits, and ratings stay so that providers' averages stay right.
 */
export function bookingsPersonalData(deps: { repository: BookingsRepository }): PersonalDataEntry {
  const { repository } = deps;
  return {
    module: 'bookings',
    description: 'Your bookings (service, provider, time, note, status) and the reviews you wrote',
    purposes: ['arranging the visits you book', 'showing your reviews to other customers'],
    legalBasis: 'contract',
    retention:
      'bookings stay with the provider pseudonymised after erasure; review ratings stay, without text or link to you',
    tables: ['bookings', 'reviews', 'availability'],
    async export(tx, userId) {
      const [own, written] = await Promise.all([
        repository.listForCustomer(tx, userId),
        repository.reviewsByCustomer(tx, userId),
      ]);
      return { bookings: own.map(toPublicBooking), reviews: written.map(toModeratedReview) };
    },
    async erase(tx, userId) {
      const booked = await repository.pseudonymiseCustomer(tx, userId);
      const reviewed = await repository.pseudonymiseReviews(tx, userId);
      return {
        action: 'pseudonymised',
        rows: booked + reviewed,
        note: 'bookings kept for the provider without customer or note; review text removed, rating kept',
      };
    },
  };
}
