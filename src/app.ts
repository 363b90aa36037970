import { readFileSync } from 'node:fs';
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config.js';
import { type Clock, systemClock } from './infra/clock.js';
import type { Database, Db } from './infra/db/client.js';
import { type IdGenerator, uuidv7 } from './infra/ids.js';
import type { KeyValueStore } from './infra/kv/kv.js';
import { type Logger, lazyChild } from './infra/logger.js';
import type { Metrics } from './infra/metrics.js';
import { createOutbox, type Outbox } from './infra/outbox/outbox.js';
import { createOutboxDispatcher, type OutboxDispatcher } from './jobs/outbox-dispatcher.js';
import { createPeriodicJob, type PeriodicJob } from './jobs/periodic.js';
import { createRetentionJob, outboxRetentionRules, type RetentionJob } from './jobs/retention.js';
import { createSheetsSync, type SheetsSync } from './jobs/sheets-sync.js';
import { accessRoutes, createAccessRepository, createAccessService } from './modules/access/index.js';
import { adminDashboardRoutes } from './modules/admin-dashboard/index.js';
import {
  type AnalyticsService,
  analyticsRoutes,
  createAnalyticsService,
  type Track,
} from './modules/analytics/index.js';
import { auditRoutes, createAuditRepository, createAuditService } from './modules/audit/index.js';
import {
  BOOKING_REMIND,
  type BookingsService,
  bookingsRoutes,
  createBookingsRepository,
  createBookingsService,
} from './modules/bookings/index.js';
import {
  type CatalogService,
  catalogRoutes,
  createCatalogRepository,
  createCatalogService,
} from './modules/catalog/index.js';
import { consentRoutes, createConsentRepository, createConsentService } from './modules/consent/index.js';
import {
  type ContentService,
  contentRoutes,
  createContentRepository,
  createContentService,
} from './modules/content/index.js';
import { createHealthService, healthRoutes } from './modules/health/index.js';
import {
  createAccessTokens,
  createIdentityRepository,
  createIdentityService,
  createLoginGuard,
  createSessionState,
  identityRoutes,
} from './modules/identity/index.js';
import {
  channelHealthChecks,
  closeChannels,
  createChannels,
  createNotificationsRepository,
  createNotificationsService,
  NOTIFICATION_DELIVER,
  NOTIFICATION_DELIVERY_OPTIONS,
  type NotificationsService,
  notificationsRoutes,
} from './modules/notifications/index.js';
import {
  createDataMap,
  createPrivacyRepository,
  createPrivacyService,
  type DataMap,
  privacyRoutes,
} from './modules/privacy/index.js';
import { createProfilesRepository, createProfilesService, profilesRoutes } from './modules/profiles/index.js';
import { createRecommendationsService, recommendationsRoutes } from './modules/recommendations/index.js';
import { createRemindersRepository, createRemindersService, remindersRoutes } from './modules/reminders/index.js';
import { createSupportRepository, createSupportService, supportRoutes } from './modules/support/index.js';
import { accessGuardPlugin, authenticationPlugin } from './plugins/auth.js';
import { docsPlugin } from './plugins/docs.js';
import { errorHandlerPlugin, sendError, toAppError } from './plugins/error-handler.js';
import { etagPlugin } from './plugins/etag.js';
import { metricsRoute } from './plugins/metrics-route.js';
import { overloadPlugin } from './plugins/overload.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { correlationIdFor, requestContextPlugin } from './plugins/request-context.js';
import { inputTextPlugin, requestValidators } from './plugins/request-validation.js';
import { can } from './shared/permissions.js';
import { bearerToken, sameSecret } from './shared/secrets.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

export interface AppDeps {
  config: Config;
  database: Database;
  kv: KeyValueStore;
  logger: Logger;
  metrics: Metrics;
  clock?: Clock;
  ids?: IdGenerator;
  random?: () => number;
}

