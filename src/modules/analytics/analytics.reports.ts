/**
 * The admin reports, each one SQL statement (or a few small ones) over `product_events` and
 * the per-pseudonym facts. Everything is counted per pseudonymous subject; events without one
 * (anonymous, or of people who objected) count in totals but cannot take part in funnels or
 * cohorts.
 */
export * from './analytics.daily-metrics.js';
export * from './analytics.engagement.js';
export * from './analytics.funnels.js';
export type { ReportRange } from './analytics.report-sql.js';
