export { type CatalogRepository, createCatalogRepository } from './catalog.repository.js';
export { catalogRoutes } from './catalog.routes.js';
export { catalogSeeder, DEMO_PROVIDERS, seededProviderId } from './catalog.seed.js';
export { CATALOG_GENERATION, type CatalogService, createCatalogService } from './catalog.service.js';
export {
  type CategoryRow,
  type ProviderRow,
  type ServiceRow,
  VERIFICATION_STATES,
  type Verification,
} from './catalog.tables.js';
