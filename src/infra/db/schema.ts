// Every table, for drizzle-kit and for Drizzle's typed client. Modules own their tables;
// this file only gathers them.
export * from '../../modules/access/access.tables.js';
export * from '../../modules/analytics/analytics.tables.js';
export * from '../../modules/audit/audit.tables.js';
export * from '../../modules/bookings/bookings.tables.js';
export * from '../../modules/catalog/catalog.tables.js';
export * from '../../modules/consent/consent.tables.js';
export * from '../../modules/content/content.tables.js';
export * from '../../modules/identity/identity.tables.js';
export * from '../../modules/notifications/notifications.tables.js';
export * from '../../modules/privacy/privacy.tables.js';
export * from '../../modules/profiles/profiles.tables.js';
export * from '../../modules/reminders/reminders.tables.js';
export * from '../../modules/support/support.tables.js';
export * from '../outbox/outbox.tables.js';
export * from './meta.tables.js';
