// npm run restore -- <backup file> [--target <postgres URL | directory>] [--force] [--pg-bin <dir>]
// (node dist/restore.js in production): checks the file against its manifest, restores it into an
// empty database (PostgreSQL: pg_restore; PGlite: a new data directory), then verifies the copy:
// row counts against the manifest, the audit hash chain and the payments ledger. Exits 1 when the
// restore fails or any check does.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { systemClock } from './infra/clock.js';
import { BackupError, type RestoreResult, redactUrl, restoreBackup, restoreTargetOf } from './infra/db/backup.js';
import { type Database, openDatabase } from './infra/db/client.js';
import { createMemoryStore } from './infra/kv/memory.js';
import { createLogger } from './infra/logger.js';
import { createMetrics } from './infra/metrics.js';
import type { VerifyResult } from './modules/audit/index.js';

const USAGE = `Usage: npm run restore -- <backup file> [--target <postgres URL | directory>] [--force] [--pg-bin <dir>]
  --target  where to restore (default: DATABASE_URL, else DATA_DIR); it must be empty
  --force   PostgreSQL only: restore into a non-empty database, dropping the objects the backup holds
  --pg-bin  directory of pg_restore when it is not on PATH or too old (/usr/lib/postgresql/16/bin)
`;

export interface RestoredChecks {
  audit: VerifyResult;
  ledger: { ok: boolean; entries: number; lines: number; problems: string[] };
}

/**
 * The audit chain and the ledger of a restored database, checked by the app's own services on
 * an app built over it (no workers, no Redis, no migrations: the copy stays as restored).
 * Read-only: `walk` rather than `verify`, which would also raise a security alert in the copy.
 */
export async function verifyRestoredDatabase(database: Database, config: Config): Promise<RestoredChecks> {
  const app = await buildApp({
    config,
    database,
    kv: createMemoryStore(systemClock),
    logger: createLogger({ level: 'warn' }),
    metrics: createMetrics(),
  });
  try {
    const { audit, payments } = app.platform.services;
    return { audit: await audit.walk(), ledger: await payments.verifyLedger() };
  } finally {
    await app.close();
  }
}

/** The report lines and whether everything held. */
export function describeChecks(result: RestoreResult, checks: RestoredChecks): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  const tables = Object.keys(result.tables).length;
  if (result.countMismatches.length === 0) {
    lines.push(`Row counts: all ${tables} tables match the manifest.`);
  } else {
    lines.push(`Row counts DIFFER from the manifest in ${result.countMismatches.length} table(s):`);
    for (const row of result.countMismatches) {
      lines.push(`  ${row.table}: expected ${row.expected ?? '(absent)'}, restored ${row.actual ?? '(absent)'}`);
    }
  }
  const { audit, ledger } = checks;
  lines.push(
    audit.valid
      ? `Audit trail intact: ${audit.checked} rows verified.`
      : `Audit trail BROKEN after ${audit.checked} good rows: row ${audit.broken?.seq}` +
          `${audit.broken?.id ? ` (id ${audit.broken.id})` : ''}: ${audit.broken?.reason}`,
  );
  lines.push(
    ledger.ok
      ? `Ledger consistent: ${ledger.entries} entries, ${ledger.lines} lines verified.`
      : `Ledger INCONSISTENT (${ledger.entries} entries, ${ledger.lines} lines):\n${ledger.problems.map((problem) => `  ${problem}`).join('\n')}`,
  );
  return { ok: result.countMismatches.length === 0 && audit.valid && ledger.ok, lines };
}

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      target: { type: 'string' },
      force: { type: 'boolean' },
      'pg-bin': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) throw new UsageError('Name one backup file.');
  const config = loadConfig({ ...process.env, WORKERS_ENABLED: 'false' });
  const target = restoreTargetOf(values.target ?? config.databaseUrl ?? config.dataDir, values['pg-bin']);
  const where = target.kind === 'postgres' ? redactUrl(target.url) : `PGlite directory ${target.dataDir}`;

  const started = performance.now();
  const result = await restoreBackup(file, target, { force: values.force });
  const { manifest } = result;
  process.stdout.write(
    `${file} matches its manifest (sha256 ${manifest.sha256.slice(0, 16)}…, made ${manifest.created_at} by ` +
      `app ${manifest.app_version}).\n` +
      `Restored into ${where} in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `${result.migrations.count} migrations (last ${result.migrations.last ?? 'none'}).\n`,
  );

  const database =
    target.kind === 'postgres'
      ? await openDatabase({ kind: 'postgres', url: target.url, poolMax: 2, guardTransactions: false })
      : await openDatabase({ kind: 'pglite', dataDir: target.dataDir, guardTransactions: false });
  const checks = await verifyRestoredDatabase(database, config);
  const report = describeChecks(result, checks);
  process.stdout.write(`${report.lines.join('\n')}\n`);
  process.stdout.write(
    report.ok
      ? 'Restore verified. The copy keeps the original deployment id, so its Redis namespace too: give it its own ' +
          'REDIS_KEY_PREFIX if it shares a Redis with the original. The app applies newer migrations when it starts ' +
          '(or: node dist/migrate.js).\n'
      : 'Restore NOT verified: do not put this copy into service before the findings above are understood.\n',
  );
  return report.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = await main();
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
      process.stderr.write(`${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      const known = error instanceof BackupError || error instanceof ConfigError;
      process.stderr.write(`${known ? (error as Error).message : `Restore failed: ${String(error)}`}\n`);
      process.exitCode = 1;
    }
  }
}
