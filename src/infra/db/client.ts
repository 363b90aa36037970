import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { context } from '@opentelemetry/api';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import { drizzle as drizzlePostgres } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { SpanKind, traced, tracingActive } from '../tracing.js';
import { isConnectionLost } from './errors.js';
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
  /** The primary: every write, every transaction, and reads that must see the caller's own writes. */
  readonly db: Db;
  /**
   * Reads that may lag the primary by replication delay (search, slots, content lists, reports):
   * the replica when DATABASE_READ_URL is set, else the same handle as `db`. Never inside a
   * transaction, never right after the caller's own write.
   */
  readonly read: Db;
  readonly kind: 'pglite' | 'postgres';
  /** The replica's own check, when one is configured (its reads fall back to the primary while it is down). */
  readonly replica?: { ping(): Promise<void> };
  /** Each PostgreSQL pool's connections now (`db_pool_connections`); none on the embedded database. */
  readonly poolUsage?: () => PoolUsage[];
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PoolUsage {
  pool: PoolName;
  /** Open connections, idle ones among them, queries waiting for one, and the pool's size. */
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

/**
 * PGlite (WebAssembly Postgres), the extensions the schema uses and its Drizzle driver, loaded when
 * an embedded database is first opened: a server on PostgreSQL never loads them (about 1 MiB of
 * heap and the module code).
 */
const loadPglite = async () => {
  const [{ PGlite }, { btree_gist }, { pg_trgm }, { drizzle }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/btree_gist'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('drizzle-orm/pglite'),
  ]);
  return { PGlite, extensions: { btree_gist, pg_trgm }, drizzle };
};

interface CommonOptions {
  metrics?: Metrics;
  /** Where slow queries and replica fail-overs are reported. */
  logger?: Pick<Logger, 'warn'>;
  /** Queries slower than this are logged and counted (`db_slow_queries_total`); 0 or unset = off. */
  slowQueryMs?: number;
  /**
   * Refuse queries through the global handle from inside an open transaction
   * (src/infra/db/transaction-context.ts). On by default; production turns it off.
   */
  guardTransactions?: boolean;
}

interface PostgresOptions extends CommonOptions {
  kind: 'postgres';
  url: string;
  /** A read replica for `Database.read`; unset = reads go to `url`. */
  readUrl?: string;
  poolMax?: number;
  /** How long a query waits for a pooled connection, a new connection included (default 5 s). */
  connectTimeoutMs?: number;
  /** The server's statement_timeout for every connection; 0 or unset = none. */
  statementTimeoutMs?: number;
}

export type DatabaseOptions =
  | PostgresOptions
  | ({ kind: 'pglite'; dataDir?: string; tuning?: PgliteTuning } & CommonOptions)
  | ({ kind: 'pglite'; instance: PGlite } & CommonOptions);

/** Which connection pool served a query, in slow-query lines. */
type PoolName = 'primary' | 'replica';

/** Runs one query: timed, counted, traced, and reported when slow. */
type QueryRunner = <T>(sqlText: string, run: () => Promise<T>) => Promise<T>;

const OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback']);
const LOGGED_STATEMENT_CHARS = 300;
const TRACED_STATEMENT_CHARS = 2000;
// The client gives up on a query this long after the server should have cancelled it: only a
// connection that answers nothing (a dropped route, a hung server) ever reaches it.
const QUERY_TIMEOUT_MARGIN_MS = 2000;
// After a replica connection fails, reads skip it this long instead of each waiting for a connect timeout.
const REPLICA_RETRY_MS = 10_000;

function operationOf(sqlText: string): string {
  const word = /^\s*(\w+)/.exec(sqlText)?.[1]?.toLowerCase() ?? 'other';
  return OPERATIONS.has(word) ? word : 'other';
}

