import { eq } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { PersonalDataEntry } from '../privacy/data-map.js';
import type { CatalogRepository } from './catalog.repository.js';
import { type ProviderRow, providers, type ServiceRow, services } from './catalog.tables.js';

// Outlives every cached entry, so a counter that expired and restarted can never meet an old entry.
const GENERATION_TTL_MS = 365 * 86_400_000;
/** Bumped by any change to a category, provider or service: every cached catalog answer is stale. */
export const CATALOG_GENERATION = 'catalog:gen';

export interface CatalogDeps {
  db: Db;
  repository: CatalogRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  kv: KeyValueStore;
  metrics: Metrics;
  clock: Clock;
  ids: IdGenerator;
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Categories, provider profiles, services and search. Cached answers (categories, public
 * profiles, searches) carry one generation counter from the shared store in their keys, so
 * any change is one increment and reaches every instance.
 */
export function createCatalogService(deps: CatalogDeps) {
  const { db, repository, kv } = deps;

  /** Every cached catalog answer is stale (one increment in the shared store). */
  const invalidate = async (): Promise<void> => {
    try {
      await kv.increment(CATALOG_GENERATION, GENERATION_TTL_MS);
    } catch (error) {
      deps.logger?.warn({ err: error }, 'catalog: cache invalidation failed');
    }
  };

  return {
    invalidate,

    // --- for bookings ---

    /** The service if it is active and its provider verified, with the provider; else undefined. */
    async bookableService(
      serviceId: string,
      tx: Db = db,
    ): Promise<{ service: ServiceRow; provider: ProviderRow } | undefined> {
      return repository.bookable(tx, serviceId);
    },

    /** The provider profile a user owns, if any. */
    async providerOfUser(userId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProviderByUser(tx, userId);
    },

    async findProvider(providerId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProvider(tx, providerId);
    },

    /**
     * In the caller's transaction: adds a rating and/or removes one (a hidden review), the
     * average rounded to 2 places (null without ratings); cached profiles and searches go stale.
     */
    async applyReview(tx: Db, providerId: string, change: { add?: number; remove?: number }): Promise<void> {
      await repository.applyRating(tx, providerId, change);
      await invalidate();
    },

    /** A provider's public profile and services; erasure pseudonymises the profile (bookings point at it). */
    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'catalog',
        description: 'Your provider profile (name, bio, city, languages) and the services you offer',
        purposes: ['Showing your profile and services to customers', 'Taking bookings'],
        legalBasis: 'Contract (providing the marketplace to providers)',
        retention:
          'While your provider account exists; on erasure the profile is pseudonymised and kept for past bookings',
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
          await tx
            .update(providers)
            .set({
              displayName: 'Former provider',
              bio: '',
              city: null,
              verification: 'rejected',
              verificationReason: 'account erased',
              updatedAt: deps.clock.now(),
            })
            .where(eq(providers.id, provider.id));
          // Her services stay (bookings point at them) but are no longer offered.
          await tx.update(services).set({ isActive: false }).where(eq(services.providerId, provider.id));
          await repository.refreshSearchTextOfProvider(tx, provider.id);
          await invalidate();
          return {
            action: 'pseudonymised',
            rows: 1,
            note: 'provider profile kept for past bookings without name, bio or city; no longer listed',
          };
        },
      };
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
