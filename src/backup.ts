// npm run backup [-- --dir <path>] [--keep <n>] [--pg-bin <dir>] (node dist/backup.js in production):
// backs up DATABASE_URL with pg_dump (custom format), or the embedded database in DATA_DIR (the app
// must be stopped), into BACKUP_DIR; --keep deletes all but the newest n backups there afterwards.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { BackupError, type BackupSource, createBackup, pruneBackups, redactUrl } from './infra/db/backup.js';

const USAGE = `Usage: npm run backup -- [--dir <path>] [--keep <n>] [--pg-bin <dir>]
  --dir     where the backup goes (default: BACKUP_DIR, ./backups)
  --keep    afterwards, delete all but the newest n backups of this database kind in that directory
  --pg-bin  directory of pg_dump when it is not on PATH or too old (/usr/lib/postgresql/16/bin)
`;

const APP_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

class UsageError extends Error {}

function positiveInteger(value: string, flag: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${flag} must be a whole number of 1 or more`);
  return Number(value);
}

const megabytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

async function main() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      keep: { type: 'string' },
      'pg-bin': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const keep = values.keep === undefined ? undefined : positiveInteger(values.keep, '--keep');
  const config = loadConfig();
  const dir = values.dir ?? config.backupDir;
  const source: BackupSource = config.databaseUrl
    ? { kind: 'postgres', url: config.databaseUrl, pgBin: values['pg-bin'] }
    : { kind: 'pglite', dataDir: config.dataDir };
  const started = performance.now();
  const backup = await createBackup(source, { dir, appVersion: APP_VERSION });
  const { manifest } = backup;
  for (const warning of backup.warnings) process.stderr.write(`Warning: ${warning}\n`);
  const from = source.kind === 'postgres' ? redactUrl(source.url) : `PGlite in ${source.dataDir}`;
  const rows = Object.values(manifest.tables).reduce((sum, n) => sum + n, 0);
  process.stdout.write(
    `Backup of ${from} written in ${((performance.now() - started) / 1000).toFixed(1)} s: ${backup.path}\n` +
      `  ${megabytes(manifest.size_bytes)}, sha256 ${manifest.sha256}\n` +
      `  ${manifest.migrations.count} migrations (last ${manifest.migrations.last ?? 'none'}), ` +
      `${Object.keys(manifest.tables).length} tables, ${rows} rows\n` +
      `  manifest: ${backup.manifestPath}\n`,
  );
  if (keep !== undefined) {
    const removed = await pruneBackups(dir, { keep, kind: manifest.kind });
    process.stdout.write(
      removed.length === 0
        ? `Retention: nothing to delete (keeping the newest ${keep}).\n`
        : `Retention: deleted ${removed.length} older backup(s), keeping the newest ${keep}:\n${removed.map((path) => `  ${path}\n`).join('')}`,
    );
  }
}

try {
  await main();
} catch (error) {
  if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
    process.stderr.write(`${error.message}\n${USAGE}`);
    process.exit(2);
  }
  const known = error instanceof BackupError || error instanceof ConfigError;
  process.stderr.write(`${known ? (error as Error).message : `Backup failed: ${String(error)}`}\n`);
  process.exit(1);
}
