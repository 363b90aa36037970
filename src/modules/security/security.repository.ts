import { and, desc, eq, gt, gte, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import {
  type IpBlockRow,
  ipBlocks,
  type SecurityAlertRow,
  type SecurityEventRow,
  securityAlerts,
  securityEvents,
} from './security.tables.js';

export interface EventFilters {
  type?: string;
  severity?: string;
  ip?: string;
  userId?: string;
  from?: Date;
  to?: Date;
  /** The last row of the previous page. */
  after?: { occurredAt: Date; id: string };
  limit: number;
}

export function createSecurityRepository() {
  return {
    async insertEvents(db: Db, rows: SecurityEventRow[]): Promise<void> {
      if (rows.length > 0) await db.insert(securityEvents).values(rows);
    },

    async listEvents(db: Db, filters: EventFilters): Promise<SecurityEventRow[]> {
      const where: (SQL | undefined)[] = [
        filters.type ? eq(securityEvents.type, filters.type) : undefined,
        filters.severity ? eq(securityEvents.severity, filters.severity) : undefined,
        filters.ip ? eq(securityEvents.ip, filters.ip) : undefined,
        filters.userId ? eq(securityEvents.userId, filters.userId) : undefined,
        filters.from ? gte(securityEvents.occurredAt, filters.from) : undefined,
        filters.to ? lt(securityEvents.occurredAt, filters.to) : undefined,
        filters.after
          ? or(
              lt(securityEvents.occurredAt, filters.after.occurredAt),
              and(eq(securityEvents.occurredAt, filters.after.occurredAt), lt(securityEvents.id, filters.after.id)),
            )
          : undefined,
      ];
      return db
        .select()
        .from(securityEvents)
        .where(and(...where))
        .orderBy(desc(securityEvents.occurredAt), desc(securityEvents.id))
        .limit(filters.limit);
    },

    async eventsOfUser(db: Db, userId: string): Promise<SecurityEventRow[]> {
      return db
        .select()
        .from(securityEvents)
        .where(eq(securityEvents.userId, userId))
        .orderBy(securityEvents.occurredAt);
    },

    async detachUser(db: Db, userId: string): Promise<number> {
      const rows = await db
        .update(securityEvents)
        .set({ userId: null })
        .where(eq(securityEvents.userId, userId))
        .returning({ id: securityEvents.id });
      return rows.length;
    },

    async activeBlocks(db: Db, now: Date): Promise<IpBlockRow[]> {
      return db
        .select()
        .from(ipBlocks)
        .where(and(isNull(ipBlocks.liftedAt), gt(ipBlocks.expiresAt, now)))
        .orderBy(desc(ipBlocks.createdAt));
    },

    async listBlocks(db: Db, options: { now: Date; includeEnded: boolean; limit: number }): Promise<IpBlockRow[]> {
      return db
        .select()
        .from(ipBlocks)
        .where(options.includeEnded ? undefined : and(isNull(ipBlocks.liftedAt), gt(ipBlocks.expiresAt, options.now)))
        .orderBy(desc(ipBlocks.createdAt))
        .limit(options.limit);
    },

    async findBlock(db: Db, id: string): Promise<IpBlockRow | undefined> {
      const [row] = await db.select().from(ipBlocks).where(eq(ipBlocks.id, id)).limit(1);
      return row;
    },

    /** Automatic blocks of this key since `since`: the next one's level is this plus one. */
    async recentAutomaticBlocks(db: Db, ipKey: string, since: Date): Promise<number> {
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(ipBlocks)
        .where(and(eq(ipBlocks.ipKey, ipKey), eq(ipBlocks.source, 'automatic'), gte(ipBlocks.createdAt, since)));
      return row?.count ?? 0;
    },

    async insertBlock(db: Db, row: IpBlockRow): Promise<void> {
      await db.insert(ipBlocks).values(row);
    },

    async liftActive(
      db: Db,
      ipKey: string,
      input: { at: Date; by: string | null; reason: string },
    ): Promise<IpBlockRow[]> {
      return db
        .update(ipBlocks)
        .set({ liftedAt: input.at, liftedBy: input.by, liftReason: input.reason })
        .where(and(eq(ipBlocks.ipKey, ipKey), isNull(ipBlocks.liftedAt), gt(ipBlocks.expiresAt, input.at)))
        .returning();
    },

    async blocksOfUser(db: Db, userId: string): Promise<IpBlockRow[]> {
      return db
        .select()
        .from(ipBlocks)
        .where(or(eq(ipBlocks.createdBy, userId), eq(ipBlocks.liftedBy, userId)));
    },

    async detachBlockAdmin(db: Db, userId: string): Promise<number> {
      const created = await db
        .update(ipBlocks)
        .set({ createdBy: null })
        .where(eq(ipBlocks.createdBy, userId))
        .returning({ id: ipBlocks.id });
      const lifted = await db
        .update(ipBlocks)
        .set({ liftedBy: null })
        .where(eq(ipBlocks.liftedBy, userId))
        .returning({ id: ipBlocks.id });
      return created.length + lifted.length;
    },

    async summary(db: Db, since: Date, now: Date) {
      const byTypeAndHour = await db
        .select({
          hour: sql<string>`to_char(date_trunc('hour', ${securityEvents.occurredAt} at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')`,
          type: securityEvents.type,
          count: sql<number>`count(*)::int`,
        })
        .from(securityEvents)
        .where(gte(securityEvents.occurredAt, since))
        .groupBy(sql`1`, securityEvents.type)
        .orderBy(sql`1`, securityEvents.type);
      const bySeverity = await db
        .select({ severity: securityEvents.severity, count: sql<number>`count(*)::int` })
        .from(securityEvents)
        .where(gte(securityEvents.occurredAt, since))
        .groupBy(securityEvents.severity);
      const topIps = await db
        .select({
          ip: securityEvents.ip,
          count: sql<number>`count(*)::int`,
          points: sql<number>`coalesce(sum(${securityEvents.points}), 0)::int`,
          last_seen: sql<Date>`max(${securityEvents.occurredAt})`,
        })
        .from(securityEvents)
        .where(and(gte(securityEvents.occurredAt, since), sql`${securityEvents.ip} is not null`))
        .groupBy(securityEvents.ip)
        .orderBy(desc(sql`count(*)`), securityEvents.ip)
        .limit(10);
      const active = await this.activeBlocks(db, now);
      return { byTypeAndHour, bySeverity, topIps, active };
    },

    async insertAlert(db: Db, row: SecurityAlertRow): Promise<void> {
      await db.insert(securityAlerts).values(row);
    },

    /** Unsent alerts, locked for this transaction (another instance skips them). */
    async lockPendingAlerts(db: Db, limit: number): Promise<SecurityAlertRow[]> {
      const result = await db.execute(sql`
        select id from security_alerts where sent_at is null
        order by created_at, id limit ${limit} for update skip locked`);
      const ids = ((result as { rows: { id: string }[] }).rows ?? []).map((row) => row.id);
      if (ids.length === 0) return [];
      return db
        .select()
        .from(securityAlerts)
        .where(
          sql`${securityAlerts.id} in (${sql.join(
            ids.map((id) => sql`${id}::uuid`),
            sql`, `,
          )})`,
        )
        .orderBy(securityAlerts.createdAt, securityAlerts.id);
    },

    async lastSentAt(db: Db): Promise<Date | undefined> {
      const [row] = await db.select({ at: sql<Date | null>`max(${securityAlerts.sentAt})` }).from(securityAlerts);
      return row?.at ? new Date(row.at) : undefined;
    },

    async markSent(db: Db, ids: string[], at: Date, digestId: string): Promise<void> {
      await db
        .update(securityAlerts)
        .set({ sentAt: at, digestId })
        .where(
          sql`${securityAlerts.id} in (${sql.join(
            ids.map((id) => sql`${id}::uuid`),
            sql`, `,
          )})`,
        );
    },

    async deleteEventsBefore(db: Db, before: Date): Promise<number> {
      const rows = await db
        .delete(securityEvents)
        .where(lt(securityEvents.occurredAt, before))
        .returning({ id: securityEvents.id });
      return rows.length;
    },

    async deleteBlocksEndedBefore(db: Db, before: Date): Promise<number> {
      const rows = await db
        .delete(ipBlocks)
        .where(or(lte(ipBlocks.expiresAt, before), lte(ipBlocks.liftedAt, before)))
        .returning({ id: ipBlocks.id });
      return rows.length;
    },

    async deleteAlertsSentBefore(db: Db, before: Date): Promise<number> {
      const rows = await db
        .delete(securityAlerts)
        .where(lte(securityAlerts.sentAt, before))
        .returning({ id: securityAlerts.id });
      return rows.length;
    },
  };
}

export type SecurityRepository = ReturnType<typeof createSecurityRepository>;