// Three or more column names in a row ("t"."a", "t"."b", …): Drizzle lists every column it selects.
const COLUMN_RUN = /((?:"[^"]+"\.)?"[^"]+", )(?:(?:"[^"]+"\.)?"[^"]+", ){2,}/g;

/**
 * A statement as logs and spans show it: whitespace collapsed, a run of column names shortened
 * to its first and last, and cut to `max` characters in the middle, so that the tables and
 * conditions show rather than a select list. Parameters are placeholders ($1), never values.
 */
export function statementText(sqlText: string, max = LOGGED_STATEMENT_CHARS): string {
  const text = sqlText.replace(/\s+/g, ' ').trim().replace(COLUMN_RUN, '$1…, ');
  if (text.length <= max) return text;
  const tail = Math.floor(max / 3);
  return `${text.slice(0, max - tail - 3)} … ${text.slice(-tail)}`;
}

function queryRunner(options: CommonOptions, pool: PoolName): QueryRunner {
  const { metrics, logger } = options;
  const slowQueryMs = options.slowQueryMs ?? 0;
  const observe = (sqlText: string, ms: number) => {
    const operation = operationOf(sqlText);
    metrics?.dbQueryDuration.labels(operation).observe(ms / 1000);
    if (slowQueryMs > 0 && ms > slowQueryMs) {
      metrics?.dbSlowQueries.inc({ operation });
      logger?.warn(
        { statement: statementText(sqlText), duration_ms: Math.round(ms * 10) / 10, operation, pool },
        'slow database query',
      );
    }
  };
  const timed = async <T>(sqlText: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      observe(sqlText, performance.now() - started);
    }
  };
  // Scripts and benches open the database without metrics or a slow-query log: nothing to time.
  const measure =
    metrics || (logger && slowQueryMs > 0) ? timed : <T>(_sqlText: string, run: () => Promise<T>) => run();
  return (sqlText, run) => {
    // Attributes are built only for a trace that records: the common case costs one check.
    if (!tracingActive()) return measure(sqlText, run);
    const attributes = {
      'db.system': 'postgresql',
      'db.operation': operationOf(sqlText),
      'db.statement': statementText(sqlText, TRACED_STATEMENT_CHARS),
    };
    return traced('db.query', attributes, () => measure(sqlText, run), { kind: SpanKind.CLIENT });
  };
}

function sqlTextOf(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'text' in arg && typeof arg.text === 'string') return arg.text;
  return '';
}

const isQueryReadTimeout = (error: unknown) => error instanceof Error && error.message === 'Query read timeout';

type PgCallback = (error: unknown, result?: unknown) => void;

/**
 * Runs every query of a node-postgres connection through `runQuery`, whether called with a
 * callback (the pool's own `query`) or for a promise (a checked-out connection: transactions).
 *
 * A checked-out connection also needs care after failures the pool cannot see (the pool's own
 * `query` releases its connection with the error, and the pool drops it):
 * - a failed BEGIN: Drizzle sends it before the `try` whose `finally` releases the connection,
 *   which would never return, leaving the pool one connection smaller for good;
 * - a client-side timeout (query_timeout): the query may still be running on a connection that
 *   answers nothing, and Drizzle would release it, after its rollback, without an error. It is
 *   closed instead, never to be handed out again; closing it ends the transaction on the server,
 *   so the rollback is answered here, and the caller sees the timeout rather than a failed rollback.
 */
function instrumentPgClient(client: pg.PoolClient, runQuery: QueryRunner): void {
  const original = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  let closed = false;
  const afterFailure = (sqlText: string, error: unknown) => {
    if (/^\s*begin\b/i.test(sqlText)) {
      client.release(error instanceof Error ? error : true);
    } else if (isQueryReadTimeout(error)) {
      closed = true;
      client.end().catch(() => {});
    }
  };
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const callback = typeof args.at(-1) === 'function' ? (args.pop() as PgCallback) : undefined;
    const sqlText = sqlTextOf(args[0]);
    if (closed && /^\s*rollback\s*$/i.test(sqlText)) return Promise.resolve({ rows: [], rowCount: 0 });
    const result = runQuery(sqlText, () => original(...args));
    if (callback) {
      result.then(
        (rows) => callback(undefined, rows),
        (error) => callback(error),
      );
      return undefined;
    }
    return result.catch((error: unknown) => {
      afterFailure(sqlText, error);
      throw error;
    });
  };
}

