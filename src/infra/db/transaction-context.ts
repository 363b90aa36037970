import { AsyncLocalStorage } from 'node:async_hooks';
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import type { Db } from './client.js';

/**
 * The async context of a transaction's work. Every top-level transaction on the global handle
 * runs its work inside one; it serves two ends:
 *
 * - After-commit work: `afterCommit(fn)` inside a transaction runs `fn` once the transaction has
 *   committed (never when it rolls back); outside one it runs at once. Domain events use it, so
 *   a reaction never sees a change that did not happen.
 * - The guard (on outside production): a query through the global handle while a transaction is
 *   open in the same async context fails at once. PGlite is one connection: such a query would
 *   queue behind its own transaction forever, and every later query with it. On PostgreSQL the
 *   same code takes a second pooled connection per request and deadlocks once the pool is full.
 *
 * The context is closed when the work ends, so a continuation that outlives the transaction may
 * query again. While no transaction is open the storage is disabled: an enabled AsyncLocalStorage
 * makes Node track the context of every promise in the process, which costs every request
 * (6–14% of the CPU a read request takes), not only the ones that write.
 */
interface TransactionContext {
  open: boolean;
  afterCommit: (() => Promise<void> | void)[];
}

const openTransaction = new AsyncLocalStorage<TransactionContext>();
/** Transactions whose work is running; the storage is enabled only while this is above zero. */
let running = 0;

export class GlobalHandleInTransactionError extends Error {
  override name = 'GlobalHandleInTransactionError';
  constructor(operation: string) {
    super(
      `${operation} went through the global database handle while a transaction is open in this async context; ` +
        'pass the transaction (tx) down instead (on the embedded database this query would wait forever)',
    );
  }
}

/**
 * Runs `work` after the enclosing transaction commits (dropped if it rolls back), or now when
 * no transaction is open. A failure is passed to `onError`, never thrown. Resolves when the work
 * is done, or at once when it waits for a commit (the committing caller awaits it then).
 */
export async function afterCommit(work: () => Promise<void> | void, onError: (error: unknown) => void): Promise<void> {
  const context = openTransaction.getStore();
  const guarded = async () => {
    try {
      await work();
    } catch (error) {
      onError(error);
    }
  };
  if (context?.open) context.afterCommit.push(guarded);
  else await guarded();
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

/**
 * Gives every top-level transaction's work its context, and runs the work registered for after
 * its commit once it has committed.
 */
export function markTransactions(db: Db): void {
  const begin = db.transaction.bind(db);
  (db as { transaction: unknown }).transaction = (async (work, config) => {
    const context: TransactionContext = { open: true, afterCommit: [] };
    const result = await begin(async (tx) => {
      running += 1;
      try {
        return await openTransaction.run(context, () => work(tx));
      } finally {
        context.open = false;
        running -= 1;
        // run() enables the storage again for the next transaction.
        if (running === 0) openTransaction.disable();
      }
    }, config);
    for (const pending of context.afterCommit) await pending();
    return result;
  }) as Db['transaction'];
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
