export { createContentRepository } from './content.repository.js';
export { contentRoutes } from './content.routes.js';
export { contentSeeder } from './content.seed.js';
export {
  type BlockType,
  CONTENT_NOTE,
  type ContentService,
  createContentService,
  type PublishedBlock,
} from './content.service.js';
export { type AudienceRules, CONTENT_TIERS, CONTENT_TYPES, type ContentType } from './content.tables.js';
