import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import type { MediaService } from '../media/index.js';
import type { CatalogCache } from './catalog.cache.js';
import { createCategoryUseCases } from './catalog.categories.js';
import { catalogPersonalData } from './catalog.privacy.js';
import { createOwnProfiles, createProviderUseCases } from './catalog.providers.js';
import type { CatalogRepository } from './catalog.repository.js';
import { createSearchUseCases } from './catalog.search.js';
import { createProviderServiceUseCases } from './catalog.services.js';

export interface CatalogDeps {
  db: Db;
  /** Searches read here: the read replica when there is one, else `db`. */
  readDb: Db;
  repository: CatalogRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  cache: CatalogCache;
  clock: Clock;
  ids: IdGenerator;
  /** Names a new provider profile after its owner's account. */
  identity: Pick<IdentityService, 'getAccount'>;
  /** Checks that an image linked to a profile or service is the provider's own upload; reads the linked images. */
  media: CatalogMedia;
}

export type CatalogMedia = Pick<MediaService, 'checkLinkable' | 'images'>;

/** Most answers link no image: those never reach the media module. */
const withoutEmptyReads = (media: CatalogMedia): CatalogMedia => ({
  checkLinkable: (tx, request) => media.checkLinkable(tx, request),
  images: async (ids, from) => (ids.length === 0 ? new Map() : media.images(ids, from)),
});

/**
 * Categories, provider profiles, the providers' services and search, as one service for the
 * routes and the bookings module. Every change makes all cached catalog answers stale.
 */
export function createCatalogService(deps: CatalogDeps) {
  const { db, readDb, repository, audit, track, cache, clock, ids, identity } = deps;
  const media = withoutEmptyReads(deps.media);
  const ownProfiles = createOwnProfiles({ db, repository, clock, ids, identity });
  return {
    invalidate: (): Promise<void> => cache.invalidate(),
    ...createCategoryUseCases({ db, repository, audit, cache, clock, ids }),
    ...createProviderUseCases({ db, repository, audit, cache, clock, ownProfiles, media }),
    ...createProviderServiceUseCases({ db, repository, cache, clock, ids, ownProfiles, media }),
    ...createSearchUseCases({ db, readDb, repository, cache, track, media }),
    dataMapEntry: (): PersonalDataEntry => catalogPersonalData({ repository, cache, clock }),
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
