import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AccessService } from '../access/index.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { MediaService } from '../media/index.js';
import { contentPersonalData } from './content.privacy.js';
import { createContentRepository } from './content.repository.js';
import { contentRoutes } from './content.routes.js';
import { contentSeeder } from './content.seed.js';
import { type ContentService, createContentService } from './content.service.js';

export type { BlockType, PublishedBlock } from './content.blocks.js';
export { CONTENT_NOTE } from './content.reading.js';
export { createContentRepository, publishedContentKinds } from './content.repository.js';
export { contentSeeder } from './content.seed.js';
export { type ContentService, createContentService } from './content.service.js';
export { type AudienceRules, CONTENT_TIERS, CONTENT_TYPES, type ContentType } from './content.tables.js';

/** Admin-written articles, tips and plan blocks, versioned, some premium; published changes go on the event bus. */
export function createContentModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    track: Track;
    access: Pick<AccessService, 'requirePremium' | 'recordPremiumUse'>;
    media: Pick<MediaService, 'checkLinkable' | 'images'>;
  },
): ModuleDescriptor<'content', ContentService> {
  const repository = createContentRepository();
  const service = createContentService({
    db: platform.db,
    readDb: platform.readDb,
    repository,
    audit: deps.audit,
    track: deps.track,
    access: deps.access,
    clock: platform.clock,
    ids: platform.ids,
    events: platform.events,
    media: deps.media,
  });
  return {
    name: 'content',
    service,
    routes: async (api) => api.register(contentRoutes, { content: service }),
    dataMap: contentPersonalData(repository),
    seeders: [contentSeeder],
  };
}
