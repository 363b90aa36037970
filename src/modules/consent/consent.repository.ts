import { and, desc, eq, lt, max, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import {
  type ConsentNoticeRow,
  type ConsentPurpose,
  type ConsentRecordRow,
  type ConsentRow,
  consentNotices,
  consentRecords,
  consents,
} from './consent.tables.js';

/** Whether the person has granted `purpose` under its newest notice, as an SQL condition on a user id expression. */
export const consentGrantedFor = (userId: SQL, purpose: ConsentPurpose): SQL =>
  sql`exists (select 1 from ${consents} c where c.user_id = ${userId} and c.purpose = ${purpose}
    and c.granted and c.notice_version >= (select coalesce(max(version), 0) from ${consentNotices} where purpose = ${purpose}))`;

export function createConsentRepository() {
  return {
    /** The newest version of each purpose's notice. */
    async latestNotices(db: Db): Promise<ConsentNoticeRow[]> {
      return db
        .selectDistinctOn([consentNotices.purpose])
        .from(consentNotices)
        .orderBy(consentNotices.purpose, desc(consentNotices.version));
    },

    async allNotices(db: Db): Promise<ConsentNoticeRow[]> {
      return db.select().from(consentNotices).orderBy(consentNotices.purpose, desc(consentNotices.version));
    },

    async latestVersion(db: Db, purpose: ConsentPurpose): Promise<number> {
      const [row] = await db
        .select({ version: max(consentNotices.version) })
        .from(consentNotices)
        .where(eq(consentNotices.purpose, purpose));
      return row?.version ?? 0;
    },

    async insertNotice(db: Db, row: typeof consentNotices.$inferInsert): Promise<ConsentNoticeRow | undefined> {
      const [created] = await db.insert(consentNotices).values(row).onConflictDoNothing().returning();
      return created;
    },

    async states(db: Db, userId: string): Promise<ConsentRow[]> {
      return db.select().from(consents).where(eq(consents.userId, userId));
    },

    async state(db: Db, userId: string, purpose: ConsentPurpose, options: { forUpdate?: boolean } = {}) {
      return firstRow(
        db
          .select()
          .from(consents)
          .where(and(eq(consents.userId, userId), eq(consents.purpose, purpose)))
          .limit(1),
        options,
      );
    },

    /** Appends the change to the history and makes it the current state, in the caller's transaction. */
    async record(db: Db, row: typeof consentRecords.$inferInsert): Promise<void> {
      await db.insert(consentRecords).values(row);
      await db
        .insert(consents)
        .values({
          userId: row.userId,
          purpose: row.purpose,
          granted: row.granted,
          noticeVersion: row.noticeVersion,
          updatedAt: row.createdAt,
        })
        .onConflictDoUpdate({
          target: [consents.userId, consents.purpose],
          set: { granted: row.granted, noticeVersion: row.noticeVersion, updatedAt: row.createdAt },
        });
    },

    /** Newest first; `beforeId` continues a page (ids are time-ordered UUIDv7). */
    async history(db: Db, userId: string, options: { beforeId?: string; limit: number }): Promise<ConsentRecordRow[]> {
      return db
        .select()
        .from(consentRecords)
        .where(
          options.beforeId
            ? and(eq(consentRecords.userId, userId), lt(consentRecords.id, options.beforeId))
            : eq(consentRecords.userId, userId),
        )
        .orderBy(desc(consentRecords.id))
        .limit(options.limit);
    },

    /** Whether the person has granted `purpose` under the newest notice, in one query. */

    async hasCurrent(db: Db, userId: string, purpose: ConsentPurpose): Promise<boolean> {
      const [row] = await db
        .select({ ok: sql<boolean>`true` })
        .from(consents)
        .where(
          and(
            eq(consents.userId, userId),
            eq(consents.purpose, purpose),
            eq(consents.granted, true),
            sql`${consents.noticeVersion} >= (select coalesce(max(version), 0) from ${consentNotices} where purpose = ${purpose})`,
          ),
        )
        .limit(1);
      return row !== undefined;
    },

    async eraseFor(db: Db, userId: string): Promise<number> {
      const records = await db
        .delete(consentRecords)
        .where(eq(consentRecords.userId, userId))
        .returning({ id: consentRecords.id });
      await db.delete(consents).where(eq(consents.userId, userId));
      return records.length;
    },
  };
}

export type ConsentRepository = ReturnType<typeof createConsentRepository>;
