import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createFastify, registerPlugins } from './http.js';
import type { Database } from './infra/db/client.js';
import type { Seeder } from './infra/db/seed.js';
import { type ErrorTracker, startErrorTracking } from './infra/error-tracking.js';
import { outboxBacklog } from './infra/outbox/outbox.js';
import type { PeriodicJob } from './infra/periodic.js';
import { startTelemetry, type Telemetry } from './infra/telemetry.js';
import { createOutboxDispatcher, type OutboxDispatcher } from './jobs/outbox-dispatcher.js';
import { createRetentionJob, outboxRetentionRules, type RetentionJob } from './jobs/retention.js';
import { createHealthModule } from './modules/health/index.js';
import { createModules, type Modules } from './modules.js';
import { createPlatform, type Platform, type PlatformDeps } from './platform.js';
import { metricsRoute } from './plugins/metrics-route.js';
import type { DataMap } from './shared/data-map.js';
import type { HealthCheck } from './shared/health.js';
import { can } from './shared/permissions.js';
import { bearerToken, sameSecret } from './shared/secrets.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

export type AppDeps = PlatformDeps;

/** The running app's platform and modules: what the server, scripts and tests reach. */
export interface AppPlatform extends Platform {
  services: Modules['services'];
  /** Background work by name (`reminders`, `sheetsSync`), besides the outbox and retention. */
  jobs: Modules['jobs'];
  dispatcher: OutboxDispatcher;
  retention: RetentionJob;
  /** What every module holds about a person: the privacy exports and erasures walk it. */
  dataMap: DataMap;
  track: Modules['track'];
  /** Demo data, in the order the modules were made (identity's accounts first). */
  seeders: Seeder[];
  lifecycle: { draining: boolean };
}

declare module 'fastify' {
  interface FastifyInstance {
    platform: AppPlatform;
  }
}

/**
 * Builds the whole app from its dependencies: the platform, the modules (src/modules.ts), the
 * cross-cutting plugins (src/http.ts), then each module's routes, outbox handlers, retention
 * rules, jobs and health checks. Nothing happens at import; nothing listens here (src/server.ts
 * does). Closing the app stops the workers and closes the database and the store.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const platform = createPlatform(deps);
  const { config, logger, metrics, outbox } = platform;
  const app = createFastify(config, logger);
  const modules = createModules(platform);

  for (const module of modules.list) {
    for (const handler of module.outboxHandlers ?? []) outbox.register(handler.type, handler.handle, handler.options);
  }
  const dispatcher = createOutboxDispatcher({
    db: platform.db,
    outbox,
    clock: platform.clock,
    logger: logger.child({ component: 'outbox' }),
    metrics,
    options: config.outbox,
    random: platform.random,
  });
  const retention = createRetentionJob({
    db: platform.db,
    clock: platform.clock,
    logger: logger.child({ component: 'retention' }),
    metrics,
    intervalMs: config.retention.intervalMs,
    rules: [
      ...modules.list.flatMap((module) => module.retention ?? []),
      ...outboxRetentionRules({
        deliveredDays: config.retention.outboxDays,
        deadDays: config.retention.deadOutboxDays,
      }),
    ],
  });
  const lifecycle = { draining: false };
  app.decorate('platform', {
    ...platform,
    services: modules.services,
    jobs: modules.jobs,
    dispatcher,
    retention,
    dataMap: modules.dataMap,
    track: modules.track,
    seeders: modules.list.flatMap((module) => module.seeders ?? []),
    lifecycle,
  } satisfies AppPlatform);

  const { telemetry, errorTracker } = await startObservability(config, logger);
  metrics.sources.outboxBacklog = () => outboxBacklog(platform.db, platform.clock.now());
  await registerPlugins(app, {
    config,
    kv: platform.kv,
    metrics,
    logger,
    version: VERSION,
    auth: modules.auth,
    inspection: modules.inspection,
    observability: { tracing: telemetry !== undefined, errors: errorTracker },
  });

  const health = createHealthModule(platform, {
    checks: [...replicaHealth(platform.database), ...modules.list.flatMap((module) => module.health ?? [])],
    version: VERSION,
    isDraining: () => lifecycle.draining,
    isOverloaded: () => app.overload.isOverloaded(),
    mayViewDetails: (request) =>
      (request.actor !== undefined && can(request.actor.role, 'system:health')) ||
      (config.healthToken !== undefined && sameSecret(bearerToken(request.headers.authorization), config.healthToken)),
  });
  for (const module of [health, ...modules.list]) {
    if (module.routes) await app.register(module.routes, { prefix: module.prefix ?? '/api/v1' });
  }
  // In production /metrics needs its token: without one it is not served at all.
  if (config.metricsToken || !config.isProduction) {
    await app.register(metricsRoute, { metrics, token: config.metricsToken });
  } else {
    logger.warn('METRICS_TOKEN is not set: /metrics is not served in production');
  }

  // While draining, ask keep-alive clients to reconnect elsewhere so their sockets close
  // as soon as the in-flight response is written.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.draining) reply.header('connection', 'close');
    done(null, payload);
  });

  for (const module of modules.list) await module.start?.();

  app.addHook('onClose', async () => {
    const jobs: PeriodicJob<unknown>[] = Object.values(modules.jobs);
    await Promise.all([dispatcher.stop(), retention.stop(), ...jobs.map((job) => job.stop())]);
    await Promise.allSettled(modules.list.map((module) => module.close?.()));
    await Promise.allSettled([platform.database.close(), platform.kv.close()]);
    // Last: the spans and errors of everything above are sent before the process goes.
    await Promise.allSettled([telemetry?.shutdown(), errorTracker?.close()]);
  });

  return app;
}

/**
 * The read replica's component, when one is configured: down makes the report degraded, not
 * critical, since its reads go to the primary meanwhile (src/infra/db/client.ts).
 */
function replicaHealth(database: Database): HealthCheck[] {
  const { replica } = database;
  return replica ? [{ name: 'database_replica', kind: 'postgres', required: false, check: () => replica.ping() }] : [];
}

/**
 * OTLP tracing (OTEL_EXPORTER_OTLP_ENDPOINT) and Sentry (SENTRY_DSN), each only when configured:
 * unset, their SDKs are never loaded.
 */
async function startObservability(
  config: AppDeps['config'],
  logger: AppDeps['logger'],
): Promise<{ telemetry?: Telemetry; errorTracker?: ErrorTracker }> {
  const telemetry = config.otel
    ? await startTelemetry({ ...config.otel, version: VERSION, environment: config.env }, logger)
    : undefined;
  const errorTracker = config.sentry
    ? await startErrorTracking({ ...config.sentry, release: VERSION }, logger)
    : undefined;
  return { telemetry, errorTracker };
}
