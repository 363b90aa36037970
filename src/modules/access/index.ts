export { createAccessRepository } from './access.repository.js';
export { accessRoutes } from './access.routes.js';
export { type AccessService, createAccessService, type FlagInput, flagToPublic } from './access.service.js';
export type { FlagRules } from './access.tables.js';
export { bucketOf, evaluateFlag } from './flags.js';
