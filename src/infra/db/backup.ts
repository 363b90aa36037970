import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { createPglite } from './client.js';
import { MIGRATIONS_FOLDER } from './migrate.js';

/**
 * Backups of either database the app runs on, and their restore: `pg_dump --format=custom` of
 * PostgreSQL, a gzipped tarball of an embedded (PGlite) data directory. Each backup file has a
 * JSON manifest beside it (`<file>.json`) with its checksum, the migrations it holds and the row
 * count of every table, read in the same snapshot as the dump; a restore refuses a file that
 * does not match its manifest and compares the restored row counts with it.
 */

/** A refusal or failure the operator can act on; the CLIs print its message alone. */
export class BackupError extends Error {
  override name = 'BackupError';
}

export type BackupKind = 'postgres' | 'pglite';

export interface BackupManifest {
  format: 1;
  kind: BackupKind;
  /** The backup file's name, in the same directory as the manifest. */
  file: string;
  created_at: string;
  size_bytes: number;
  sha256: string;
  app_version: string;
  migrations: MigrationState;
  /** Rows per table (`schema.table`; a partitioned table counts its partitions). */
  tables: Record<string, number>;
  /** PostgreSQL only: the server's and pg_dump's versions (pg_restore must be at least pg_dump's major). */
  postgres?: { server_version: string; pg_dump_version: string };
  /** PGlite only: the PostgreSQL version inside it; a data directory opens only in the same major. */
  pglite?: { server_version: string };
}

export interface MigrationState {
  count: number;
  /** The tag of the last migration applied (`0027_deployment_id`), or null for none. */
  last: string | null;
}

/** A database to back up or restore into; `pgBin` is the directory of pg_dump and pg_restore when not on PATH. */
export type BackupSource = { kind: 'postgres'; url: string; pgBin?: string } | { kind: 'pglite'; dataDir: string };
export type RestoreTarget = BackupSource;

export interface BackupResult {
  path: string;
  manifestPath: string;
  manifest: BackupManifest;
  /** Things the operator should know that did not stop the backup. */
  warnings: string[];
}

export interface RestoreResult {
  manifest: BackupManifest;
  migrations: MigrationState;
  tables: Record<string, number>;
  /** Tables whose restored row count differs from the manifest's (or that are missing on one side). */
  countMismatches: { table: string; expected: number | null; actual: number | null }[];
}

type Rows = (text: string) => Promise<Record<string, unknown>[]>;

const MANIFEST_SUFFIX = '.json';
const BACKUP_NAME = /^care-(postgres|pglite)-[0-9TZ.-]+\.(dump|tar\.gz)$/;

// ---------------------------------------------------------------------------------------------
// What a database holds: migrations and row counts, read through one connection (one snapshot).

function migrationTags(): Map<number, string> {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
    entries: { when: number; tag: string }[];
  };
  return new Map(journal.entries.map((entry) => [entry.when, entry.tag]));
}

async function migrationState(rows: Rows): Promise<MigrationState> {
  const [exists] = await rows(`select to_regclass('drizzle.__drizzle_migrations') is not null as present`);
  if (!exists?.present) return { count: 0, last: null };
  const [state] = await rows(
    'select count(*)::int as count, max(created_at)::text as last from drizzle.__drizzle_migrations',
  );
  const last = state?.last == null ? null : Number(state.last);
  // A backup made by a newer release names a migration this code does not know.
  const tag = last === null ? null : (migrationTags().get(last) ?? `unknown migration (created_at ${last})`);
  return { count: Number(state?.count ?? 0), last: tag };
}

/** Tables of the app's schemas; partitions are counted through their parent, extension tables not at all. */
const TABLES_SQL = `
  select n.nspname || '.' || c.relname as name, format('%I.%I', n.nspname, c.relname) as ident
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  order by 1`;

async function tableCounts(rows: Rows): Promise<Record<string, number>> {
  const tables = (await rows(TABLES_SQL)) as { name: string; ident: string }[];
  if (tables.length === 0) return {};
  const counts = await rows(
    tables
      .map((table) => `select '${table.name}' as name, count(*)::bigint::text as n from ${table.ident}`)
      .join(' union all '),
  );
  return Object.fromEntries(counts.map((row) => [String(row.name), Number(row.n)]));
}

