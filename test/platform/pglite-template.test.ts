import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPglite } from '../../src/infra/db/client.js';
import { createFromTemplate } from '../../src/infra/db/pglite-template.js';

const PGLITE_VERSION: string = JSON.parse(
  readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
).version;

/** What a data directory holds: its deployment id and how many migrations it has seen. */
async function facts(dataDir: string): Promise<{ id: string; migrations: number }> {
  const instance = await createPglite(dataDir);
  try {
    const [deployment] = (await instance.query<{ id: string }>('select id from deployment')).rows;
    const [applied] = (
      await instance.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations')
    ).rows;
    return { id: deployment?.id ?? '', migrations: applied?.n ?? 0 };
  } finally {
    await instance.close();
  }
}

describe('new embedded databases from the build template', () => {
  let work: string;
  let template: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'care-pglite-template-test-'));
    // As `npm run build` leaves it: a migrated data directory, closed, and the PGlite version that wrote it.
    template = join(work, 'template');
    const instance = await createPglite(join(template, 'data'), new Blob([readFileSync(inject('pgliteTemplate'))]));
    await instance.close();
    writeFileSync(join(template, 'manifest.json'), JSON.stringify({ pglite: PGLITE_VERSION }));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('copies the migrated template into a new directory, which gets a deployment id of its own', async () => {
    const dataDir = join(work, 'new');
    expect(await createFromTemplate(dataDir, template)).toBe(true);
    expect(readdirSync(dataDir)).not.toContain('.template-staging');
    const copy = await facts(dataDir);
    const original = await facts(join(template, 'data'));
    expect(copy.migrations).toBe(original.migrations);
    expect(copy.migrations).toBeGreaterThan(0);
    expect(copy.id).toMatch(/^[0-9a-f]{16}$/);
    expect(copy.id).not.toBe(original.id);

    // Started again, the database is left as it is.
    expect(await createFromTemplate(dataDir, template)).toBe(false);
    expect((await facts(dataDir)).id).toBe(copy.id);
  });

  it('fills an empty directory (a mounted volume) and finishes a copy that was interrupted', async () => {
    const volume = join(work, 'volume');
    mkdirSync(join(volume, '.template-staging'), { recursive: true });
    writeFileSync(join(volume, '.template-staging', 'half-copied'), '');
    expect(await createFromTemplate(volume, template)).toBe(true);
    expect(existsSync(join(volume, 'PG_VERSION'))).toBe(true);
    expect(readdirSync(volume)).not.toContain('.template-staging');
  });

  it('is not used in memory, without a template, or when another PGlite version wrote it', async () => {
    expect(await createFromTemplate('memory://', template)).toBe(false);
    expect(await createFromTemplate(join(work, 'none'), join(work, 'no-template'))).toBe(false);
    const other = join(work, 'other-version');
    mkdirSync(other);
    writeFileSync(join(other, 'manifest.json'), JSON.stringify({ pglite: '0.0.1' }));
    expect(await createFromTemplate(join(work, 'elsewhere'), other)).toBe(false);
    expect(existsSync(join(work, 'none'))).toBe(false);
    expect(existsSync(join(work, 'elsewhere'))).toBe(false);
  });
});
