import { and, desc, eq, gte, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type AuditRow, auditHead, auditLog } from './audit.tables.js';

// Any fixed 64-bit number: writers take turns at the head of the chain.
const AUDIT_CHAIN_LOCK = 4_206_661_093;

export interface AuditFilters {
  action?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  from?: Date;
  to?: Date;
  beforeSeq?: number;
  limit: number;
}

export function createAuditRepository() {
  return {
    /** Locks the chain head for the rest of the transaction and returns it. */
    async lockHead(tx: Db): Promise<{ seq: number; hash: string } | undefined> {
      await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK})`);
      const [head] = await tx
        .select({ seq: auditLog.seq, hash: auditLog.hash })
        .from(auditLog)
        .orderBy(desc(auditLog.seq))
        .limit(1);
      return head;
    },

    async insert(tx: Db, row: typeof auditLog.$inferInsert & { seq: number; hash: string }) {
      await tx.insert(auditLog).values(row);
      await tx
        .insert(auditHead)
        .values({ id: 1, seq: row.seq, hash: row.hash })
        .onConflictDoUpdate({ target: auditHead.id, set: { seq: row.seq, hash: row.hash } });
    },

    async head(db: Db): Promise<{ seq: number; hash: string } | undefined> {
      const [row] = await db.select({ seq: auditHead.seq, hash: auditHead.hash }).from(auditHead).limit(1);
      return row;
    },

    async list(db: Db, filters: AuditFilters): Promise<AuditRow[]> {
      const conditions: SQL[] = [];
      if (filters.action) conditions.push(eq(auditLog.action, filters.action));
      if (filters.actorId) conditions.push(eq(auditLog.actorId, filters.actorId));
      if (filters.targetType) conditions.push(eq(auditLog.targetType, filters.targetType));
      if (filters.targetId) conditions.push(eq(auditLog.targetId, filters.targetId));
      if (filters.from) conditions.push(gte(auditLog.createdAt, filters.from));
      if (filters.to) conditions.push(lte(auditLog.createdAt, filters.to));
      if (filters.beforeSeq !== undefined) conditions.push(lt(auditLog.seq, filters.beforeSeq));
      return db
        .select()
        .from(auditLog)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(auditLog.seq))
        .limit(filters.limit);
    },

    /** Rows where the person acted or was acted on, oldest first. */
    async about(db: Db, userId: string): Promise<AuditRow[]> {
      return db
        .select()
        .from(auditLog)
        .where(or(eq(auditLog.actorId, userId), and(eq(auditLog.targetType, 'user'), eq(auditLog.targetId, userId))))
        .orderBy(auditLog.seq);
    },

    /** Rows in chain order, a page at a time (verification walks the whole table). */
    async page(db: Db, afterSeq: number, limit: number): Promise<AuditRow[]> {
      return db.select().from(auditLog).where(sql`${auditLog.seq} > ${afterSeq}`).orderBy(auditLog.seq).limit(limit);
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