/**
 * pg-pool hands a freed connection to a waiting query from inside the request that freed it;
 * the waiting query's span would join that request's trace. Its callback keeps its own context.
 */
function keepTraceContext(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  (pool as { connect: unknown }).connect = (...args: unknown[]) => {
    const [callback] = args;
    if (typeof callback === 'function' && tracingActive()) return connect(context.bind(context.active(), callback));
    return connect(...args);
  };
}

function createPool(url: string, options: PostgresOptions, applicationName: string): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 0;
  const pool = new pg.Pool({
    connectionString: url,
    // Names the connections in pg_stat_activity and pg_stat_statements; ?application_name= in the URL wins.
    fallback_application_name: applicationName,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    // Probes a connection silent for 10 s (a long query), so a firewall or NAT does not drop it.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(statementTimeoutMs > 0
      ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS }
      : {}),
  });
  // An idle client's network error must not crash the process; the next query reports it.
  pool.on('error', () => {});
  // Nor may a checked-out one's (a transaction's): node-postgres re-emits it on the client, where an
  // unheard 'error' event would end the process. The query in progress fails with it instead.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

function instrumentPool(pool: pg.Pool, runQuery: QueryRunner): void {
  pool.on('connect', (client) => instrumentPgClient(client, runQuery));
  keepTraceContext(pool);
}

/**
 * Reads through the replica go to the primary while the replica cannot be reached: a replica
 * down or rebuilt costs the primary some load, never a failed search. After a failure the
 * replica is skipped for REPLICA_RETRY_MS, so requests do not each wait for a connect timeout.
 * Only the promise form of `query` is used through it (Drizzle's).
 */
function failOverToPrimary(replica: pg.Pool, primary: pg.Pool, logger?: Pick<Logger, 'warn'>): void {
  const onReplica = replica.query.bind(replica) as (...args: unknown[]) => Promise<unknown>;
  const onPrimary = primary.query.bind(primary) as (...args: unknown[]) => Promise<unknown>;
  let skipUntil = 0;
  (replica as { query: unknown }).query = async (...args: unknown[]) => {
    if (performance.now() < skipUntil) return onPrimary(...args);
    try {
      return await onReplica(...args);
    } catch (error) {
      if (!isConnectionLost(error)) throw error;
      skipUntil = performance.now() + REPLICA_RETRY_MS;
      logger?.warn(
        { err: error, retry_in_ms: REPLICA_RETRY_MS },
        'read replica unreachable: its reads go to the primary for now',
      );
      return onPrimary(...args);
    }
  };
}

function usageOf(pool: pg.Pool, name: PoolName): PoolUsage {
  return {
    pool: name,
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    max: pool.options.max,
  };
}

interface Replica {
  db: Db;
  ping(): Promise<void>;
  usage(): PoolUsage;
  close(): Promise<void>;
}

function openReplica(options: PostgresOptions & { readUrl: string }, primary: pg.Pool, guard: boolean): Replica {
  const pool = createPool(options.readUrl, options, 'care-platform-read');
  instrumentPool(pool, queryRunner(options, 'replica'));
  // The check asks the replica itself, never the primary its reads fall back to.
  const askReplica = pool.query.bind(pool) as (text: string) => Promise<unknown>;
  failOverToPrimary(pool, primary, options.logger);
  if (guard) guardPool(pool);
  return {
    db: drizzlePostgres(pool) as unknown as Db,
    async ping() {
      await askReplica('select 1');
    },
    usage: () => usageOf(pool, 'replica'),
    close: () => pool.end(),
  };
}

