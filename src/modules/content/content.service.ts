import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { EventBus } from '../../shared/events.js';
import type { AccessService } from '../access/index.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { MediaService } from '../media/index.js';
import { createContentAuthoring } from './content.authoring.js';
import { createContentBlocks } from './content.blocks.js';
import { createContentReading } from './content.reading.js';
import type { ContentRepository } from './content.repository.js';

/**
 * Admin-written content (articles, tips, diet and protection plan blocks) in immutable
 * versions: admins author it (content.authoring.ts), readers browse and open what is
 * published (content.reading.ts), and the recommendations engine composes plans from its
 * blocks (content.blocks.ts).
 */
export function createContentService(deps: {
  db: Db;
  /** The reader's lists: the read replica when there is one; default `db`. */
  readDb?: Db;
  repository: ContentRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  access: Pick<AccessService, 'requirePremium' | 'recordPremiumUse'>;
  clock: Clock;
  ids: IdGenerator;
  events: Pick<EventBus, 'publish'>;
  /** Checks an item's picture is the editing admin's own upload; reads the pictures readers see. */
  media: ContentMedia;
}) {
  return {
    ...createContentAuthoring(deps),
    ...createContentReading({ ...deps, readDb: deps.readDb ?? deps.db }),
    ...createContentBlocks(deps),
  };
}

export type ContentService = ReturnType<typeof createContentService>;
export type ContentMedia = Pick<MediaService, 'checkLinkable' | 'images'>;
