import type { Platform } from '../../platform.js';
import type { DataMap } from '../../shared/data-map.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AuditService } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import { privacyPersonalData, privacyRetentionRules } from './privacy.privacy.js';
import { createPrivacyRepository } from './privacy.repository.js';
import { privacyRoutes } from './privacy.routes.js';
import { createPrivacyService, type PrivacyService } from './privacy.service.js';

export { EXPORT_FORMAT, type PrivacyService } from './privacy.service.js';

/** GDPR rights over the data map every module contributes to: export, erasure, withdrawal. */
export function createPrivacyModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    identity: Pick<IdentityService, 'confirmPassword' | 'endAllAccess' | 'getAccount'>;
    /** Every module's entry; filled by the app as the modules are made. */
    dataMap: DataMap;
  },
): ModuleDescriptor<'privacy', PrivacyService> {
  const { config } = platform;
  const repository = createPrivacyRepository();
  const service = createPrivacyService({
    db: platform.db,
    repository,
    dataMap: deps.dataMap,
    outbox: platform.outbox,
    audit: deps.audit,
    identity: deps.identity,
    clock: platform.clock,
    ids: platform.ids,
    receiptKey: `erasure-receipt:${config.auth.jwtSecret}`,
    exportsDays: config.retention.exportsDays,
  });
  return {
    name: 'privacy',
    service,
    routes: async (api) => api.register(privacyRoutes, { privacy: service }),
    dataMap: privacyPersonalData(repository, { exportsDays: config.retention.exportsDays }),
    retention: privacyRetentionRules(repository),
    outboxHandlers: [{ ...service.exportDelivery, handle: service.runExport }],
  };
}