async function openPostgres(options: PostgresOptions): Promise<Database> {
  const guard = options.guardTransactions ?? true;
  const primary = createPool(options.url, options, 'care-platform');
  instrumentPool(primary, queryRunner(options, 'primary'));
  if (guard) guardPool(primary);
  const db = drizzlePostgres(primary) as unknown as Db;
  markTransactions(db);
  const { readUrl } = options;
  const replica = readUrl ? openReplica({ ...options, readUrl }, primary, guard) : undefined;
  return {
    db,
    read: replica?.db ?? db,
    kind: 'postgres',
    ...(replica ? { replica: { ping: replica.ping } } : {}),
    poolUsage: () => [usageOf(primary, 'primary'), ...(replica ? [replica.usage()] : [])],
    async ping() {
      await primary.query('select 1');
    },
    async close() {
      await Promise.all([primary.end(), replica?.close()]);
    },
  };
}

function instrumentPglite(instance: PGlite, runQuery: QueryRunner): void {
  const wrapQuery = <T extends { query: PGlite['query'] }>(target: T) => {
    const original = target.query.bind(target) as (...args: unknown[]) => Promise<unknown>;
    target.query = ((text: string, ...rest: unknown[]) => runQuery(text, () => original(text, ...rest))) as T['query'];
  };
  wrapQuery(instance);
  const originalTransaction = instance.transaction.bind(instance);
  instance.transaction = ((fn: Parameters<PGlite['transaction']>[0]) =>
    originalTransaction((tx) => {
      wrapQuery(tx);
      return fn(tx);
    })) as PGlite['transaction'];
}

/**
 * How the embedded database uses memory. PGlite runs Postgres inside one WebAssembly memory that
 * grows and never shrinks, so whatever Postgres touched once (its buffer cache, a sort's or an
 * index build's working memory) stays resident for the life of the process. docs/benchmarks.md
 * ("PGlite's memory") has the figures behind the defaults.
 */
export interface PgliteTuning {
  /** Postgres settings given at start (`-c name=value`), over the data directory's postgresql.conf. */
  settings: Record<string, string>;
  /** Skip PGlite's wait for the file system after each query (faster writes; a crash may lose the last ones). */
  relaxedDurability?: boolean;
}

/**
 * A 16 MiB buffer cache instead of the data directory's 128 MiB: the cache is the largest thing
 * Postgres touches in its memory, and the pages it does not hold are one read away in the OS page
 * cache. Measured on 10,000 services (a 75 MB database): about 150 MB less resident memory, idle and
 * after load, with searches and slots as fast as with 128 MiB.
 */
export const DEFAULT_PGLITE_TUNING: PgliteTuning = {
  settings: { shared_buffers: '16MB' },
};

export async function createPglite(
  dataDir?: string,
  loadDataDir?: Blob,
  tuning: PgliteTuning = DEFAULT_PGLITE_TUNING,
): Promise<PGlite> {
  if (dataDir && !dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const { PGlite, extensions } = await loadPglite();
  const settings = Object.entries(tuning.settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  return PGlite.create(dataDir, {
    extensions,
    ...(loadDataDir ? { loadDataDir } : {}),
    ...(settings.length > 0 ? { startParams: [...PGlite.defaultStartParams, ...settings] } : {}),
    ...(tuning.relaxedDurability ? { relaxedDurability: true } : {}),
  });
}

/**
 * The embedded database is one connection: reads and writes share it, so `read` is `db`.
 * Timeouts do not apply (no network); slow queries are reported the same way.
 */
async function openPglite(
  options: ({ dataDir?: string; tuning?: PgliteTuning } | { instance: PGlite }) & CommonOptions,
): Promise<Database> {
  const instance =
    'instance' in options ? options.instance : await createPglite(options.dataDir, undefined, options.tuning);
  instrumentPglite(instance, queryRunner(options, 'primary'));
  if (options.guardTransactions ?? true) guardPglite(instance);
  const { drizzle } = await loadPglite();
  const db = drizzle(instance) as unknown as Db;
  markTransactions(db);
  return {
    db,
    read: db,
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

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.kind === 'postgres' ? openPostgres(options) : openPglite(options);
}