/** What the composition root hands to modules and workers; one per app instance. */
export interface Platform {
  config: Config;
  db: Db;
  database: Database;
  kv: KeyValueStore;
  metrics: Metrics;
  clock: Clock;
  ids: IdGenerator;
  outbox: Outbox;
  dispatcher: OutboxDispatcher;
  retention: RetentionJob;
  /** Enqueues due reminder occurrences; resolves with how many were sent. */
  reminderScheduler: PeriodicJob<number>;
  /** Appends daily metrics to Google Sheets; a no-op (not_configured) without GOOGLE_SHEETS_ID. */
  sheetsSync: SheetsSync;
  /** What every module holds about a person: the privacy exports and erasures walk it. */
  dataMap: DataMap;
  track: Track;
  services: {
    identity: ReturnType<typeof createIdentityService>;
    access: ReturnType<typeof createAccessService>;
    audit: ReturnType<typeof createAuditService>;
    consent: ReturnType<typeof createConsentService>;
    content: ContentService;
    catalog: CatalogService;
    bookings: BookingsService;
    notifications: NotificationsService;
    privacy: ReturnType<typeof createPrivacyService>;
    profiles: ReturnType<typeof createProfilesService>;
    support: ReturnType<typeof createSupportService>;
    reminders: ReturnType<typeof createRemindersService>;
    recommendations: ReturnType<typeof createRecommendationsService>;
    analytics: AnalyticsService;
  };
  lifecycle: { draining: boolean };
}

declare module 'fastify' {
  interface FastifyInstance {
    platform: Platform;
  }
}

