export { canonicalJson, chainHash, GENESIS_HASH } from './audit.chain.js';
export { createAuditRepository } from './audit.repository.js';
export { auditRoutes } from './audit.routes.js';
export {
  type AuditContext,
  type AuditEntry,
  type AuditService,
  createAuditService,
  type VerifyResult,
} from './audit.service.js';
