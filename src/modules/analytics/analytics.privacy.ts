import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Logger } from '../../infra/logger.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import { CLIENT_TIME_PAST_MS } from './analytics.ingest.js';
import { ensurePartitions, pruneAnonymousSeen, rollUp } from './analytics.maintenance.js';
import type { AnalyticsRepository } from './analytics.repository.js';

/**
 * Events are kept under a pseudonym, never an id: export lists those under the current
 * pseudonym; erasure destroys the secret the pseudonym is made with, so the events stay
 * counted but can no longer be tied to the person.
 */
export function analyticsPersonalData(deps: {
  repository: AnalyticsRepository;
  clock: Clock;
  rawRetentionDays: number;
}): PersonalDataEntry {
  const { repository, clock } = deps;
  return {
    module: 'analytics',
    description:
      'Product events (event name, sanitised properties, time, plan, country) under a pseudonym made from your id and a secret kept for you',
    purposes: ['improving the product', 'counting usage in aggregate'],
    legalBasis:
      'consent (analytics) for events your app sends; legitimate interest for server-side counts, which you can object to by withdrawing analytics consent',
    retention: `raw events ${deps.rawRetentionDays} days, then daily counts without any pseudonym; anonymous events' de-duplication keys (a hash of device, event, item and day) 8 days`,
    tables: ['product_events', 'analytics_subject_keys', 'analytics_subject_facts'],
    async export(tx, userId) {
      const subject = await repository.currentSubject(tx, userId);
      if (!subject) return { subject: null, events: [] };
      const rows = await repository.eventsOfSubject(tx, subject);
      return {
        subject,
        events: rows.map((row) => ({
          name: row.name,
          properties: row.properties,
          occurred_at: row.occurredAt.toISOString(),
        })),
      };
    },
    async erase(tx, userId) {
      const had = await repository.forget(tx, userId, clock.now());
      return {
        action: 'pseudonymised',
        rows: had ? 1 : 0,
        note: 'your analytics secret was destroyed: past events still count but can no longer be tied to you',
      };
    },
  };
}

/**
 * Raw events past the raw window are rolled up into daily counts and removed (the count is the
 * raw rows removed); the months ahead get their partitions on the same run. Anonymous
 * de-duplication keys go once no client may send an event of their day.
 */
export function analyticsRetentionRules(deps: {
  logger: Pick<Logger, 'info'>;
  rawRetentionDays: number;
}): RetentionRule[] {
  return [
    {
      name: 'analytics.rollup',
      run: async (tx: Db, now: Date) => {
        const created = await ensurePartitions(tx, now);
        if (created.length > 0) deps.logger.info({ partitions: created }, 'analytics: event partitions created');
        return rollUp(tx, now, deps.rawRetentionDays);
      },
    },
    {
      name: 'analytics.anonymous_seen',
      run: (tx: Db, now: Date) => pruneAnonymousSeen(tx, new Date(now.getTime() - CLIENT_TIME_PAST_MS)),
    },
  ];
}
