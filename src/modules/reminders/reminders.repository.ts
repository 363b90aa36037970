import { and, asc, eq, lte, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import { type ReminderRow, reminderOccurrences, reminders } from './reminders.tables.js';

export function createRemindersRepository() {
  return {
    /** Serialises changes to one person's reminders (the free-plan limit is checked under it). */
    async lockOwner(db: Db, userId: string): Promise<void> {
      await db.execute(sql`select pg_advisory_xact_lock(hashtext(${`reminders:${userId}`}))`);
    },

    async countActive(db: Db, userId: string): Promise<number> {
      const [row] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(reminders)
        .where(and(eq(reminders.userId, userId), eq(reminders.active, true)));
      return Number(row?.n ?? 0);
    },

    async insert(db: Db, row: typeof reminders.$inferInsert): Promise<ReminderRow> {
      const [created] = await db.insert(reminders).values(row).returning();
      return created as ReminderRow;
    },

    async find(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<ReminderRow | undefined> {
      return firstRow(db.select().from(reminders).where(eq(reminders.id, id)).limit(1), options);
    },

    async listFor(db: Db, userId: string): Promise<ReminderRow[]> {
      return db.select().from(reminders).where(eq(reminders.userId, userId)).orderBy(asc(reminders.createdAt));
    },

    async update(db: Db, id: string, patch: Partial<typeof reminders.$inferInsert>): Promise<ReminderRow | undefined> {
      const [row] = await db.update(reminders).set(patch).where(eq(reminders.id, id)).returning();
      return row;
    },

    async delete(db: Db, id: string): Promise<void> {
      await db.delete(reminders).where(eq(reminders.id, id));
    },

    async deleteFor(db: Db, userId: string): Promise<number> {
      const rows = await db.delete(reminders).where(eq(reminders.userId, userId)).returning({ id: reminders.id });
      return rows.length;
    },

    /** Due reminders, locked; rows another scheduler holds are skipped, not waited for. */
    async claimDue(db: Db, now: Date, limit: number): Promise<ReminderRow[]> {
      return db
        .select()
        .from(reminders)
        .where(and(eq(reminders.active, true), lte(reminders.nextOccurrenceAt, now)))
        .orderBy(asc(reminders.nextOccurrenceAt))
        .limit(limit)
        .for('update', { skipLocked: true });
    },

    /** True when this occurrence was not recorded before: the one place "exactly once" is decided. */
    async recordOccurrence(db: Db, reminderId: string, occursAt: Date, now: Date): Promise<boolean> {
      const rows = await db
        .insert(reminderOccurrences)
        .values({ reminderId, occursAt, createdAt: now })
        .onConflictDoNothing()
        .returning({ reminderId: reminderOccurrences.reminderId });
      return rows.length > 0;
    },

    async linkNotification(db: Db, reminderId: string, occursAt: Date, notificationId: string): Promise<void> {
      await db
        .update(reminderOccurrences)
        .set({ notificationId })
        .where(and(eq(reminderOccurrences.reminderId, reminderId), eq(reminderOccurrences.occursAt, occursAt)));
    },

    async occurrencesOf(db: Db, reminderId: string) {
      return db
        .select()
        .from(reminderOccurrences)
        .where(eq(reminderOccurrences.reminderId, reminderId))
        .orderBy(asc(reminderOccurrences.occursAt));
    },
  };
}

export type RemindersRepository = ReturnType<typeof createRemindersRepository>;
