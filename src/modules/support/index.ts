import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { IdentityService } from '../identity/index.js';
import { supportPersonalData } from './support.privacy.js';
import { createSupportRepository } from './support.repository.js';
import { supportRoutes } from './support.routes.js';
import { createSupportService, type SupportService } from './support.service.js';

export type { SupportService } from './support.service.js';

/** Support requests from members; premium ones are flagged for priority. */
export function createSupportModule(
  platform: Platform,
  deps: { identity: Pick<IdentityService, 'getAccount'>; track: Track },
): ModuleDescriptor<'support', SupportService> {
  const repository = createSupportRepository();
  const service = createSupportService({
    db: platform.db,
    repository,
    identity: deps.identity,
    track: deps.track,
    clock: platform.clock,
    ids: platform.ids,
  });
  return {
    name: 'support',
    service,
    routes: async (api) => api.register(supportRoutes, { support: service }),
    dataMap: supportPersonalData(repository),
  };
}
