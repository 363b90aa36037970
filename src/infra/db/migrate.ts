import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { type Db, queryRows } from './client.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));

// Any fixed 64-bit number: instances booting together take turns instead of racing.
const MIGRATION_LOCK = 7_041_991_313;

/**
 * Applies the drizzle-kit migrations in `drizzle/` that the database has not seen, in one
 * transaction under an advisory lock. Uses drizzle's own bookkeeping table
 * (`drizzle.__drizzle_migrations`), so `drizzle-kit migrate` agrees with it.
 */
export async function migrate(db: Db, folder = MIGRATIONS_FOLDER): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  return db.transaction(async (tx) => {
    // DB_STATEMENT_TIMEOUT_MS is for requests: waiting for another instance's migrations, or an
    // index build, may take longer.
    await tx.execute(sql`set local statement_timeout = 0`);
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.execute(sql`create schema if not exists drizzle`);
    await tx.execute(
      sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`,
    );
    const [latest] = await queryRows<{ created_at: string }>(
      tx,
      sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
    );
    const last = latest ? Number(latest.created_at) : -1;
    let count = 0;
    for (const migration of migrations) {
      if (migration.folderMillis <= last) continue;
      for (const statement of migration.sql) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
      );
      count += 1;
    }
    return count;
  });
}

/**
 * How many migrations in `drizzle/` the database has not applied, without applying any: the
 * check an instance makes at boot when MIGRATE_ON_START=false (migrations are a deploy step).
 */
export async function pendingMigrations(db: Db, folder = MIGRATIONS_FOLDER): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  const [table] = await queryRows<{ name: string | null }>(
    db,
    sql`select to_regclass('drizzle.__drizzle_migrations')::text as name`,
  );
  if (!table?.name) return migrations.length;
  const [latest] = await queryRows<{ created_at: string }>(
    db,
    sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
  );
  const last = latest ? Number(latest.created_at) : -1;
  return migrations.filter((migration) => migration.folderMillis > last).length;
}
