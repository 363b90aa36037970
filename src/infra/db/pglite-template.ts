import { constants, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { createPglite } from './client.js';
import { deployment } from './meta.tables.js';

/**
 * Where `npm run build` leaves a migrated, cleanly closed PGlite data directory (`data/`) and the
 * PGlite version that wrote it (`manifest.json`). Running from src/ (tsx) there is none.
 */
const PGLITE_TEMPLATE_DIR = fileURLToPath(new URL('./pglite-template/', import.meta.url));

// Beside the template's files while they are copied; a start interrupted here starts over.
const STAGING = '.template-staging';

/** The installed PGlite's version: a data directory is only copied into the PGlite that wrote it. */
function installedPgliteVersion(): string | undefined {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (let depth = 0; depth < 4; depth += 1, dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (name === '@electric-sql/pglite') return version;
  }
  return undefined;
}

function templateVersion(templateDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(templateDir, 'manifest.json'), 'utf8')) as { pglite?: string }).pglite;
  } catch {
    return undefined;
  }
}

/** No database yet: the directory is missing, or holds nothing but an interrupted copy. */
function isFresh(dataDir: string): boolean {
  return !existsSync(dataDir) || readdirSync(dataDir).every((name) => name === STAGING);
}

/**
 * A copy shares everything with its template, and the deployment id must not be shared: it names
 * the Redis namespace, so two databases made from one build would read each other's caches.
 */
async function drawOwnIdentity(dataDir: string): Promise<void> {
  const instance = await createPglite(dataDir);
  try {
    await drizzle(instance)
      .update(deployment)
      .set({ id: sql`substr(md5(gen_random_uuid()::text), 1, 16)`, createdAt: sql`now()` });
  } finally {
    await instance.close();
  }
}

/**
 * Makes a new embedded database by copying the build's migrated template instead of running
 * initdb and every migration in WebAssembly (seconds on a small machine; a copy and one open take
 * a fraction). Only when `dataDir` holds no database yet and the template was written by the
 * installed PGlite; the caller then opens and migrates `dataDir` as usual, which applies any
 * migration newer than the build. Returns whether the template was used.
 */
export async function createFromTemplate(dataDir: string, templateDir = PGLITE_TEMPLATE_DIR): Promise<boolean> {
  if (dataDir.startsWith('memory://') || !isFresh(dataDir)) return false;
  const version = templateVersion(templateDir);
  if (!version || version !== installedPgliteVersion()) return false;

  const staging = join(dataDir, STAGING);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  // A copy-on-write clone where the file system offers one (btrfs, XFS), a plain copy elsewhere.
  cpSync(join(templateDir, 'data'), staging, { recursive: true, mode: constants.COPYFILE_FICLONE });
  await drawOwnIdentity(staging);
  // PG_VERSION last: until it is in place nothing here looks like a database, so a start that
  // stops midway leaves a directory the next start does not mistake for one.
  const names = readdirSync(staging).sort((a, b) => Number(a === 'PG_VERSION') - Number(b === 'PG_VERSION'));
  for (const name of names) renameSync(join(staging, name), join(dataDir, name));
  rmSync(staging, { recursive: true, force: true });
  return true;
}