// ---------------------------------------------------------------------------------------------
// Files: names, checksums, manifests, retention.

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `care-postgres-2026-11-23T10-00-00.000Z.dump`: sorts by time, no characters a shell or Windows minds. */
function backupName(kind: BackupKind, now: Date): string {
  return `care-${kind}-${now.toISOString().replaceAll(':', '-')}.${kind === 'postgres' ? 'dump' : 'tar.gz'}`;
}

/** Writes the backup under a temporary name first: a half-written file never looks like a backup. */
async function writeBackupFiles(
  dir: string,
  name: string,
  write: (partialPath: string) => Promise<void>,
  describe: (file: { size: number; sha256: string }) => BackupManifest,
): Promise<{ path: string; manifestPath: string; manifest: BackupManifest }> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const partial = `${path}.partial`;
  try {
    await write(partial);
    const manifest = describe({ size: statSync(partial).size, sha256: await sha256Of(partial) });
    await rename(partial, path);
    // The manifest comes last: a backup without one is unfinished and restore refuses it.
    const manifestPath = `${path}${MANIFEST_SUFFIX}`;
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return { path, manifestPath, manifest };
  } finally {
    await rm(partial, { force: true });
  }
}

/** The manifest of a backup file; refuses a file that is missing one or does not match it. */
export async function readVerifiedManifest(file: string): Promise<BackupManifest> {
  if (!existsSync(file)) throw new BackupError(`${file} does not exist`);
  const manifestPath = `${file}${MANIFEST_SUFFIX}`;
  if (!existsSync(manifestPath)) {
    throw new BackupError(`${manifestPath} is missing: without its manifest the backup cannot be checked`);
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw new BackupError(`${manifestPath} is not valid JSON: ${(error as Error).message}`);
  }
  if (manifest.format !== 1 || (manifest.kind !== 'postgres' && manifest.kind !== 'pglite')) {
    throw new BackupError(`${manifestPath} is not a Care Platform backup manifest (format 1)`);
  }
  const size = statSync(file).size;
  const sha256 = await sha256Of(file);
  if (size !== manifest.size_bytes || sha256 !== manifest.sha256) {
    throw new BackupError(
      `${file} does not match its manifest (size ${size}, expected ${manifest.size_bytes}; sha256 ${sha256}, ` +
        `expected ${manifest.sha256}): the file is damaged or was changed; restore refused`,
    );
  }
  return manifest;
}

interface StoredBackup {
  path: string;
  manifestPath: string;
  manifest: BackupManifest;
}

/** The finished backups in `dir` (those with a manifest), newest first. */
function listBackups(dir: string): StoredBackup[] {
  if (!existsSync(dir)) return [];
  const found: StoredBackup[] = [];
  for (const name of readdirSync(dir)) {
    if (!BACKUP_NAME.test(name)) continue;
    const manifestPath = join(dir, `${name}${MANIFEST_SUFFIX}`);
    if (!existsSync(manifestPath)) continue;
    let manifest: BackupManifest | undefined;
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch {
      manifest = undefined;
    }
    // A manifest this code did not write is not ours to judge or delete.
    if (manifest?.format === 1 && typeof manifest.created_at === 'string') {
      found.push({ path: join(dir, name), manifestPath, manifest });
    }
  }
  return found.sort((a, b) => b.manifest.created_at.localeCompare(a.manifest.created_at));
}

