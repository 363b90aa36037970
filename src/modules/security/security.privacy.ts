import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import type { SecurityRepository } from './security.repository.js';

/** Security events name the signed-in person a request came from; blocks name the admins who set or lifted them. */
export function securityPersonalData(repository: SecurityRepository): PersonalDataEntry {
  return {
    module: 'security',
    description:
      'Security events raised by your requests (what was detected, where, a masked sample, address, time), ' +
      'and blocks you set or lifted as an admin',
    purposes: ['detecting and stopping attacks on the service'],
    legalBasis: 'legitimate interest (GDPR Art. 6(1)(f)): keeping the service and its users secure',
    retention: 'security events: SECURITY_EVENT_RETENTION_DAYS (default 90 days); blocks: as long after they end',
    tables: ['security_events', 'ip_blocks'],
    async export(tx, userId) {
      const [events, blocks] = await Promise.all([
        repository.eventsOfUser(tx, userId),
        repository.blocksOfUser(tx, userId),
      ]);
      return {
        security_events: events.map((row) => ({
          occurred_at: row.occurredAt.toISOString(),
          type: row.type,
          severity: row.severity,
          rule: row.rule,
          location: row.location,
          sample: row.sample,
          action: row.action,
          ip: row.ip,
          route: row.route,
        })),
        ip_blocks_set_or_lifted: blocks.map((row) => ({
          ip: row.ipKey,
          reason: row.reason,
          created_at: row.createdAt.toISOString(),
          expires_at: row.expiresAt.toISOString(),
          lifted_at: row.liftedAt?.toISOString() ?? null,
        })),
      };
    },
    async erase(tx, userId) {
      // The events stay as evidence of the attack until their retention ends, without the person's id.
      const rows = (await repository.detachUser(tx, userId)) + (await repository.detachBlockAdmin(tx, userId));
      return {
        action: 'pseudonymised',
        rows,
        note: 'security events and blocks kept without your id until retention ends',
      };
    },
  };
}

export function securityRetentionRules(repository: SecurityRepository, days: number): RetentionRule[] {
  const cutoff = (now: Date) => new Date(now.getTime() - days * 86_400_000);
  return [
    { name: 'security_events', run: (tx, now) => repository.deleteEventsBefore(tx, cutoff(now)) },
    { name: 'ip_blocks', run: (tx, now) => repository.deleteBlocksEndedBefore(tx, cutoff(now)) },
    { name: 'security_alerts', run: (tx, now) => repository.deleteAlertsSentBefore(tx, cutoff(now)) },
  ];
}
