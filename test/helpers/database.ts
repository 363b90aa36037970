import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { createPglite, type Database, openDatabase } from '../../src/infra/db/client.js';
import type { Metrics } from '../../src/infra/metrics.js';

/** True when the suite runs against real PostgreSQL and Redis (npm run test:services). */
export const servicesMode = Boolean(process.env.TEST_DATABASE_URL);

let dump: Blob | undefined;
/**
 * The run's migrated template (≈ 40 MB), read once per worker. PGlite only calls `arrayBuffer()`
 * on it and copies every file out of that buffer (untar slices, then MEMFS copies again), so
 * every load may share one buffer. A real Blob would copy all 40 MB in chunks on each load,
 * which costs about half a second of CPU per test database on a small machine.
 */
function templateDump(): Blob {
  if (!dump) {
    const bytes = readFileSync(inject('pgliteTemplate'));
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    dump = { type: 'application/x-tar', size: buffer.byteLength, arrayBuffer: async () => buffer } as Blob;
  }
  return dump;
}

/**
 * A fresh, migrated database for one test: PGlite loaded from the run's template dump, or,
 * with TEST_DATABASE_URL, a new PostgreSQL database copied from the run's template database
 * and dropped again when closed.
 */
export async function createTestDatabase(
  options: {
    metrics?: Metrics;
    kind?: 'pglite' | 'postgres';
    /** node-postgres pool size (PostgreSQL only); default 10. */
    poolMax?: number;
    /** The transaction guard (src/infra/db/transaction-context.ts); on unless a test turns it off. */
    guardTransactions?: boolean;
  } = {},
) {
  const kind = options.kind ?? (servicesMode ? 'postgres' : 'pglite');
  const guardTransactions = options.guardTransactions ?? true;
  if (kind === 'pglite') {
    const instance = await createPglite(undefined, templateDump());
    return openDatabase({ kind: 'pglite', instance, metrics: options.metrics, guardTransactions });
  }
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const name = `care_test_${inject('postgresTemplate').replace('care_template_', '')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${inject('postgresTemplate')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({
    kind: 'postgres',
    url: url.toString(),
    poolMax: options.poolMax ?? 10,
    metrics: options.metrics,
    guardTransactions,
  });
  const close = database.close.bind(database);
  return {
    ...database,
    url: url.toString(),
    async close() {
      await close();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`).finally(() => dropper.end());
    },
  } satisfies Database & { url: string };
}