/** Deletes all but the `keep` newest backups of `kind` in `dir` (file and manifest); the paths removed. */
export async function pruneBackups(dir: string, options: { keep: number; kind: BackupKind }): Promise<string[]> {
  if (!Number.isInteger(options.keep) || options.keep < 1) throw new BackupError('--keep must be 1 or more');
  const old = listBackups(dir)
    .filter((backup) => backup.manifest.kind === options.kind)
    .slice(options.keep);
  for (const backup of old) {
    await rm(backup.path, { force: true });
    await rm(backup.manifestPath, { force: true });
  }
  return old.map((backup) => backup.path);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL through its own tools.

/** The URL without its password (which goes in PGPASSWORD, not on a command line `ps` shows). */
function libpqConnection(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { dbname: parsed.toString(), env: password ? { ...process.env, PGPASSWORD: password } : process.env };
}

/** The URL as it may be printed. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new BackupError(
              `${command} was not found: install the PostgreSQL client tools (Debian: apt-get install ` +
                'postgresql-client) or pass --pg-bin <directory of pg_dump and pg_restore>',
            )
          : error,
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new BackupError(`${basename(command)} failed (exit ${code}):\n${output.trim().slice(-4000)}`));
    });
  });
}

const tool = (name: 'pg_dump' | 'pg_restore', pgBin?: string) => (pgBin ? join(pgBin, name) : name);

/** `pg_dump (PostgreSQL) 15.20 (Debian …)` → `15.20`. */
async function toolVersion(command: string): Promise<string> {
  const output = await run(command, ['--version'], process.env);
  const version = /\(PostgreSQL\)\s+([0-9]+(?:\.[0-9]+)?)/.exec(output)?.[1];
  if (!version) throw new BackupError(`cannot read the version of ${command} from "${output.trim()}"`);
  return version;
}

const major = (version: string) => Number.parseInt(version, 10);

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new BackupError(`cannot connect to ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return client;
}

const rowsOf =
  (client: pg.Client): Rows =>
  async (text) =>
    (await client.query(text)).rows;

/**
 * pg_dump in the custom format. The manifest's migrations and row counts are read in a
 * repeatable-read transaction whose snapshot pg_dump adopts (`--snapshot`), so they describe
 * exactly what the file holds, even while the app keeps writing.
 */
async function backupPostgres(
  source: Extract<BackupSource, { kind: 'postgres' }>,
  dir: string,
  now: Date,
  appVersion: string,
): Promise<BackupResult> {
  const pgDump = tool('pg_dump', source.pgBin);
  const clientVersion = await toolVersion(pgDump);
  const client = await connect(source.url);
  try {
    const [server] = (await client.query('show server_version')).rows as { server_version: string }[];
    const serverVersion = (server?.server_version ?? '').split(' ')[0] ?? '';
    if (major(clientVersion) < major(serverVersion)) {
      throw new BackupError(
        `pg_dump ${clientVersion} is older than the server (PostgreSQL ${serverVersion}): pg_dump must be at least the ` +
          `server's major version. Install postgresql-client-${major(serverVersion)} or pass --pg-bin ` +
          `/usr/lib/postgresql/${major(serverVersion)}/bin`,
      );
    }
    await client.query('begin isolation level repeatable read read only');
    const [{ snapshot }] = (await client.query('select pg_export_snapshot() as snapshot')).rows as [
      { snapshot: string },
    ];
    const migrations = await migrationState(rowsOf(client));
    const tables = await tableCounts(rowsOf(client));
    const { dbname, env } = libpqConnection(source.url);
    const name = backupName('postgres', now);
    const written = await writeBackupFiles(
      dir,
      name,
      async (partial) => {
        await run(
          pgDump,
          ['--format=custom', '--no-password', `--snapshot=${snapshot}`, `--file=${partial}`, `--dbname=${dbname}`],
          env,
        );
      },
      (file) => ({
        format: 1,
        kind: 'postgres',
        file: name,
        created_at: now.toISOString(),
        size_bytes: file.size,
        sha256: file.sha256,
        app_version: appVersion,
        migrations,
        tables,
        postgres: { server_version: serverVersion, pg_dump_version: clientVersion },
      }),
    );
    await client.query('commit');
    return { ...written, warnings: [] };
  } finally {
    await client.end();
  }
}

/** Relations in the app's schemas (tables, views, sequences …), extension members aside. */
async function relationCount(client: pg.Client): Promise<number> {
  const [row] = (
    await client.query(`
      select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
        and not exists (select 1 from pg_depend d
                        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`)
  ).rows as { n: number }[];
  return row?.n ?? 0;
}

/**
 * Drops what the app's schemas hold, keeping the `public` schema itself (its owner and grants)
 * and the extensions: `pg_restore --clean` cannot do it, it stumbles over the constraints
 * partitions inherit. One transaction: it empties everything or nothing.
 */
