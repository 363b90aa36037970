import { createAccessModule } from './modules/access/index.js';
import { createAdminDashboardModule } from './modules/admin-dashboard/index.js';
import { createAnalyticsModule, createAnalyticsTracker } from './modules/analytics/index.js';
import { createAuditModule } from './modules/audit/index.js';
import { createBookingsModule } from './modules/bookings/index.js';
import { createCalendarModule } from './modules/calendar/index.js';
import { createCatalogModule } from './modules/catalog/index.js';
import { consentGrantedFor, createConsentModule } from './modules/consent/index.js';
import { createContentModule } from './modules/content/index.js';
import { createIdempotencyModule } from './modules/idempotency/index.js';
import { activeAdminIds, createIdentityModule, findAccount, planOfUser } from './modules/identity/index.js';
import { createLiveModule } from './modules/live/index.js';
import { createMediaModule } from './modules/media/index.js';
import { createNotificationsModule } from './modules/notifications/index.js';
import { createOnboardingModule } from './modules/onboarding/index.js';
import { createPaymentsModule } from './modules/payments/index.js';
import { createPrivacyModule } from './modules/privacy/index.js';
import { countryOfUser, createProfilesModule } from './modules/profiles/index.js';
import { createRecommendationsModule } from './modules/recommendations/index.js';
import { createRemindersModule } from './modules/reminders/index.js';
import { createSecurityModule } from './modules/security/index.js';
import { createSupportModule } from './modules/support/index.js';
import type { Platform } from './platform.js';
import { createDataMap } from './shared/data-map.js';
import type { ModuleDescriptor } from './shared/module.js';

/**
 * Every module, made in dependency order: each gets the platform and exactly the services of
 * modules made before it. Reactions the other way (content changed → cached plans stale) go
 * through the event bus, never through a service made later.
 */
export function createModules(platform: Platform) {
  const { db } = platform;
  const audit = createAuditModule(platform);
  // Every module records product events; the person's plan, country and consent are read
  // through the SQL of the modules that own them.
  const tracker = createAnalyticsTracker(platform, {
    consentGranted: consentGrantedFor,
    plan: planOfUser,
    country: countryOfUser,
  });
  const { track } = tracker;
  const consent = createConsentModule(platform, {
    audit: audit.service,
    track,
    onAnalyticsConsent: tracker.consentChanged,
  });
  const notifications = createNotificationsModule(platform, {
    audit: audit.service,
    hasConsent: (userId, purpose) => consent.service.has(userId, purpose),
    recipientOf: (userId) => findAccount(db, userId),
  });
  const security = createSecurityModule(platform, {
    audit: audit.service,
    notifications: notifications.service,
    adminIds: activeAdminIds,
  });
  const identity = createIdentityModule(platform, {
    security: security.service,
    audit: audit.service,
    track,
    notify: notifications.service,
    consent: consent.service,
  });
  const access = createAccessModule(platform, { identity: identity.service, audit: audit.service, track });
  const live = createLiveModule(platform, { auth: identity.auth });
  // Before the modules that link uploads (content, catalog): it needs only the platform.
  const media = createMediaModule(platform);
  const content = createContentModule(platform, {
    audit: audit.service,
    track,
    access: access.service,
    media: media.service,
  });
  const profiles = createProfilesModule(platform, { track });
  const analytics = createAnalyticsModule(platform, {
    tracker,
    recordPremiumUse: (userId, feature) => access.service.recordPremiumUse(db, userId, feature),
    contentTitles: (ids) => content.service.titles(ids),
  });
  const recommendations = createRecommendationsModule(platform, {
    content: content.service,
    profiles: profiles.service,
    identity: identity.service,
    access: access.service,
    analytics: analytics.service,
    track,
  });
  const support = createSupportModule(platform, { identity: identity.service, track });
  const catalog = createCatalogModule(platform, {
    audit: audit.service,
    track,
    identity: identity.service,
    media: media.service,
  });
  const idempotency = createIdempotencyModule(platform);
  const payments = createPaymentsModule(platform, {
    audit: audit.service,
    notify: notifications.service,
    catalog: catalog.service,
    identity: identity.service,
  });
  const bookings = createBookingsModule(platform, {
    catalog: catalog.service,
    payments: payments.service,
    notify: notifications.service,
    audit: audit.service,
    track,
    idempotency: idempotency.service,
    isOnline: live.service.isOnline,
  });
  const calendar = createCalendarModule(platform, {
    bookings: bookings.service,
    identity: identity.service,
    audit: audit.service,
  });
  const reminders = createRemindersModule(platform, {
    identity: identity.service,
    consent: consent.service,
    notify: notifications.service,
    track,
  });
  const onboarding = createOnboardingModule(platform, {
    audit: audit.service,
    identity: identity.service,
    adminIds: activeAdminIds,
    catalog: catalog.service,
    media: media.service,
    notify: notifications.service,
  });
  const dataMap = createDataMap();
  const privacy = createPrivacyModule(platform, { audit: audit.service, identity: identity.service, dataMap });
  const adminDashboard = createAdminDashboardModule();

  const list: ModuleDescriptor[] = [
    audit,
    // Before consent: seeders run in this order, and the demo consents are for the demo accounts.
    identity,
    consent,
    notifications,
    security,
    access,
    live,
    content,
    profiles,
    recommendations,
    support,
    catalog,
    idempotency,
    bookings,
    // Made before bookings (which charge through it), listed after them: its demo payments are
    // for the visits the bookings seeder makes.
    payments,
    // After the catalogue and bookings: its synthetic demo history uses the demo services.
    analytics,
    calendar,
    reminders,
    media,
    onboarding,
    privacy,
    adminDashboard,
  ];
  for (const module of list) if (module.dataMap) dataMap.register(module.dataMap);

  return {
    list,
    dataMap,
    track,
    /** What the authentication hook and the access guard check requests with. */
    auth: { ...identity.auth, access: access.service },
    /** Request inspection, registered by the app right after the rate limiter. */
    inspection: { plugin: security.plugin, options: security.pluginOptions },
    services: {
      audit: audit.service,
      security: security.service,
      consent: consent.service,
      notifications: notifications.service,
      identity: identity.service,
      access: access.service,
      content: content.service,
      profiles: profiles.service,
      analytics: analytics.service,
      recommendations: recommendations.service,
      support: support.service,
      catalog: catalog.service,
      idempotency: idempotency.service,
      payments: payments.service,
      bookings: bookings.service,
      reminders: reminders.service,
      media: media.service,
      calendar: calendar.service,
      privacy: privacy.service,
    },
    jobs: { ...reminders.jobs, ...analytics.jobs, ...payments.jobs, ...bookings.jobs, ...security.jobs },
  };
}

export type Modules = ReturnType<typeof createModules>;
