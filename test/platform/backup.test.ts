/**
 * Backups and restores (src/infra/db/backup.ts, npm run backup / npm run restore): a database with
 * history (accounts, an admin decision, a paid booking and a refund, so audit rows and ledger
 * entries) is backed up, restored into a new target and checked: same row counts, audit chain
 * intact, ledger consistent. A changed file is refused; a copy whose audit trail or ledger was
 * edited fails verification and says where. PostgreSQL (pg_dump / pg_restore) in services mode.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  type BackupManifest,
  type BackupResult,
  createBackup,
  pruneBackups,
  restoreBackup,
} from '../../src/infra/db/backup.js';
import { createPglite, type Database, type Db, openDatabase, queryRows } from '../../src/infra/db/client.js';
import { describeChecks, verifyRestoredDatabase } from '../../src/restore.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';
import { seedDemoData } from '../helpers/demo.js';
import { drainOutbox } from '../helpers/payments.js';
import { createUser } from '../helpers/users.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKERS_ENABLED: 'false' });

/** Accounts, an admin decision, a paid booking (capture) and a partial refund: audit rows and ledger entries. */
async function addHistory(app: FastifyInstance): Promise<void> {
  const demo = await seedDemoData(app);
  const client = api(app);
  const verified = await client.as(demo.admin).patch('/api/v1/admin/providers/{id}', {
    params: { id: demo.pendingProviderId },
    body: { verification: 'verified' },
  });
  expect(verified.status, verified.raw.body).toBe(200);
  const customer = await createUser(app);
  const slots = await client.anonymous.get('/api/v1/providers/{id}/slots', {
    params: { id: demo.providerId },
    query: { service_id: demo.paidServiceId },
  });
  const booking = await client.as(customer).post('/api/v1/bookings', {
    body: { service_id: demo.paidServiceId, starts_at: slots.data.slots[0] as string, payment_token: 'sim_success' },
  });
  expect(booking.status, booking.raw.body).toBe(201);
  await drainOutbox({ app });
  const refund = await client.as(demo.admin).post('/api/v1/admin/payments/{id}/refunds', {
    params: { id: booking.data.payment?.id as string },
    body: { amount_minor: 1000, reason: 'goodwill' },
  });
  expect(refund.status, refund.raw.body).toBe(202);
  await drainOutbox({ app });
}

/** Rows of every table of the app's schemas, counted by the test itself (not by the code under test). */
async function countRows(db: Db): Promise<Record<string, number>> {
  const tables = await queryRows<{ name: string }>(
    db,
    sql`select format('%I.%I', table_schema, table_name) as name from information_schema.tables
        where table_schema in ('public', 'drizzle') and table_type = 'BASE TABLE' order by 1`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await queryRows<{ n: number }>(db, sql.raw(`select count(*)::int as n from ${name}`));
    counts[name] = row?.n ?? 0;
  }
  return counts;
}

async function auditAndLedgerSizes(db: Db) {
  const [row] = await queryRows<{ audit: number; entries: number }>(
    db,
    sql`select (select count(*) from audit_log)::int as audit, (select count(*) from ledger_entries)::int as entries`,
  );
  return row as { audit: number; entries: number };
}

/** A copy of a backup (file and manifest) in `dir`, to damage without touching the original. */
function copyBackup(backup: BackupResult, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const copy = join(dir, backup.manifest.file);
  cpSync(backup.path, copy);
  cpSync(backup.manifestPath, `${copy}.json`);
  return copy;
}

function flipBytes(path: string, offset: number): void {
  const bytes = readFileSync(path);
  for (let i = offset; i < offset + 16; i += 1) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
  writeFileSync(path, bytes);
}

/** The manifest rewritten to match a changed file: only the content can betray it now. */
function resign(path: string): void {
  const manifest = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as BackupManifest;
  const bytes = readFileSync(path);
  manifest.sha256 = createHash('sha256').update(bytes).digest('hex');
  manifest.size_bytes = bytes.length;
  writeFileSync(`${path}.json`, JSON.stringify(manifest));
}

