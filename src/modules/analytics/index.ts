export {
  analyticsDataMapEntry,
  createEngagementStats,
  createTracker,
  type EngagementStats,
  type Track,
} from './analytics.service.js';