/**
 * Builds the whole app from its dependencies. Nothing happens at import; nothing listens
 * here (src/server.ts does). Closing the app stops workers and closes the database and store.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, database, kv, logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? uuidv7;

  const app = Fastify({
    loggerInstance: logger,
    // One line per finished request is written by the request-context plugin instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlation_id' }),
    genReqId: correlationIdFor,
    childLoggerFactory: (parent, bindings) => lazyChild(parent as Logger, bindings),
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    // A hop count trusts that many proxies in front of us and no client-supplied entries.
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(config.trustProxy)
        : config.trustProxy,
    // While draining, requests on open connections are still served (readiness already says
    // 503 so the load balancer stops sending); closing never turns an accepted request away.
    return503OnClosing: false,
    // Errors Fastify raises before routing (e.g. a malformed URL) get the same envelope.
    frameworkErrors: (error, request, reply) => sendError(request, reply, toAppError(error)),
    routerOptions: { ignoreTrailingSlash: true },
    // Bodies checked as sent, query and path coerced from text; unknown fields refused.
    schemaController: { compilersFactory: { buildValidator: requestValidators() } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: anything else is 415 UNSUPPORTED_MEDIA_TYPE.
  app.removeContentTypeParser('text/plain');

  const outbox = createOutbox({ clock, ids, metrics, defaultMaxAttempts: config.outbox.maxAttempts });
  const dispatcher = createOutboxDispatcher({
    db: database.db,
    outbox,
    clock,
    logger: logger.child({ component: 'outbox' }),
    metrics,
    options: config.outbox,
    random: deps.random,
  });
  const db = database.db;
  // Consent, access and content are made below; analytics only calls them once requests flow.
  const analytics: AnalyticsService = createAnalyticsService({
    db,
    kv,
    clock,
    ids,
    metrics,
    logger: logger.child({ component: 'analytics' }),
    of: {
      consentGranted: (userId, purpose) => consent.grantedCondition(userId, purpose),
      plan: (userId) => identity.planOf(userId),
      country: (userId) => profiles.countryOf(userId),
    },
    recordPremiumUse: (userId, feature) => access.recordPremiumUse(db, userId, feature),
    contentTitles: (contentIds) => content.titles(contentIds),
    rawRetentionDays: config.retention.analyticsRawDays,
    strict: !config.isProduction,
  });
  const track = analytics.track;
  const audit = createAuditService({ db, repository: createAuditRepository(), clock, ids });
  const accessTokens = createAccessTokens({
    secret: config.auth.jwtSecret,
    ttlSeconds: config.auth.accessTokenTtlSeconds,
    clock,
    ids,
  });
  const consent = createConsentService({
    db,
    repository: createConsentRepository(),
    audit,
    track,
    onAnalyticsConsent: analytics.consentChanged,
    clock,
    ids,
  });
  // Transports chosen once from config: n8n / SMTP when set, else the log (never in production).
  const channels = createChannels(config, { logger: logger.child({ component: 'notifications' }), clock });
  const notifications = createNotificationsService({
    db,
    repository: createNotificationsRepository(),
    outbox,
    channels,
    audit,
    clock,
    ids,
    logger: logger.child({ component: 'notifications' }),
    // Called at send time only, after identity exists.
    getRecipient: (userId) => identity.getAccount(userId),
    hasConsent: (userId, purpose) => consent.has(userId, purpose),
    weeklyCap: config.notifications.weeklyCap,
    publicAppUrl: config.publicAppUrl,
  });
  outbox.register(NOTIFICATION_DELIVER, notifications.deliver, NOTIFICATION_DELIVERY_OPTIONS);
  const identityRepository = createIdentityRepository();
  const sessionState = createSessionState({
    kv,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    isSessionActive: (sessionId) => identityRepository.isSessionActive(db, sessionId, clock.now()),
  });
  const identity = createIdentityService({
    db,
    repository: identityRepository,
    audit,
    track,
    notify: notifications,
    consent,
    kv,
    clock,
    ids,
    accessTokens,
    loginGuard: createLoginGuard({ kv, clock }),
    sessionState,
    refreshTokenTtlDays: config.auth.refreshTokenTtlDays,
  });
  const access = createAccessService({
    db,
    repository: createAccessRepository(),
    identity,
    audit,
    track,
    kv,
    clock,
    logger: logger.child({ component: 'access' }),
  });
  const content = createContentService({
    db,
    repository: createContentRepository(),
    audit,
    track,
    access,
    clock,
    ids,
    logger: logger.child({ component: 'content' }),
    // What readers see changed: every cached plan is stale (a counter in the shared store).
    onPublishedChange: () => void recommendations.contentChanged(),
  });
  // Reset requests queued as `email.password_reset` (before identity sent through notifications)
  // become password-reset emails.
  outbox.register('email.password_reset', notifications.relayPasswordReset);

  const profiles = createProfilesService({
    db,
    repository: createProfilesRepository(),
    track,
    clock,
    onChange: (userId) => void recommendations.profileChanged(userId),
  });
  const recommendations = createRecommendationsService({
    db,
    blocks: content,
    profiles,
    identity,
    access,
    engagement: analytics,
    kv,
    track,
    clock,
    metrics,
  });
  const support = createSupportService({ db, repository: createSupportRepository(), identity, track, clock, ids });
  const catalog = createCatalogService({
    db,
    repository: createCatalogRepository(),
    audit,
    track,
    kv,
    metrics,
    clock,
    ids,
    identity,
    logger: logger.child({ component: 'catalog' }),
  });
  const bookings = createBookingsService({
    db,
    repository: createBookingsRepository(),
    catalog,
    notify: notifications,
    outbox,
    audit,
    track,
    kv,
    clock,
    ids,
  });
  // A booking's reminder is decided when it is due: a cancelled booking sends nothing.
  outbox.register(BOOKING_REMIND, bookings.remind);
  const reminders = createRemindersService({
    db,
    repository: createRemindersRepository(),
    identity,
    consent,
    notify: notifications,
    track,
    clock,
    ids,
  });
  const reminderScheduler = createPeriodicJob({
    name: 'reminders',
    intervalMs: config.remindersPollIntervalMs,
    run: () => reminders.runDue(),
    logger: logger.child({ component: 'reminders' }),
  });

  const dataMap = createDataMap();
  const privacy = createPrivacyService({
    db,
    repository: createPrivacyRepository(),
    dataMap,
    outbox,
    audit,
    identity,
    clock,
    ids,
    receiptKey: `erasure-receipt:${config.auth.jwtSecret}`,
    exportsDays: config.retention.exportsDays,
  });
  // Erasure runs these in order: identity last, so the account row is pseudonymised after
  // everything that points at it is gone.
  for (const entry of [
    access.dataMapEntry(),
    analytics.dataMapEntry(),
    audit.dataMapEntry(),
    consent.dataMapEntry(),
    privacy.dataMapEntry(),
    notifications.dataMapEntry(),
    profiles.dataMapEntry(),
    support.dataMapEntry(),
    reminders.dataMapEntry(),
    content.dataMapEntry(),
    bookings.dataMapEntry(),
    catalog.dataMapEntry(),
    identity.dataMapEntry(),
  ]) {
    dataMap.register(entry);
  }
  const retention = createRetentionJob({
    db,
    clock,
    logger: logger.child({ component: 'retention' }),
    metrics,
    intervalMs: config.retention.intervalMs,
    rules: [
      ...identity.retentionRules({
        sessionsDays: config.retention.sessionsDays,
        resetTokensDays: config.retention.resetTokensDays,
      }),
      ...outboxRetentionRules({
        deliveredDays: config.retention.outboxDays,
        deadDays: config.retention.deadOutboxDays,
      }),
      ...privacy.retentionRules(),
      ...notifications.retentionRules({ finishedDays: config.retention.notificationsDays }),
      ...analytics.retentionRules(),
    ],
  });

  const sheetsSync = createSheetsSync({
    db,
    clock,
    logger: logger.child({ component: 'sheets-sync' }),
    config: config.sheetsSync,
    // Other instances may run it only against a shared PostgreSQL.
    crossInstanceLock: database.kind === 'postgres',
    metrics: (day) => analytics.dailyMetrics(day),
  });

  const platform: Platform = {
    config,
    db: database.db,
    database,
    kv,
    metrics,
    clock,
    ids,
    outbox,
    dispatcher,
    retention,
    reminderScheduler,
    sheetsSync,
    dataMap,
    track,
    services: {
      analytics,
      identity,
      access,
      audit,
      consent,
      content,
      catalog,
      bookings,
      privacy,
      notifications,
      profiles,
      support,
      reminders,
      recommendations,
    },
    lifecycle: { draining: false },
  };
  app.decorate('platform', platform);

  // Order matters: hooks run in registration order.
  await app.register(requestContextPlugin, { metrics });
  await app.register(errorHandlerPlugin);
  await app.register(inputTextPlugin);
  await app.register(overloadPlugin, { options: config.overload, metrics });
  // Authentication before the limiter (budgets per signed-in user), the guard after it.
  await app.register(authenticationPlugin, { tokens: accessTokens, sessionState });
  await app.register(rateLimitPlugin, { options: config.rateLimit, kv, metrics, logger });
  await app.register(accessGuardPlugin, { access });
  // No allow-list, no CORS plugin: same-origin only, and no per-request cost.
  if (config.corsOrigins.length > 0)
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      // Credentials only ever go to an explicit allow-list, never to "*".
      credentials: !config.corsOrigins.includes('*'),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      exposedHeaders: [
        'x-correlation-id',
        'etag',
        'ratelimit-limit',
        'ratelimit-remaining',
        'ratelimit-reset',
        'retry-after',
      ],
      maxAge: 600,
    });
  await app.register(etagPlugin);
  await app.register(compress, {
    global: true,
    threshold: config.compressionThresholdBytes,
    encodings: ['br', 'gzip'],
    // Brotli's default quality 11 costs more CPU than it saves on API-sized bodies.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
  await app.register(docsPlugin, { version: VERSION });

  const healthService = createHealthService({
    clock,
    version: VERSION,
    isDraining: () => platform.lifecycle.draining,
    isOverloaded: () => app.overload.isOverloaded(),
    checks: [
      { name: 'database', kind: database.kind, required: true, check: () => database.ping() },
      { name: 'cache', kind: kv.kind, required: false, check: () => kv.ping() },
      ...channelHealthChecks(channels),
      { name: 'sheets', required: false, state: () => sheetsSync.health() },
    ],
  });
  await app.register(healthRoutes, {
    prefix: '/api',
    healthService,
    // Components are for admins and for monitors holding HEALTH_TOKEN; others see the status only.
    mayViewDetails: (request) =>
      (request.actor !== undefined && can(request.actor.role, 'system:health')) ||
      (config.healthToken !== undefined && sameSecret(bearerToken(request.headers.authorization), config.healthToken)),
  });
  await app.register(
    async (api) => {
      await api.register(identityRoutes, { identity });
      await api.register(accessRoutes, { access, identity });
      await api.register(auditRoutes, { audit });
      await api.register(consentRoutes, { consent });
      await api.register(contentRoutes, { content });
      await api.register(catalogRoutes, { catalog });
      await api.register(bookingsRoutes, { bookings });
      await api.register(notificationsRoutes, { notifications });
      await api.register(privacyRoutes, { privacy });
      await api.register(profilesRoutes, { profiles });
      await api.register(supportRoutes, { support });
      await api.register(remindersRoutes, { reminders });
      await api.register(recommendationsRoutes, { recommendations });
      await api.register(analyticsRoutes, { analytics });
    },
    { prefix: '/api/v1' },
  );
  await app.register(metricsRoute, { metrics, token: config.metricsToken });
  // The admin dashboard page: static files; its data comes from the admin analytics API.
  await app.register(adminDashboardRoutes);

  // While draining, ask keep-alive clients to reconnect elsewhere so their sockets close
  // as soon as the in-flight response is written.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (platform.lifecycle.draining) reply.header('connection', 'close');
    done(null, payload);
  });

  const stopListening = await access.listenForChanges();

  app.addHook('onClose', async () => {
    await stopListening();
    await Promise.all([dispatcher.stop(), retention.stop(), reminderScheduler.stop(), sheetsSync.stop()]);
    await closeChannels(channels);
    await Promise.allSettled([database.close(), kv.close()]);
  });

  return app as unknown as FastifyInstance;
}
