import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import type { MediaPurpose } from '../media/index.js';
import { createCatalogCache } from './catalog.cache.js';
import { createCatalogRepository } from './catalog.repository.js';
import { catalogRoutes } from './catalog.routes.js';
import { catalogSeeder } from './catalog.seed.js';
import { type CatalogMedia, type CatalogService, createCatalogService } from './catalog.service.js';

export { CATALOG_GENERATION } from './catalog.cache.js';
export {
  bookableServicePrices,
  type CatalogNames,
  catalogNames,
  createCatalogRepository,
} from './catalog.repository.js';
export { catalogSeeder, DEMO_PROVIDERS, seededProviderId } from './catalog.seed.js';
export type { CatalogService } from './catalog.service.js';
export {
  type CategoryRow,
  type ProviderRow,
  type ServiceRow,
  VERIFICATION_STATES,
  type Verification,
} from './catalog.tables.js';

/** The uploads the catalog links (catalog.providers.ts, catalog.services.ts): only these may be on its pages. */
const CATALOG_PURPOSES: ReadonlySet<MediaPurpose> = new Set(['avatar', 'gallery', 'service']);

/** Categories, provider profiles and verification, providers' services, and search. */
export function createCatalogModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    track: Track;
    identity: Pick<IdentityService, 'getAccount'>;
    media: CatalogMedia;
  },
): ModuleDescriptor<'catalog', CatalogService> {
  const service = createCatalogService({
    db: platform.db,
    readDb: platform.readDb,
    repository: createCatalogRepository(),
    audit: deps.audit,
    track: deps.track,
    cache: createCatalogCache({
      kv: platform.kv,
      metrics: platform.metrics,
      logger: platform.logger.child({ component: 'catalog' }),
      clock: platform.clock,
    }),
    clock: platform.clock,
    ids: platform.ids,
    identity: deps.identity,
    media: deps.media,
  });
  // A deleted upload is unlinked by its foreign keys (avatar and service image set null, gallery
  // rows deleted): cached pages that showed it are stale once the delete commits.
  platform.events.subscribe('media.deleted', async ({ media }) => {
    if (media.some((deleted) => CATALOG_PURPOSES.has(deleted.purpose as MediaPurpose))) await service.invalidate();
  });
  return {
    name: 'catalog',
    service,
    routes: async (api) => api.register(catalogRoutes, { catalog: service }),
    dataMap: service.dataMapEntry(),
    seeders: [catalogSeeder],
  };
}
