export { createTracker, type Track } from './analytics.service.js';
