import { and, count, desc, eq, gt, inArray, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import {
  type Channel,
  type NotificationPreferencesRow,
  type NotificationRow,
  type NotificationStatus,
  notificationPreferences,
  notifications,
  type PushDeviceRow,
  pushDevices,
} from './notifications.tables.js';

export interface NotificationFilters {
  status?: NotificationStatus;
  channel?: Channel;
  /** Only ids before this one (newest first). */
  beforeId?: string;
  limit: number;
}

/** A notification as shown to admins and in exports: everything but the template data. */
export type NotificationSummary = Omit<NotificationRow, 'data'>;

const summaryColumns = {
  id: notifications.id,
  userId: notifications.userId,
  channel: notifications.channel,
  purpose: notifications.purpose,
  template: notifications.template,
  urgent: notifications.urgent,
  priority: notifications.priority,
  status: notifications.status,
  cancelReason: notifications.cancelReason,
  attempts: notifications.attempts,
  lastError: notifications.lastError,
  outboxId: notifications.outboxId,
  notBefore: notifications.notBefore,
  createdAt: notifications.createdAt,
  updatedAt: notifications.updatedAt,
  sentAt: notifications.sentAt,
  channels: notifications.channels,
  fallbacks: notifications.fallbacks,
  cappedAt: notifications.cappedAt,
  sendingUntil: notifications.sendingUntil,
  providerMessageId: notifications.providerMessageId,
  deliveryStatus: notifications.deliveryStatus,
  deliveredAt: notifications.deliveredAt,
  segments: notifications.segments,
  encoding: notifications.encoding,
};

export function createNotificationsRepository() {
  return {
    async insert(db: Db, row: typeof notifications.$inferInsert): Promise<void> {
      await db.insert(notifications).values(row);
    },

    async findById(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<NotificationRow | undefined> {
      return firstRow(db.select().from(notifications).where(eq(notifications.id, id)).limit(1), options);
    },

    /** Updates a notification only while it is still queued: a concurrent retry or erasure wins. */
    async updateQueued(
      db: Db,
      id: string,
      patch: { [K in keyof typeof notifications.$inferInsert]?: (typeof notifications.$inferInsert)[K] | SQL },
    ): Promise<NotificationRow | undefined> {
      const [row] = await db
        .update(notifications)
        .set(patch)
        .where(and(eq(notifications.id, id), eq(notifications.status, 'queued')))
        .returning();
      return row;
    },

    async update(
      db: Db,
      id: string,
      patch: Partial<typeof notifications.$inferInsert>,
    ): Promise<NotificationRow | undefined> {
      const [row] = await db.update(notifications).set(patch).where(eq(notifications.id, id)).returning();
      return row;
    },

    /**
     * Takes one of the person's weekly places for notification `id` when fewer than `cap` messages
     * took one since `since` (sent, or still on their way); false when the week is full. Counted
     * under a transaction-scoped lock per person, so two deliveries at once cannot both take the
     * last place. Call inside a transaction.
     */
    async reserveCapPlace(tx: Db, id: string, userId: string, since: Date, cap: number, now: Date): Promise<boolean> {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`notifications-cap:${userId}`}, 0))`);
      const [row] = await tx
        .select({ n: count() })
        .from(notifications)
        .where(
          and(
            eq(notifications.userId, userId),
            gt(notifications.cappedAt, since),
            inArray(notifications.status, ['queued', 'sent']),
          ),
        );
      if (Number(row?.n ?? 0) >= cap) return false;
      await tx
        .update(notifications)
        .set({ cappedAt: now })
        .where(and(eq(notifications.id, id), eq(notifications.status, 'queued')));
      return true;
    },

    /**
     * Marks the notification as being sent by this worker until `until`, unless another worker's
     * mark still holds; false then.
     */
    async claimSending(db: Db, id: string, now: Date, until: Date): Promise<boolean> {
      const rows = await db
        .update(notifications)
        .set({ sendingUntil: until })
        .where(
          and(
            eq(notifications.id, id),
            eq(notifications.status, 'queued'),
            or(isNull(notifications.sendingUntil), lte(notifications.sendingUntil, now)),
          ),
        )
        .returning({ id: notifications.id });
      return rows.length > 0;
    },

    async findByProviderMessageId(db: Db, providerMessageId: string): Promise<NotificationRow | undefined> {
      return firstRow(
        db.select().from(notifications).where(eq(notifications.providerMessageId, providerMessageId)).limit(1),
        { forUpdate: true },
      );
    },

    async devicesOf(db: Db, userId: string): Promise<PushDeviceRow[]> {
      return db.select().from(pushDevices).where(eq(pushDevices.userId, userId)).orderBy(pushDevices.id);
    },

    async findDevice(db: Db, id: string): Promise<PushDeviceRow | undefined> {
      const [row] = await db.select().from(pushDevices).where(eq(pushDevices.id, id)).limit(1);
      return row;
    },

    /** Registers a token or endpoint; one already known (from any account) is moved to this row's owner. */
    async upsertDevice(db: Db, row: PushDeviceRow): Promise<PushDeviceRow> {
      const [saved] = await db
        .insert(pushDevices)
        .values(row)
        .onConflictDoUpdate({
          target: pushDevices.token,
          set: { userId: row.userId, kind: row.kind, platform: row.platform, p256dh: row.p256dh, auth: row.auth },
        })
        .returning();
      return saved as PushDeviceRow;
    },

    async deleteDevice(db: Db, id: string, userId?: string): Promise<boolean> {
      const condition = userId ? and(eq(pushDevices.id, id), eq(pushDevices.userId, userId)) : eq(pushDevices.id, id);
      const deleted = await db.delete(pushDevices).where(condition).returning({ id: pushDevices.id });
      return deleted.length > 0;
    },

    async countDevices(db: Db, userId: string): Promise<number> {
      const [row] = await db.select({ n: count() }).from(pushDevices).where(eq(pushDevices.userId, userId));
      return Number(row?.n ?? 0);
    },

    async touchDevices(db: Db, ids: string[], at: Date): Promise<void> {
      if (ids.length > 0) await db.update(pushDevices).set({ lastUsedAt: at }).where(inArray(pushDevices.id, ids));
    },

    async deleteDevicesForUser(db: Db, userId: string): Promise<number> {
      const deleted = await db
        .delete(pushDevices)
        .where(eq(pushDevices.userId, userId))
        .returning({ id: pushDevices.id });
      return deleted.length;
    },

    /** Newest first (ids are UUIDv7, so id order is creation order). */
    async list(db: Db, filters: NotificationFilters): Promise<NotificationSummary[]> {
      const conditions: SQL[] = [];
      if (filters.status) conditions.push(eq(notifications.status, filters.status));
      if (filters.channel) conditions.push(eq(notifications.channel, filters.channel));
      if (filters.beforeId) conditions.push(lt(notifications.id, filters.beforeId));
      return db
        .select(summaryColumns)
        .from(notifications)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(notifications.id))
        .limit(filters.limit);
    },

    async listForUser(db: Db, userId: string): Promise<NotificationSummary[]> {
      return db
        .select(summaryColumns)
        .from(notifications)
        .where(eq(notifications.userId, userId))
        .orderBy(desc(notifications.id));
    },

    async deleteForUser(db: Db, userId: string): Promise<number> {
      const deleted = await db
        .delete(notifications)
        .where(eq(notifications.userId, userId))
        .returning({ id: notifications.id });
      return deleted.length;
    },

    /** Sent, cancelled and dead messages last changed before `before`. */
    async deleteFinishedBefore(db: Db, before: Date): Promise<number> {
      const deleted = await db
        .delete(notifications)
        .where(and(inArray(notifications.status, ['sent', 'cancelled', 'dead']), lt(notifications.updatedAt, before)))
        .returning({ id: notifications.id });
      return deleted.length;
    },

    async preferences(db: Db, userId: string): Promise<NotificationPreferencesRow | undefined> {
      const [row] = await db
        .select()
        .from(notificationPreferences)
        .where(eq(notificationPreferences.userId, userId))
        .limit(1);
      return row;
    },

    async savePreferences(db: Db, row: NotificationPreferencesRow): Promise<NotificationPreferencesRow> {
      const { userId: _userId, ...patch } = row;
      const [saved] = await db
        .insert(notificationPreferences)
        .values(row)
        .onConflictDoUpdate({ target: notificationPreferences.userId, set: patch })
        .returning();
      return saved as NotificationPreferencesRow;
    },

    async deletePreferences(db: Db, userId: string): Promise<number> {
      const deleted = await db
        .delete(notificationPreferences)
        .where(eq(notificationPreferences.userId, userId))
        .returning({ userId: notificationPreferences.userId });
      return deleted.length;
    },
  };
}

export type NotificationsRepository = ReturnType<typeof createNotificationsRepository>;
