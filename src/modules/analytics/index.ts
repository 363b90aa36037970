export { EVENT_CATALOGUE, EVENT_NAMES, type EventName } from './analytics.catalogue.js';
export type { DailyMetrics } from './analytics.reports.js';
export { analyticsRoutes } from './analytics.routes.js';
export {
  type AnalyticsService,
  createAnalyticsService,
  type IngestResult,
  MAX_BATCH,
  type Track,
} from './analytics.service.js';
export { forbiddenKey, maskValue, sanitiseProperties } from './sanitise.js';