const EMPTY_DATABASE_SQL = `
do $$
declare
  item record;
begin
  for item in
    select n.nspname from pg_namespace n
    where n.nspname not in ('public', 'pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
      and not exists (select 1 from pg_depend d
                      where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e')
  loop
    execute format('drop schema %I cascade', item.nspname);
  end loop;
  -- Names as text, read before anything is dropped: a table dropped in this loop may take
  -- others along (its sequences, views on it), hence "if exists".
  for item in
    select format('%I.%I', 'public', c.relname) as name,
      case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'S' then 'sequence'
        when 'f' then 'foreign table' else 'table' end as kind
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
      and not c.relispartition
      and not exists (select 1 from pg_depend d
                      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  loop
    execute format('drop %s if exists %s cascade', item.kind, item.name);
  end loop;
  for item in
    select p.oid::regprocedure::text as name from pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and not exists (select 1 from pg_depend d
                      where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
  loop
    execute format('drop routine if exists %s cascade', item.name);
  end loop;
  for item in
    select t.oid::regtype::text as name from pg_type t
    where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'r', 'm')
      and not exists (select 1 from pg_depend d
                      where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e')
  loop
    execute format('drop type if exists %s cascade', item.name);
  end loop;
end
$$`;

async function restorePostgres(
  file: string,
  manifest: BackupManifest,
  target: Extract<RestoreTarget, { kind: 'postgres' }>,
  force: boolean,
): Promise<Pick<RestoreResult, 'migrations' | 'tables'>> {
  const pgRestore = tool('pg_restore', target.pgBin);
  const restoreVersion = await toolVersion(pgRestore);
  const dumpVersion = manifest.postgres?.pg_dump_version ?? '0';
  if (major(restoreVersion) < major(dumpVersion)) {
    throw new BackupError(
      `pg_restore ${restoreVersion} cannot read a file written by pg_dump ${dumpVersion}: install ` +
        `postgresql-client-${major(dumpVersion)} or pass --pg-bin`,
    );
  }
  const client = await connect(target.url);
  try {
    const relations = await relationCount(client);
    if (relations > 0 && !force) {
      throw new BackupError(
        `${redactUrl(target.url)} is not empty (${relations} tables, views or sequences): restore into a new ` +
          'database (createdb), or pass --force to drop everything in it first',
      );
    }
    if (relations > 0) {
      await client.query(EMPTY_DATABASE_SQL);
      const left = await relationCount(client);
      if (left > 0) throw new BackupError(`--force could not empty ${redactUrl(target.url)}: ${left} objects are left`);
    }
    const { dbname, env } = libpqConnection(target.url);
    // One transaction: a restore that fails leaves the target empty, not half restored.
    await run(
      pgRestore,
      [
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        '--no-password',
        `--dbname=${dbname}`,
        file,
      ],
      env,
    );
    return { migrations: await migrationState(rowsOf(client)), tables: await tableCounts(rowsOf(client)) };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The embedded database: one process owns a data directory at a time.

/**
 * The processes (this one included) with files of `dir` open, from /proc; undefined where /proc does
 * not exist (macOS, Windows), so the caller can say it could not check. A running app on PGlite
 * keeps its relation files open, and PGlite takes no lock a second process would notice: copying
 * or writing a directory another process is using would corrupt both sides.
 */
export function processesUsing(dir: string): number[] | undefined {
  if (!existsSync('/proc/self/fd')) return undefined;
  const root = `${realpathSync(dir)}/`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's process, or gone meanwhile
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`/proc/${entry}/fd/${fd}`).startsWith(root);
      } catch {
        return false;
      }
    });
    if (holds) pids.push(Number(entry));
  }
  return pids;
}

const isEmbeddedDatabase = (dir: string) => existsSync(join(dir, 'PG_VERSION'));

function refuseIfInUse(dir: string, warnings: string[]): void {
  const pids = processesUsing(dir);
  if (pids === undefined) {
    warnings.push(`could not check whether another process uses ${dir} (no /proc): make sure the app is stopped`);
  } else if (pids.length > 0) {
    throw new BackupError(
      `the embedded database in ${dir} is open in process ${pids.join(', ')}: stop the app first ` +
        '(a PGlite directory belongs to one process at a time; for backups of a running app use PostgreSQL)',
    );
  }
}

/**
 * A consistent copy of a PGlite data directory: the database is opened here (recovering from
 * its WAL if the app stopped abruptly) and dumped through its one connection, so nothing writes
 * meanwhile. The app must be stopped: it would be a second writer on the same files.
 */
