// npm run migrate (node dist/migrate.js in production): applies pending migrations to DATABASE_URL, or to the embedded database in DATA_DIR.
import { ConfigError, loadConfig } from './config.js';
import { createFromTemplate } from './infra/db/pglite-template.js';
import { openInfrastructure } from './infra/index.js';

try {
  const config = loadConfig();
  // A new embedded database starts as a copy of the build's migrated one, as `node dist/server.js` does.
  if (!config.isPostgres) await createFromTemplate(config.dataDir);
  // openInfrastructure applies migrations before returning, whatever MIGRATE_ON_START says.
  const { database, kv } = await openInfrastructure(config, undefined, { migrate: true });
  await Promise.all([database.close(), kv.close()]);
  process.stdout.write(
    `Migrations are up to date (${config.isPostgres ? 'PostgreSQL' : `PGlite in ${config.dataDir}`}).\n`,
  );
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `Migration failed: ${String(error)}`}\n`);
  process.exit(1);
}
