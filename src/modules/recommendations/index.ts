import { createReadThroughCache } from '../../infra/kv/cache.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AccessService } from '../access/index.js';
import type { AnalyticsService, Track } from '../analytics/index.js';
import type { ContentService } from '../content/index.js';
import type { IdentityService } from '../identity/index.js';
import type { ProfilesService } from '../profiles/index.js';
import { recommendationsRoutes } from './recommendations.routes.js';
import { createRecommendationsService, type RecommendationsService } from './recommendations.service.js';

export type { BlockType, PlanBlock } from './plan-composer.js';
export type { RecommendationsService } from './recommendations.service.js';

/**
 * Diet and protection plans composed from the profile and the published blocks, cached per
 * person; the cache follows the events of the modules it reads from.
 */
export function createRecommendationsModule(
  platform: Platform,
  deps: {
    content: Pick<ContentService, 'publishedBlocks'>;
    profiles: Pick<ProfilesService, 'facts'>;
    identity: Pick<IdentityService, 'getAccount'>;
    access: Pick<AccessService, 'recordPremiumUse'>;
    analytics: Pick<AnalyticsService, 'weekly'>;
    track: Track;
  },
): ModuleDescriptor<'recommendations', RecommendationsService> {
  const service = createRecommendationsService({
    db: platform.db,
    blocks: deps.content,
    profiles: deps.profiles,
    identity: deps.identity,
    access: deps.access,
    engagement: deps.analytics,
    cache: createReadThroughCache(
      { kv: platform.kv, metrics: platform.metrics, logger: platform.logger.child({ component: 'recommendations' }) },
      'recommendations',
    ),
    track: deps.track,
    clock: platform.clock,
  });
  const { events } = platform;
  events.subscribe('content.published_changed', () => service.contentChanged());
  events.subscribe('profile.changed', ({ userId }) => service.profileChanged(userId));
  // A premium plan shows more: plans cached on the old plan are stale.
  events.subscribe('plan.changed', ({ userId }) => service.profileChanged(userId));
  return {
    name: 'recommendations',
    service,
    routes: async (api) => api.register(recommendationsRoutes, { recommendations: service }),
  };
}