async function backupPglite(
  source: Extract<BackupSource, { kind: 'pglite' }>,
  dir: string,
  now: Date,
  appVersion: string,
): Promise<BackupResult> {
  if (!isEmbeddedDatabase(source.dataDir)) {
    throw new BackupError(`${source.dataDir} holds no embedded database (no PG_VERSION file)`);
  }
  const warnings: string[] = [];
  refuseIfInUse(source.dataDir, warnings);
  const instance = await createPglite(source.dataDir);
  try {
    const rows: Rows = async (text) => (await instance.query<Record<string, unknown>>(text)).rows;
    const migrations = await migrationState(rows);
    const tables = await tableCounts(rows);
    const [server] = await rows('show server_version');
    const dump = Buffer.from(await (await instance.dumpDataDir('gzip')).arrayBuffer());
    const name = backupName('pglite', now);
    const written = await writeBackupFiles(
      dir,
      name,
      (partial) => writeFile(partial, dump),
      (file) => ({
        format: 1,
        kind: 'pglite',
        file: name,
        created_at: now.toISOString(),
        size_bytes: file.size,
        sha256: file.sha256,
        app_version: appVersion,
        migrations,
        tables,
        pglite: { server_version: String(server?.server_version ?? '') },
      }),
    );
    return { ...written, warnings };
  } finally {
    await instance.close();
  }
}

function isEmptyOrMissing(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

async function restorePglite(
  file: string,
  target: Extract<RestoreTarget, { kind: 'pglite' }>,
): Promise<Pick<RestoreResult, 'migrations' | 'tables'>> {
  const { dataDir } = target;
  if (!isEmptyOrMissing(dataDir)) {
    throw new BackupError(
      `${dataDir} is not empty: restore into a new directory (--target <dir>) and point DATA_DIR at it, ` +
        'or move the old one away first',
    );
  }
  let tarball: Buffer;
  try {
    tarball = gunzipSync(await readFile(file));
  } catch (error) {
    throw new BackupError(`${file} is damaged (${(error as Error).message}); restore refused`);
  }
  const created = !existsSync(dataDir);
  try {
    const instance = await createPglite(dataDir, new Blob([tarball], { type: 'application/x-tar' }));
    try {
      const rows: Rows = async (text) => (await instance.query<Record<string, unknown>>(text)).rows;
      return { migrations: await migrationState(rows), tables: await tableCounts(rows) };
    } finally {
      await instance.close();
    }
  } catch (error) {
    // Nothing half-restored is left to be mistaken for a database.
    await rm(dataDir, { recursive: true, force: true });
    if (!created) await mkdir(dataDir, { recursive: true });
    throw error instanceof BackupError ? error : new BackupError(`restore failed: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Backs `source` up into `dir` (file + manifest); the PGlite source must not be in use. */
export async function createBackup(
  source: BackupSource,
  options: { dir: string; appVersion: string; now?: Date },
): Promise<BackupResult> {
  const now = options.now ?? new Date();
  return source.kind === 'postgres'
    ? backupPostgres(source, options.dir, now, options.appVersion)
    : backupPglite(source, options.dir, now, options.appVersion);
}

/**
 * Restores `file` into an empty target of the same kind (PostgreSQL: a non-empty one with
 * `force`), after checking the file against its manifest; then compares the row counts.
 */
export async function restoreBackup(
  file: string,
  target: RestoreTarget,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const manifest = await readVerifiedManifest(file);
  if (manifest.kind !== target.kind) {
    throw new BackupError(
      `${basename(file)} is a ${manifest.kind === 'postgres' ? 'PostgreSQL' : 'PGlite'} backup: it restores into ` +
        `${manifest.kind === 'postgres' ? 'a PostgreSQL database (--target postgres://…)' : 'a PGlite data directory (--target <dir>)'}`,
    );
  }
  const restored =
    target.kind === 'postgres'
      ? await restorePostgres(file, manifest, target, options.force ?? false)
      : await restorePglite(file, target);
  return { manifest, ...restored, countMismatches: compareCounts(manifest.tables, restored.tables) };
}

function compareCounts(expected: Record<string, number>, actual: Record<string, number>) {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return names
    .filter((table) => expected[table] !== actual[table])
    .map((table) => ({ table, expected: expected[table] ?? null, actual: actual[table] ?? null }));
}

/** A restore target from its spelling: a postgres:// URL or a directory for PGlite. */
export function restoreTargetOf(target: string, pgBin?: string): RestoreTarget {
  return /^postgres(ql)?:\/\//.test(target)
    ? { kind: 'postgres', url: target, pgBin }
    : { kind: 'pglite', dataDir: target };
}
