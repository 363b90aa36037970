/**
 * PostgreSQL's error conditions by name, so services ask "is this a unique violation?" rather
 * than compare SQLSTATE codes. Drivers and Drizzle wrap the database error; the code is found
 * on the error or its causes.
 */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A unique constraint refused the row (23505): the value is taken. */
export const isUniqueViolation = (error: unknown): boolean => sqlState(error) === '23505';
/** A foreign key refused the change (23503): something still points at the row. */
export const isForeignKeyViolation = (error: unknown): boolean => sqlState(error) === '23503';
/** An exclusion constraint refused the row (23P01): it overlaps one already there. */
export const isExclusionViolation = (error: unknown): boolean => sqlState(error) === '23P01';
/** Serialization failure or deadlock (40001, 40P01): the whole transaction may run again. */
export const isRetryableConflict = (error: unknown): boolean => {
  const state = sqlState(error);
  return state === '40001' || state === '40P01';
};
/** Text the database cannot store: a NUL character (22021) or an invalid byte sequence (22P05). */
export const isUnstorableText = (error: unknown): boolean => {
  const state = sqlState(error);
  return state === '22021' || state === '22P05';
};

/**
 * The connection pool had no connection to give within its wait (node-postgres's
 * `connectionTimeoutMillis`): every connection is busy, which is load, not the request's fault.
 */
export const isPoolExhausted = (error: unknown): boolean => {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current.message === 'timeout exceeded when trying to connect') return true;
  }
  return false;
};

// How node-postgres and PGlite say the connection is gone or never came: PostgreSQL stopped,
// restarting, unreachable or too slow to connect, or the embedded database closed.
const CONNECTION_LOST_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  // A connection closed after its query timed out, still used by the transaction it belonged to.
  'Client was closed and is not queryable',
  'Query read timeout',
  'timeout expired',
  'PGlite is closed',
]);
// Socket errors on the way to the server (node's `code`, with `syscall` set).
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// SQLSTATEs of a server that cannot serve now: connection exceptions (class 08), shutting down
// (57P01, 57P02), starting up or in recovery (57P03), out of connection slots (53300).
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * The server could not be reached, dropped the connection or could not give one (the pool's wait
 * for a connection included): not an error of the query itself, so another server (the primary,
 * for a replica) may answer it.
 */
export const isConnectionLost = (error: unknown): boolean => {
  const state = sqlState(error);
  if (state && (state.startsWith('08') || UNAVAILABLE_STATES.has(state))) return true;
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if (CONNECTION_LOST_MESSAGES.has(current.message)) return true;
    const { code, syscall } = current as { code?: unknown; syscall?: unknown };
    if (typeof code === 'string' && typeof syscall === 'string' && NETWORK_CODES.has(code)) return true;
  }
  return isPoolExhausted(error);
};

/**
 * The database could not be reached or did not answer in time (the connection lost, or a
 * statement cut off by statement_timeout, 57014): not the request's fault and not a bug, so it is
 * answered 503 at once (the client may retry) instead of 500. The pool's wait for a connection is
 * how a database that stopped answering looks to the requests queued behind the stuck ones.
 */
export const isDatabaseUnavailable = (error: unknown): boolean =>
  isConnectionLost(error) || sqlState(error) === '57014';
