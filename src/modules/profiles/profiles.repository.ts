import { eq, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import { type WellnessProfileRow, wellnessProfiles } from './profiles.tables.js';

/** The person's country as an SQL expression on a user id expression (null without a profile or a country). */
export const countryOfUser = (userId: SQL): SQL<string | null> =>
  sql`(select ${wellnessProfiles.country} from ${wellnessProfiles} where ${wellnessProfiles.userId} = ${userId})`;

export function createProfilesRepository() {
  return {
    async find(db: Db, userId: string, options: { forUpdate?: boolean } = {}): Promise<WellnessProfileRow | undefined> {
      return firstRow(db.select().from(wellnessProfiles).where(eq(wellnessProfiles.userId, userId)).limit(1), options);
    },

    async upsert(db: Db, row: typeof wellnessProfiles.$inferInsert): Promise<WellnessProfileRow> {
      const { userId: _userId, createdAt: _createdAt, ...changes } = row;
      const [saved] = await db
        .insert(wellnessProfiles)
        .values(row)
        .onConflictDoUpdate({ target: wellnessProfiles.userId, set: changes })
        .returning();
      return saved as WellnessProfileRow;
    },

    async delete(db: Db, userId: string): Promise<number> {
      const rows = await db
        .delete(wellnessProfiles)
        .where(eq(wellnessProfiles.userId, userId))
        .returning({ userId: wellnessProfiles.userId });
      return rows.length;
    },
  };
}

export type ProfilesRepository = ReturnType<typeof createProfilesRepository>;
