import type { Clock } from '../../infra/clock.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { CatalogCache } from './catalog.cache.js';
import type { CatalogRepository } from './catalog.repository.js';

/**
 * A provider's public profile and services. Erasure pseudonymises the profile rather than
 * deleting it, because past bookings point at it.
 */
export function catalogPersonalData(deps: {
  repository: CatalogRepository;
  cache: Pick<CatalogCache, 'invalidate'>;
  clock: Clock;
}): PersonalDataEntry {
  const { repository, cache, clock } = deps;
  return {
    module: 'catalog',
    description: 'Your provider profile (name, bio, city, languages) and the services you offer',
    purposes: ['Showing your profile and services to customers', 'Taking bookings'],
    legalBasis: 'Contract (providing the marketplace to providers)',
    retention: 'While your provider account exists; on erasure the profile is pseudonymised and kept for past bookings',
    tables: ['providers'],
    async export(tx, userId) {
      const provider = await repository.findProviderByUser(tx, userId);
      if (!provider) return null;
      const offered = await repository.servicesOfProvider(tx, provider.id);
      return {
        profile: {
          id: provider.id,
          display_name: provider.displayName,
          bio: provider.bio,
          city: provider.city,
          country: provider.country,
          languages: provider.languages,
          time_zone: provider.timeZone,
          verification: provider.verification,
          verification_reason: provider.verificationReason,
          auto_confirm: provider.autoConfirm,
          rating_average: provider.ratingAverage,
          rating_count: provider.ratingCount,
          created_at: provider.createdAt.toISOString(),
          updated_at: provider.updatedAt.toISOString(),
        },
        services: offered.map((service) => ({
          id: service.id,
          name: service.name,
          description: service.description,
          category_id: service.categoryId,
          duration_minutes: service.durationMinutes,
          buffer_minutes: service.bufferMinutes,
          price_minor: service.priceMinor,
          currency: service.currency,
          is_active: service.isActive,
          created_at: service.createdAt.toISOString(),
        })),
      };
    },
    async erase(tx, userId) {
      const provider = await repository.findProviderByUser(tx, userId, { forUpdate: true });
      if (!provider) return { action: 'pseudonymised', rows: 0 };
      await repository.updateProvider(tx, provider.id, {
        displayName: 'Former provider',
        bio: '',
        city: null,
        verification: 'rejected',
        verificationReason: 'account erased',
        updatedAt: clock.now(),
      });
      await repository.refreshSearchTextOfProvider(tx, provider.id);
      // After the erasure commits: a read before that would cache the old name again.
      await afterCommit(
        () => cache.invalidate(),
        () => {},
      );
      return {
        action: 'pseudonymised',
        rows: 1,
        note: 'provider profile kept for past bookings without name, bio or city; rejected, so no longer listed or bookable',
      };
    },
  };
}
