import { and, eq } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { IdempotencyKeyRef, IdempotencyStore } from '../../shared/idempotency.js';
import { idempotencyKeys } from './idempotency.tables.js';

const matches = (ref: IdempotencyKeyRef) =>
  and(eq(idempotencyKeys.userId, ref.userId), eq(idempotencyKeys.scope, ref.scope), eq(idempotencyKeys.key, ref.key));

export function createIdempotencyStore(deps: { clock: Clock }): IdempotencyStore {
  return {
    async find(db, ref) {
      const [row] = await db.select().from(idempotencyKeys).where(matches(ref)).limit(1);
      return row;
    },
    async claim(tx, ref, requestHash) {
      // A concurrent claim of the same key waits on the unique index until this transaction ends.
      const rows = await tx
        .insert(idempotencyKeys)
        .values({ ...ref, requestHash, statusCode: 0, response: {}, createdAt: deps.clock.now() })
        .onConflictDoNothing()
        .returning({ key: idempotencyKeys.key });
      return rows.length > 0;
    },
    async complete(tx, ref, answer) {
      await tx.update(idempotencyKeys).set(answer).where(matches(ref));
    },
    async release(tx, ref) {
      await tx.delete(idempotencyKeys).where(matches(ref));
    },
  };
}

/** A person's keys are the answers the person was given; erasure deletes them. */
export const idempotencyPersonalData: PersonalDataEntry = {
  module: 'idempotency',
  description: 'The first answer to each request you sent with an Idempotency-Key (e.g. a booking)',
  purposes: ['making retried requests safe'],
  legalBasis: 'contract',
  retention: 'until you erase your account',
  tables: ['idempotency_keys'],
  async export(tx: Db, userId: string) {
    const rows = await tx.select().from(idempotencyKeys).where(eq(idempotencyKeys.userId, userId));
    return rows.map((row) => ({ scope: row.scope, key: row.key, created_at: row.createdAt.toISOString() }));
  },
  async erase(tx: Db, userId: string) {
    const rows = await tx
      .delete(idempotencyKeys)
      .where(eq(idempotencyKeys.userId, userId))
      .returning({ key: idempotencyKeys.key });
    return { action: 'deleted', rows: rows.length };
  },
};
