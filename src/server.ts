import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import type { Seeder } from './infra/db/seed.js';
import { isSeeded, runSeeders } from './infra/db/seed.js';
import { openInfrastructure } from './infra/index.js';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Drains and closes; resolves with the exit code the process should use. */
  shutdown(signal: string): Promise<number>;
}

/**
 * Boots the API: config → infrastructure (migrations) → app → demo seed on a new embedded
 * database → listen → workers. `extend` lets a caller add routes before listening.
 */
export async function start(
  config: Config,
  options: { extend?: (app: FastifyInstance) => Promise<void>; seeders?: Seeder[] } = {},
): Promise<RunningServer> {
  const fromTemplate = await copyTemplateIfNew(config);
  const infrastructure = await openInfrastructure(config);
  const { logger } = infrastructure;
  if (fromTemplate) logger.info({ data_dir: config.dataDir }, 'new embedded database copied from the build template');
  const app = await buildApp({ config, ...infrastructure });
  if (options.extend) await options.extend(app);
  // This month's and the next months' event partitions, before the first event arrives.
  await app.platform.services.analytics.ensurePartitions();

  const seeders = options.seeders ?? app.platform.seeders;
  const canSeed = !config.isProduction && !config.isPostgres && config.seedDemoData;
  if (canSeed && !(await isSeeded(app.platform.db))) {
    await runSeeders(app.platform.db, seeders, {
      clock: app.platform.clock,
      logger,
      isProduction: config.isProduction,
    });
  }

  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace('[::1]', 'localhost');
  if (config.workersEnabled) {
    app.platform.dispatcher.start();
    app.platform.retention.start();
    // The sheets sync is a no-op unless GOOGLE_SHEETS_ID is set.
    for (const job of Object.values(app.platform.jobs)) job.start();
  }

  const logins = canSeed ? seeders.flatMap((seeder) => seeder.logins ?? []) : [];
  const lines = [
    `Care Platform API listening on ${url}`,
    `  API docs:  ${url}/docs`,
    `  health:    ${url}/api/health`,
    `  dashboard: ${url}/admin (admins)`,
    `  database:  ${config.isPostgres ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}`}`,
    ...(logins.length
      ? ['  demo logins:', ...logins.map((l) => `    ${l.role.padEnd(9)} ${l.email} / ${l.password}`)]
      : []),
  ];
  if (!config.isTest) process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ url, database: app.platform.database.kind, cache: app.platform.kv.kind }, 'server started');
  if (config.auth.jwtSecretGenerated) {
    logger.warn('JWT_SECRET is not set: using a random key, so access tokens end when this process does');
  }

  let closing: Promise<number> | undefined;
  const shutdown = (signal: string) => {
    closing ??= (async () => {
      logger.info({ signal }, 'shutting down: readiness off, draining in-flight requests');
      app.platform.lifecycle.draining = true;
      if (config.shutdownDrainDelayMs > 0) {
        // Go on serving while a load balancer polling readiness takes this instance out; answers
        // close their connection so no client keeps one that is about to go away.
        app.server.prependListener('request', (_request, response) => response.setHeader('connection', 'close'));
        await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainDelayMs));
      }
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        logger.error({ timeout_ms: config.shutdownTimeoutMs }, 'shutdown timed out; closing remaining connections');
        app.server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      timer.unref();
      try {
        // Stops accepting, waits for in-flight requests, then onClose: workers, database, store.
        await app.close();
        clearTimeout(timer);
        logger.info({ timed_out: timedOut }, 'shutdown complete');
        // Requests were cut off when the deadline passed: say so in the exit code.
        return timedOut ? 1 : 0;
      } catch (error) {
        logger.error({ err: error }, 'shutdown failed');
        return 1;
      }
    })();
    return closing;
  };

  return { app, url, shutdown };
}

/**
 * A new embedded database starts as a copy of the build's migrated one (none under tsx). The
 * template code is loaded only then: on PostgreSQL the process never loads PGlite.
 */
async function copyTemplateIfNew(config: Config): Promise<boolean> {
  if (config.isPostgres) return false;
  const { createFromTemplate } = await import('./infra/db/pglite-template.js');
  return createFromTemplate(config.dataDir);
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const server = await start(config);
  const onSignal = (signal: NodeJS.Signals) => {
    process.once(signal, () => process.exit(1)); // a second signal: stop waiting
    // Last resort if closing hangs after the connections are gone (a stuck worker or pool).
    setTimeout(() => process.exit(1), config.shutdownDrainDelayMs + config.shutdownTimeoutMs + 5000).unref();
    void server.shutdown(signal).then((code) => {
      setImmediate(() => process.exit(code));
    });
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`Failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
