import { and, count, desc, eq, gt, inArray, lt, type SQL } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import {
  type Channel,
  type NotificationPreferencesRow,
  type NotificationRow,
  type NotificationStatus,
  notificationPreferences,
  notifications,
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
      patch: Partial<typeof notifications.$inferInsert>,
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

    /** Messages sent to the person since `since` that count against the weekly cap. */
    async countCapped(db: Db, userId: string, since: Date): Promise<number> {
      const [row] = await db
        .select({ n: count() })
        .from(notifications)
        .where(
          and(
            eq(notifications.userId, userId),
            gt(notifications.sentAt, since),
            eq(notifications.status, 'sent'),
            eq(notifications.urgent, false),
            eq(notifications.priority, false),
          ),
        );
      return Number(row?.n ?? 0);
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