/** Runs one of the CLIs (src/backup.ts, src/restore.ts) as npm run does; never throws on exit codes. */
async function cli(script: string, args: string[], env: Record<string, string>) {
  const { DATABASE_URL: _unset, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { ...inherited, NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('backup and restore of the embedded database (PGlite)', () => {
  const clock = createTestClock(new Date());
  const work = mkdtempSync(join(tmpdir(), 'care-backup-'));
  const sourceDir = join(work, 'data');
  let sourceCounts: Record<string, number>;
  let sizes: { audit: number; entries: number };
  /** Made in-process once; tests copy it before changing anything. */
  let backup: BackupResult;

  beforeAll(async () => {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))], { type: 'application/x-tar' });
    const database = await openDatabase({ kind: 'pglite', instance: await createPglite(sourceDir, template) });
    const t = await buildTestApp({ clock, database });
    try {
      await addHistory(t.app);
      // Events recorded later (batched) are stored now, so the counts are what the backup will hold.
      await t.app.platform.track.flush();
      sourceCounts = await countRows(t.app.platform.db);
      sizes = await auditAndLedgerSizes(t.app.platform.db);
    } finally {
      await t.close();
    }
    expect(sizes.audit).toBeGreaterThan(0);
    expect(sizes.entries).toBeGreaterThanOrEqual(2);
    backup = await createBackup(
      { kind: 'pglite', dataDir: sourceDir },
      { dir: join(work, 'shared'), appVersion: 'test' },
    );
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('npm run backup, then npm run restore into a new directory: row counts, audit chain and ledger hold', async () => {
    const backups = join(work, 'cli-backups');
    const made = await cli('src/backup.ts', ['--keep', '3'], { DATA_DIR: sourceDir, BACKUP_DIR: backups });
    expect(made.code, made.stderr).toBe(0);
    const file = /written in [0-9.]+ s: (\S+\.tar\.gz)\n/.exec(made.stdout)?.[1] as string;
    expect(existsSync(file) && existsSync(`${file}.json`)).toBe(true);
    expect(made.stdout).toMatch(/[0-9]+ migrations \(last [0-9]{4}_\w+\)/);
    const manifest = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({
      kind: 'pglite',
      format: 1,
      pglite: { server_version: expect.stringMatching(/^[0-9]+/) },
    });
    expect(manifest.tables['public.audit_log']).toBe(sizes.audit);

    const target = join(work, 'cli-restored');
    const restored = await cli('src/restore.ts', [file, '--target', target], {});
    expect(restored.code, `${restored.stdout}${restored.stderr}`).toBe(0);
    expect(restored.stdout).toContain('Row counts: all');
    expect(restored.stdout).toContain(`Audit trail intact: ${sizes.audit} rows verified.`);
    expect(restored.stdout).toMatch(new RegExp(`Ledger consistent: ${sizes.entries} entries, [0-9]+ lines verified`));
    expect(restored.stdout).toContain('Restore verified.');

    const copy = await openDatabase({ kind: 'pglite', dataDir: target });
    try {
      expect(await countRows(copy.db)).toEqual(sourceCounts);
    } finally {
      await copy.close();
    }
  });

  it('refuses to back up a directory another process has open (a running app)', async () => {
    const app = await createPglite(sourceDir);
    try {
      await expect(
        createBackup({ kind: 'pglite', dataDir: sourceDir }, { dir: join(work, 'refused'), appVersion: 'test' }),
      ).rejects.toThrow(/is open in process [0-9]+: stop the app first/);
    } finally {
      await app.close();
    }
    expect(existsSync(join(work, 'refused'))).toBe(false);
  });

  it('a backup whose bytes changed is refused before anything is restored, even with a rewritten manifest', async () => {
    const flipped = copyBackup(backup, join(work, 'flipped'));
    flipBytes(flipped, 4096);
    const target = join(work, 'flipped-target');
    await expect(restoreBackup(flipped, { kind: 'pglite', dataDir: target })).rejects.toThrow(
      /does not match its manifest .*the file is damaged or was changed; restore refused/,
    );
    resign(flipped);
    await expect(restoreBackup(flipped, { kind: 'pglite', dataDir: target })).rejects.toThrow(
      /is damaged \(.*\); restore refused/,
    );
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a non-empty directory, a backup without its manifest and a target of the other kind', async () => {
    const occupied = join(work, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'keep.txt'), 'someone else’s');
    await expect(restoreBackup(backup.path, { kind: 'pglite', dataDir: occupied })).rejects.toThrow(/is not empty/);
    await expect(
      restoreBackup(backup.path, { kind: 'postgres', url: 'postgres://nobody@127.0.0.1:1/x' }),
    ).rejects.toThrow(/is a PGlite backup: it restores into a PGlite data directory/);
    const orphan = join(work, 'orphan', backup.manifest.file);
    mkdirSync(join(work, 'orphan'));
    cpSync(backup.path, orphan);
    await expect(restoreBackup(orphan, { kind: 'pglite', dataDir: join(work, 'orphan-target') })).rejects.toThrow(
      /\.json is missing/,
    );
    expect(readFileSync(join(occupied, 'keep.txt'), 'utf8')).toBe('someone else’s');
  });

  it('a restored copy whose audit trail and ledger were edited fails verification and names what broke', async () => {
    const target = join(work, 'edited');
    const result = await restoreBackup(backup.path, { kind: 'pglite', dataDir: target });
    expect(result.countMismatches).toEqual([]);
    const editor = await createPglite(target);
    // As someone with superuser rights would: past the append-only triggers.
    await editor.exec(`
      set session_replication_role = replica;
      update audit_log set action = 'tampered' where seq = 1;
      update ledger_lines set amount_minor = amount_minor + 1
        where entry_id = (select id from ledger_entries order by id limit 1) and line_no = 1;`);
    await editor.close();

    const checks = await verifyRestoredDatabase(
      await openDatabase({ kind: 'pglite', dataDir: target, guardTransactions: false }),
      config,
    );
    expect(checks.audit).toMatchObject({ valid: false, broken: { seq: 1 } });
    expect(checks.ledger.ok).toBe(false);
    const report = describeChecks(result, checks);
    expect(report.ok).toBe(false);
    expect(report.lines.join('\n')).toMatch(/Audit trail BROKEN after 0 good rows: row 1/);
    expect(report.lines.join('\n')).toMatch(/Ledger INCONSISTENT .*\n {2}entry \S+ does not balance in GBP/);
  });

  it('--keep deletes all but the newest n backups of the same kind, file and manifest', async () => {
    const dir = join(work, 'retention');
    mkdirSync(dir);
    const fake = (kind: 'pglite' | 'postgres', at: string) => {
      const file = `care-${kind}-${at.replaceAll(':', '-')}.${kind === 'postgres' ? 'dump' : 'tar.gz'}`;
      writeFileSync(join(dir, file), 'x');
      writeFileSync(join(dir, `${file}.json`), JSON.stringify({ format: 1, kind, file, created_at: at }));
      return join(dir, file);
    };
    const days = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04'].map((day) => `${day}T03:00:00.000Z`);
    const pglite = days.map((at) => fake('pglite', at));
    const postgres = fake('postgres', '2026-01-01T03:00:00.000Z');
    writeFileSync(join(dir, 'notes.txt'), 'not a backup');

    const removed = await pruneBackups(dir, { keep: 2, kind: 'pglite' });
    expect(removed.sort()).toEqual(pglite.slice(0, 2));
    for (const path of pglite.slice(0, 2)) expect(existsSync(path) || existsSync(`${path}.json`)).toBe(false);
    for (const path of [...pglite.slice(2), postgres, join(dir, 'notes.txt')]) expect(existsSync(path)).toBe(true);
    await expect(pruneBackups(dir, { keep: 0, kind: 'pglite' })).rejects.toThrow(/--keep must be 1 or more/);
  });
});

