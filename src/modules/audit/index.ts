import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { auditPersonalData } from './audit.privacy.js';
import { createAuditRepository } from './audit.repository.js';
import { auditRoutes } from './audit.routes.js';
import { type AuditService, createAuditService } from './audit.service.js';

export { canonicalJson, chainHash, GENESIS_HASH } from './audit.chain.js';
export {
  type AuditContext,
  type AuditEntry,
  type AuditService,
  auditContextOf,
  type VerifyResult,
} from './audit.service.js';

/** The append-only, hash-chained audit trail every module records into, in its own transaction. */
export function createAuditModule(platform: Platform): ModuleDescriptor<'audit', AuditService> {
  const repository = createAuditRepository();
  const service = createAuditService({
    db: platform.db,
    repository,
    clock: platform.clock,
    ids: platform.ids,
    events: platform.events,
  });
  return {
    name: 'audit',
    service,
    routes: async (api) => api.register(auditRoutes, { audit: service }),
    dataMap: auditPersonalData(repository),
  };
}
