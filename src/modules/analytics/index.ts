export { analyticsDataMapEntry, createTracker, type Track } from './analytics.service.js';
