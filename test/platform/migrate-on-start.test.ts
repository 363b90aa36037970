import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { queryRows } from '../../src/infra/db/client.js';
import { MIGRATIONS_FOLDER, pendingMigrations } from '../../src/infra/db/migrate.js';
import { openInfrastructure } from '../../src/infra/index.js';
import { createLogger } from '../../src/infra/logger.js';

// MIGRATE_ON_START=false: migrations are a deploy step (node dist/migrate.js); an instance only
// checks, and will not serve a database that is behind its release.
describe('MIGRATE_ON_START', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  const configFor = async (migrateOnStart: boolean, dataDir?: string) => {
    const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'care-migrate-on-start-')));
    if (!dataDir) dirs.push(dir);
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATA_DIR: dir,
      MIGRATE_ON_START: String(migrateOnStart),
    });
    return { config, dir };
  };
  const silent = createLogger({ level: 'silent' });

  it('refuses to start on a database that is behind, naming the step to run; the migrate step applies them, then it starts', async () => {
    const total = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).length;
    const { config, dir } = await configFor(false);

    await expect(openInfrastructure(config, silent)).rejects.toThrow(
      new RegExp(`database is ${total} migration\\(s\\) behind this release: run node dist/migrate\\.js`),
    );

    // What node dist/migrate.js does, whatever MIGRATE_ON_START says.
    const migrated = await openInfrastructure(config, silent, { migrate: true });
    expect(await pendingMigrations(migrated.database.db)).toBe(0);
    await Promise.all([migrated.database.close(), migrated.kv.close()]);

    const { config: again } = await configFor(false, dir);
    const started = await openInfrastructure(again, silent);
    try {
      expect(await pendingMigrations(started.database.db)).toBe(0);
      // It checked and changed nothing: the bookkeeping still holds one row per migration.
      const [row] = await queryRows<{ n: number }>(
        started.database.db,
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      expect(row?.n).toBe(total);
    } finally {
      await Promise.all([started.database.close(), started.kv.close()]);
    }
  });
});
