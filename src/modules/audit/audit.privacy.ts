import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { AuditRepository } from './audit.repository.js';

/**
 * The trail is kept whole (it is evidence, and its hash chain breaks if a row goes). It names
 * people by id only, so once the account row is pseudonymised the rows name no one.
 */
export function auditPersonalData(repository: AuditRepository): PersonalDataEntry {
  return {
    module: 'audit',
    description:
      'Security and administration events you took part in (action, time, IP, correlation id), by account id',
    purposes: ['security monitoring', 'accountability for administrative actions'],
    legalBasis: 'legal obligation and legitimate interest (security)',
    retention: 'kept for the life of the platform; it names you by a pseudonymous id only',
    tables: ['audit_log'],
    async export(tx, userId) {
      const rows = await repository.about(tx, userId);
      return rows.map((row) => ({
        action: row.action,
        target_type: row.targetType,
        acted_by_you: row.actorId === userId,
        ip: row.ip,
        details: row.details,
        created_at: row.createdAt.toISOString(),
      }));
    },
    async erase(tx, userId) {
      const rows = await repository.about(tx, userId);
      return {
        action: 'retained',
        rows: rows.length,
        note: 'append-only evidence; names you by pseudonymous id only',
      };
    },
  };
}
