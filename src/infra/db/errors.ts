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
