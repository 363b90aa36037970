export { type CatalogRepository, createCatalogRepository } from './catalog.repository.js';
export { catalogRoutes } from './catalog.routes.js';
export { CATALOG_GENERATION, type CatalogService, createCatalogService } from './catalog.service.js';
export {
  type CategoryRow,
  type ProviderRow,
  type ServiceRow,
  VERIFICATION_STATES,
  type Verification,
} from './catalog.tables.js';
