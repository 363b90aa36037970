import { AsyncLocalStorage } from 'node:async_hooks';
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import type { Db } from './client.js';

/**
 * Catches the query that would wait on its own transaction. PGlite is one connection: a query
 * through the global handle while a transaction is open in the same async context queues
 * behind that transaction forever, and every later query with it. On PostgreSQL the same
 * code takes a second pooled connection per request and deadlocks once the pool is full.
 *
 * While a transaction's work runs, its async context carries an open marker; the global
 * handle's entry points refuse to run in such a context. The marker is cleared when the work
 * ends, so a continuation that outlives the transaction may query again.
 */
const openTransaction = new AsyncLocalStorage<{ open: boolean }>();

export class GlobalHandleInTransactionError extends Error {
  override name = 'GlobalHandleInTransactionError';
  constructor(operation: string) {
    super(
      `${operation} went through the global database handle while a transaction is open in this async context; ` +
        'pass the transaction (tx) down instead (on the embedded database this query would wait forever)',
    );
  }
}

function refuseInsideTransaction(operation: string): void {
  if (openTransaction.getStore()?.open) throw new GlobalHandleInTransactionError(operation);
}

/** Replaces `target[name]` with a version that refuses to run inside an open transaction. */
function guardMethod<T extends object>(target: T, name: keyof T & string, operation: string): void {
  const original = target[name] as unknown as (...args: unknown[]) => unknown;
  (target as Record<string, unknown>)[name] = function guarded(this: unknown, ...args: unknown[]) {
    try {
      refuseInsideTransaction(operation);
    } catch (error) {
      return Promise.reject(error);
    }
    return original.apply(this, args);
  };
}

/** Marks the async context of every top-level transaction's work as inside that transaction. */
export function markTransactions(db: Db): void {
  const begin = db.transaction.bind(db);
  (db as { transaction: unknown }).transaction = ((work, config) =>
    begin(async (tx) => {
      const state = { open: true };
      try {
        return await openTransaction.run(state, () => work(tx));
      } finally {
        state.open = false;
      }
    }, config)) as Db['transaction'];
}

/** The global handle of the embedded database refuses queries from inside a transaction. */
export function guardPglite(instance: PGlite): void {
  for (const name of ['query', 'sql', 'exec', 'transaction'] as const) {
    guardMethod(instance, name, `PGlite ${name}()`);
  }
}

/** The pool refuses queries and new connections from inside a transaction. */
export function guardPool(pool: pg.Pool): void {
  guardMethod(pool, 'query', 'pool.query()');
  guardMethod(pool, 'connect', 'pool.connect()');
}
