// npm run migrate (node dist/migrate.js in production): applies pending migrations to DATABASE_URL, or to the embedded database in DATA_DIR.
import { ConfigError, loadConfig } from './config.js';
import { openInfrastructure } from './infra/index.js';

try {
  const config = loadConfig();
  // openInfrastructure applies migrations before returning.
  const { database, kv } = await openInfrastructure(config);
  await Promise.all([database.close(), kv.close()]);
  process.stdout.write(
    `Migrations are up to date (${config.isPostgres ? 'PostgreSQL' : `PGlite in ${config.dataDir}`}).\n`,
  );
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `Migration failed: ${String(error)}`}\n`);
  process.exit(1);
}
