import { createReadThroughCache } from '../../infra/kv/cache.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { analyticsPersonalData, analyticsRetentionRules } from './analytics.privacy.js';
import { createAnalyticsRepository } from './analytics.repository.js';
import { analyticsRoutes } from './analytics.routes.js';
import { createDemoHistorySeeder } from './analytics.seed.js';
import { type AnalyticsService, createAnalyticsService } from './analytics.service.js';
import { createSheetsSync, type SheetsSync } from './analytics.sheets-sync.js';
import { createTracker, type SubjectExpressions, type Tracker } from './analytics.tracker.js';

export { EVENT_CATALOGUE, EVENT_NAMES, type EventName } from './analytics.catalogue.js';
export { DEFERRED_DEFAULTS, type DeferredOptions } from './analytics.deferred.js';
export { type IngestResult, MAX_BATCH } from './analytics.ingest.js';
export type { DailyMetrics } from './analytics.reports.js';
export { createAnalyticsRepository } from './analytics.repository.js';
export {
  createDemoHistorySeeder,
  DEMO_HISTORY_META_KEY,
  DEMO_HISTORY_SEEDER,
  demoSubject,
  SYNTHETIC_PROPERTY,
} from './analytics.seed.js';
export type { AnalyticsService } from './analytics.service.js';
export { createSheetsSync, pendingDays, SHEET_METRIC_COLUMNS, type SheetsSync } from './analytics.sheets-sync.js';
export { createTracker, type SubjectExpressions, type Track, type Tracker } from './analytics.tracker.js';
export { forbiddenKey, maskValue, sanitiseProperties } from './sanitise.js';

/**
 * The part of analytics every module records through (`track`), made before all of them. Its
 * person context (plan, country, consent) comes as SQL expressions from the modules that own it.
 */
export function createAnalyticsTracker(platform: Platform, of: SubjectExpressions): Tracker {
  return createTracker({
    repository: createAnalyticsRepository(),
    clock: platform.clock,
    ids: platform.ids,
    metrics: platform.metrics,
    logger: platform.logger.child({ component: 'analytics' }),
    of,
    strict: !platform.config.isProduction,
  });
}

export type AnalyticsModule = ModuleDescriptor<'analytics', AnalyticsService> & { jobs: { sheetsSync: SheetsSync } };

/** Reports, client events, the advanced dashboard and the Sheets sync, made once content and access exist. */
export function createAnalyticsModule(
  platform: Platform,
  deps: {
    tracker: Tracker;
    recordPremiumUse: (userId: string, feature: string) => Promise<void>;
    contentTitles: (ids: string[]) => Promise<Map<string, string>>;
  },
): AnalyticsModule {
  const { db, config, clock } = platform;
  const logger = platform.logger.child({ component: 'analytics' });
  const repository = createAnalyticsRepository();
  const rawRetentionDays = config.retention.analyticsRawDays;
  const service = createAnalyticsService({
    db,
    readDb: platform.readDb,
    repository,
    cache: createReadThroughCache({ kv: platform.kv, metrics: platform.metrics, logger }, 'analytics_report'),
    clock,
    metrics: platform.metrics,
    tracker: deps.tracker,
    recordPremiumUse: deps.recordPremiumUse,
    contentTitles: deps.contentTitles,
    rawRetentionDays,
  });
  const sheetsSync = createSheetsSync({
    db,
    clock,
    logger: platform.logger.child({ component: 'sheets-sync' }),
    config: config.sheetsSync,
    // Other instances may run it only against a shared PostgreSQL.
    crossInstanceLock: platform.database.kind === 'postgres',
    metrics: (day) => service.dailyMetrics(day),
  });
  return {
    name: 'analytics',
    service,
    routes: async (api) => api.register(analyticsRoutes, { analytics: service }),
    dataMap: analyticsPersonalData({ repository, clock, rawRetentionDays }),
    retention: analyticsRetentionRules({ logger, rawRetentionDays }),
    jobs: { sheetsSync },
    // The synthetic demo history (made-up people, marked synthetic): on unless SEED_ANALYTICS_HISTORY=false, off in tests.
    seeders: config.seedAnalyticsHistory
      ? [
          createDemoHistorySeeder({
            repository,
            clock,
            ids: platform.ids,
            logger,
            rawRetentionDays,
          }),
        ]
      : [],
    health: [{ name: 'sheets', required: false, state: () => sheetsSync.health() }],
    // The events other modules recorded with `track.later` are stored before the database closes.
    close: () => deps.tracker.close(),
  };
}
