import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import { accessPersonalData } from './access.privacy.js';
import { createAccessRepository } from './access.repository.js';
import { accessRoutes } from './access.routes.js';
import { type AccessService, createAccessService } from './access.service.js';

export { createAccessRepository } from './access.repository.js';
export { type AccessService, createAccessService, type FlagInput, flagToPublic } from './access.service.js';
export type { FlagRules } from './access.tables.js';
export { bucketOf, evaluateFlag } from './flags.js';

/** Plans, the trial, entitlements, premium-feature use and feature flags. */
export function createAccessModule(
  platform: Platform,
  deps: {
    identity: Pick<IdentityService, 'getAccount' | 'startTrial' | 'trialAvailable'>;
    audit: Pick<AuditService, 'record'>;
    track: Track;
  },
): ModuleDescriptor<'access', AccessService> {
  const repository = createAccessRepository();
  const service = createAccessService({
    db: platform.db,
    repository,
    identity: deps.identity,
    audit: deps.audit,
    track: deps.track,
    kv: platform.kv,
    clock: platform.clock,
    logger: platform.logger.child({ component: 'access' }),
  });
  let stopListening: (() => Promise<void>) | undefined;
  return {
    name: 'access',
    service,
    routes: async (api) => api.register(accessRoutes, { access: service, identity: deps.identity }),
    dataMap: accessPersonalData(repository),
    // Flag changes on other instances drop this instance's flag cache.
    async start() {
      stopListening = await service.listenForChanges();
    },
    close: async () => stopListening?.(),
  };
}