describe.skipIf(!servicesMode)('backup and restore on PostgreSQL (pg_dump, pg_restore)', () => {
  const clock = createTestClock(new Date());
  const work = mkdtempSync(join(tmpdir(), 'care-backup-pg-'));
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const targets: string[] = [];
  let t: TestApp;
  let sourceUrl: string;

  /** A new, empty database the global teardown also sweeps (care_test_<run>_…). */
  async function newDatabase(): Promise<string> {
    const name = `care_test_${inject('postgresTemplate').replace('care_template_', '')}_restore_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${name}`).finally(() => admin.end());
    targets.push(name);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  beforeAll(async () => {
    const database = await createTestDatabase({ kind: 'postgres' });
    sourceUrl = (database as Database & { url: string }).url;
    t = await buildTestApp({ clock, database });
    await addHistory(t.app);
    // Events recorded later (batched) are stored before the dump, so source and copy can agree.
    await t.app.platform.track.flush();
  });
  afterAll(async () => {
    await t?.close();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    for (const name of targets) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    rmSync(work, { recursive: true, force: true });
  });

  it('pg_dump while the app runs, pg_restore into a new database: counts, audit chain and ledger hold', async () => {
    const backup = await createBackup({ kind: 'postgres', url: sourceUrl }, { dir: work, appVersion: 'test' });
    expect(backup.path).toMatch(/care-postgres-.*\.dump$/);
    expect(backup.manifest.postgres?.server_version).toMatch(/^[0-9]+\.[0-9]+/);
    const sourceCounts = await countRows(t.app.platform.db);
    const sizes = await auditAndLedgerSizes(t.app.platform.db);

    const targetUrl = await newDatabase();
    const result = await restoreBackup(backup.path, { kind: 'postgres', url: targetUrl });
    expect(result.countMismatches).toEqual([]);
    expect(result.migrations).toEqual(backup.manifest.migrations);
    const copy = await openDatabase({ kind: 'postgres', url: targetUrl, guardTransactions: false });
    const counts = await countRows(copy.db);
    const checks = await verifyRestoredDatabase(copy, config);
    expect(counts).toEqual(sourceCounts);
    expect(checks.audit).toEqual({ valid: true, checked: sizes.audit });
    expect(checks.ledger).toMatchObject({ ok: true, entries: sizes.entries, problems: [] });
    expect(describeChecks(result, checks).ok).toBe(true);

    // The target now holds data: a second restore is refused, unless told to replace it.
    await expect(restoreBackup(backup.path, { kind: 'postgres', url: targetUrl })).rejects.toThrow(
      /is not empty .*pass --force/,
    );
    const again = await restoreBackup(backup.path, { kind: 'postgres', url: targetUrl }, { force: true });
    expect(again.countMismatches).toEqual([]);
  });

  it('a dump whose bytes changed is refused; one pg_restore cannot read fails and leaves the target empty', async () => {
    const backup = await createBackup(
      { kind: 'postgres', url: sourceUrl },
      { dir: join(work, 'tamper'), appVersion: 'test' },
    );
    const targetUrl = await newDatabase();
    // The checksum catches any change; pg_restore alone restored this very file without a word.
    flipBytes(backup.path, Math.floor(backup.manifest.size_bytes / 2));
    await expect(restoreBackup(backup.path, { kind: 'postgres', url: targetUrl })).rejects.toThrow(
      /does not match its manifest/,
    );
    flipBytes(backup.path, 0);
    resign(backup.path);
    await expect(restoreBackup(backup.path, { kind: 'postgres', url: targetUrl })).rejects.toThrow(
      /pg_restore failed \(exit 1\):\n.*not appear to be a valid archive/,
    );
    const copy = await openDatabase({ kind: 'postgres', url: targetUrl, guardTransactions: false });
    try {
      expect(await countRows(copy.db)).toEqual({});
    } finally {
      await copy.close();
    }
  });
});
