import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import { drizzle as drizzlePostgres } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import pg from 'pg';
import type { Metrics } from '../metrics.js';
import { guardPglite, guardPool, markTransactions } from './transaction-context.js';

/** The one database type every repository takes: a pool/instance or an open transaction. */
export type Db = PgDatabase<PgQueryResultHKT>;
export type Tx = PgTransaction<
  PgQueryResultHKT,
  Record<string, never>,
  ExtractTablesWithRelations<Record<string, never>>
>;

/** Rows of a raw SQL statement; both drivers answer `{ rows }`. */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/**
 * The first row of a one-row select, or undefined; with `forUpdate`, the row is locked until the
 * caller's transaction ends (`SELECT … FOR UPDATE`).
 */
export async function firstRow<T>(
  query: PromiseLike<T[]> & { for(strength: 'update'): PromiseLike<T[]> },
  options: { forUpdate?: boolean } = {},
): Promise<T | undefined> {
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row;
}

export interface Database {
  readonly db: Db;
  readonly kind: 'pglite' | 'postgres';
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const PGLITE_EXTENSIONS = { btree_gist, pg_trgm };

interface CommonOptions {
  metrics?: Metrics;
  /**
   * Refuse queries through the global handle from inside an open transaction
   * (src/infra/db/transaction-context.ts). On by default; production turns it off.
   */
  guardTransactions?: boolean;
}

export type DatabaseOptions =
  | ({ kind: 'postgres'; url: string; poolMax?: number } & CommonOptions)
  | ({ kind: 'pglite'; dataDir?: string } & CommonOptions)
  | ({ kind: 'pglite'; instance: PGlite } & CommonOptions);

type QueryObserver = (sqlText: string, seconds: number) => void;

const OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback']);

function observerFor(metrics?: Metrics): QueryObserver | undefined {
  if (!metrics) return undefined;
  return (sqlText, seconds) => {
    const word = /^\s*(\w+)/.exec(sqlText)?.[1]?.toLowerCase() ?? 'other';
    metrics.dbQueryDuration.observe({ operation: OPERATIONS.has(word) ? word : 'other' }, seconds);
  };
}

function sqlTextOf(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'text' in arg && typeof arg.text === 'string') return arg.text;
  return '';
}

/** Times every query a node-postgres client runs, whether called with a callback or a promise. */
function timePgClient(client: pg.PoolClient, observe: QueryObserver) {
  const original = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const started = performance.now();
    const done = () => observe(sqlTextOf(args[0]), (performance.now() - started) / 1000);
    const last = args.at(-1);
    if (typeof last === 'function') {
      args[args.length - 1] = (...cbArgs: unknown[]) => {
        done();
        return (last as (...a: unknown[]) => unknown)(...cbArgs);
      };
      return original(...args);
    }
    const result = original(...args);
    if (result && typeof (result as Promise<unknown>).finally === 'function') {
      return (result as Promise<unknown>).finally(done);
    }
    return result;
  };
}

function timePglite(instance: PGlite, observe: QueryObserver) {
  const wrapQuery = <T extends { query: PGlite['query'] }>(target: T) => {
    const original = target.query.bind(target);
    target.query = (async (text: string, ...rest: unknown[]) => {
      const started = performance.now();
      try {
        return await (original as (...a: unknown[]) => Promise<unknown>)(text, ...rest);
      } finally {
        observe(text, (performance.now() - started) / 1000);
      }
    }) as T['query'];
  };
  wrapQuery(instance);
  const originalTransaction = instance.transaction.bind(instance);
  instance.transaction = ((fn: Parameters<PGlite['transaction']>[0]) =>
    originalTransaction((tx) => {
      wrapQuery(tx);
      return fn(tx);
    })) as PGlite['transaction'];
}

export async function createPglite(dataDir?: string, loadDataDir?: Blob): Promise<PGlite> {
  if (dataDir && !dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  return PGlite.create(dataDir, { extensions: PGLITE_EXTENSIONS, ...(loadDataDir ? { loadDataDir } : {}) });
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const observe = observerFor(options.metrics);
  const guard = options.guardTransactions ?? true;
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client's network error must not crash the process; the next query reports it.
    pool.on('error', () => {});
    if (observe) pool.on('connect', (client) => timePgClient(client, observe));
    if (guard) guardPool(pool);
    const db = drizzlePostgres(pool) as unknown as Db;
    markTransactions(db);
    return {
      db,
      kind: 'postgres',
      async ping() {
        await pool.query('select 1');
      },
      async close() {
        await pool.end();
      },
    };
  }
  const instance = 'instance' in options ? options.instance : await createPglite(options.dataDir);
  if (observe) timePglite(instance, observe);
  if (guard) guardPglite(instance);
  const db = drizzlePglite(instance) as unknown as Db;
  markTransactions(db);
  return {
    db,
    kind: 'pglite',
    async ping() {
      if (instance.closed) throw new Error('database is closed');
      await instance.query('select 1');
    },
    async close() {
      if (!instance.closed) await instance.close();
    },
  };
}
