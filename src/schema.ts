// Every table, for drizzle-kit (drizzle.config.ts) to generate migrations from. Modules own
// their tables; this file only gathers them, at the top so that infra/ depends on no module.

export * from './infra/db/meta.tables.js';
export * from './infra/outbox/outbox.tables.js';
export * from './modules/access/access.tables.js';
export * from './modules/analytics/analytics.tables.js';
export * from './modules/audit/audit.tables.js';
export * from './modules/bookings/bookings.tables.js';
export * from './modules/calendar/calendar.tables.js';
export * from './modules/catalog/catalog.tables.js';
export * from './modules/consent/consent.tables.js';
export * from './modules/content/content.tables.js';
export * from './modules/idempotency/idempotency.tables.js';
export * from './modules/identity/identity.tables.js';
export * from './modules/live/live.tables.js';
export * from './modules/media/media.tables.js';
export * from './modules/notifications/notifications.tables.js';
export * from './modules/onboarding/onboarding.tables.js';
export * from './modules/payments/payments.tables.js';
export * from './modules/privacy/privacy.tables.js';
export * from './modules/profiles/profiles.tables.js';
export * from './modules/reminders/reminders.tables.js';
export * from './modules/security/security.tables.js';
export * from './modules/support/support.tables.js';
