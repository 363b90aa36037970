import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import { RESUME_WINDOW_MS } from './live.protocol.js';
import type { LiveRepository } from './live.repository.js';

/** The live module's entry in the privacy data map: a day of messages kept for reconnecting apps. */
export function livePersonalData(repository: LiveRepository): PersonalDataEntry {
  return {
    module: 'live',
    description:
      'Live updates sent to your open apps in the last day (type, ids, statuses, time; never chat text), kept so a reconnecting app misses nothing',
    purposes: ['real-time updates in the apps you use'],
    legalBasis: 'contract',
    retention: '24 hours',
    tables: ['live_events'],
    async export(tx, userId) {
      const rows = await repository.listForUser(tx, userId);
      return rows.map((row) => ({ id: row.id, type: row.type, data: row.data, at: row.createdAt.toISOString() }));
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deleteForUser(tx, userId) };
    },
  };
}

export function liveRetentionRules(repository: LiveRepository): RetentionRule[] {
  return [
    {
      name: 'live.events',
      run: (tx: Db, now: Date) => repository.deleteBefore(tx, new Date(now.getTime() - RESUME_WINDOW_MS)),
    },
  ];
}
