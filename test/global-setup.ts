import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createPglite, openDatabase } from '../src/infra/db/client.js';
import { migrate } from '../src/infra/db/migrate.js';
import { ensurePartitions } from '../src/modules/analytics/analytics.maintenance.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    postgresTemplate: string;
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'care-test-template');

/** Every file under `path` (a file or a directory), sorted. */
function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/**
 * What the template is made of: the migrations, the code that applies them and makes the
 * partitions, this file, the PGlite and drizzle versions, and today's date (the partitions are
 * those around today). Any change to one of them makes a new template.
 */
function templateKey(): string {
  const hash = createHash('sha256');
  const inputs = [
    'drizzle',
    'src/infra/db',
    'src/modules/analytics/analytics.maintenance.ts',
    'test/global-setup.ts',
    'node_modules/@electric-sql/pglite/package.json',
    'node_modules/drizzle-orm/package.json',
  ];
  for (const file of inputs.flatMap((input) => filesUnder(join(ROOT, input)))) {
    hash.update(file.slice(ROOT.length)).update('\0').update(readFileSync(file)).update('\0');
  }
  hash.update(new Date().toISOString().slice(0, 10));
  return hash.digest('hex').slice(0, 24);
}

/** A fresh PGlite, migrated, with this month's partitions, dumped as a tarball. */
async function buildPgliteTemplate(): Promise<Buffer> {
  const instance = await createPglite();
  const database = await openDatabase({ kind: 'pglite', instance });
  try {
    await migrate(database.db);
    // The event partitions around today (the test clock starts near it).
    await ensurePartitions(database.db, new Date());
    // Settings of the copies, not of the app. A test database holds a few MB, and PostgreSQL
    // zeroes its whole buffer pool (128 MB by default) each time a copy starts: ≈ 0.6 s of CPU
    // per test database on a small machine; pages beyond the pool stay in PGlite's in-memory
    // file system (or the data directory). Crash safety is moot for a copy thrown away after
    // the test (fsync is already off in PGlite): no page images in the WAL, no WAL flush at
    // each commit, ≈ 10 % less CPU per write. Nothing a query can see changes.
    await instance.exec("alter system set shared_buffers = '8MB'");
    await instance.exec('alter system set full_page_writes = off');
    await instance.exec('alter system set synchronous_commit = off');
    const dump = await instance.dumpDataDir('none');
    return Buffer.from(await dump.arrayBuffer());
  } finally {
    await database.close();
  }
}

/**
 * Migrates once, and keeps the result between runs (node_modules/.cache) for as long as its
 * inputs (templateKey) stay the same: building it takes ≈ 10 s before any test can start.
 * Each test file then starts from a copy: PGlite from the dumped data directory (~1 s instead
 * of ~4 s for a new, migrated instance), PostgreSQL (TEST_DATABASE_URL) from a template database.
 */
export default async function setup(project: TestProject) {
  const templatePath = join(CACHE_DIR, `pglite-template-${templateKey()}.tar`);
  if (!existsSync(templatePath)) {
    const tarball = await buildPgliteTemplate();
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written under another name first: a run starting meanwhile never reads half a file.
    const partial = `${templatePath}.${process.pid}.partial`;
    writeFileSync(partial, tarball);
    renameSync(partial, templatePath);
    // Older templates are of no use any more, once no run that started with one can still be reading it.
    for (const name of readdirSync(CACHE_DIR)) {
      const path = join(CACHE_DIR, name);
      if (path !== templatePath && Date.now() - statSync(path).mtimeMs > 2 * 3_600_000) rmSync(path, { force: true });
    }
  }
  project.provide('pgliteTemplate', templatePath);

  let postgresTemplate = '';
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    postgresTemplate = `care_template_${process.pid}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`drop database if exists ${postgresTemplate}`);
    await admin.query(`create database ${postgresTemplate}`);
    await admin.end();
    const templateUrl = new URL(url);
    templateUrl.pathname = `/${postgresTemplate}`;
    const templateDb = await openDatabase({ kind: 'postgres', url: templateUrl.toString(), poolMax: 1 });
    await migrate(templateDb.db);
    await ensurePartitions(templateDb.db, new Date());
    await templateDb.close();
  }
  project.provide('postgresTemplate', postgresTemplate);

  return async () => {
    if (url && postgresTemplate) {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const leftovers = await admin.query<{ datname: string }>(
        `select datname from pg_database where datname like 'care_test_${process.pid}_%'`,
      );
      for (const row of leftovers.rows) await admin.query(`drop database if exists ${row.datname} with (force)`);
      await admin.query(`drop database if exists ${postgresTemplate} with (force)`);
      await admin.end();
    }
  };
}
