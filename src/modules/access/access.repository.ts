import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type FlagRow, featureFlags, premiumFeatureUsage } from './access.tables.js';

export function createAccessRepository() {
  return {
    async allFlags(db: Db): Promise<FlagRow[]> {
      return db.select().from(featureFlags).orderBy(asc(featureFlags.key));
    },
    async findFlag(db: Db, key: string): Promise<FlagRow | undefined> {
      const [row] = await db.select().from(featureFlags).where(eq(featureFlags.key, key)).limit(1);
      return row;
    },
    async insertFlag(db: Db, row: typeof featureFlags.$inferInsert): Promise<FlagRow | undefined> {
      const [created] = await db.insert(featureFlags).values(row).onConflictDoNothing().returning();
      return created;
    },
    async updateFlag(db: Db, key: string, patch: Partial<typeof featureFlags.$inferInsert>) {
      const [row] = await db.update(featureFlags).set(patch).where(eq(featureFlags.key, key)).returning();
      return row;
    },
    async deleteFlag(db: Db, key: string): Promise<boolean> {
      const rows = await db.delete(featureFlags).where(eq(featureFlags.key, key)).returning({ key: featureFlags.key });
      return rows.length > 0;
    },
    async countPremiumUse(db: Db, userId: string, featureName: string, now: Date): Promise<number> {
      const [row] = await db
        .insert(premiumFeatureUsage)
        .values({ userId, featureName, usageCount: 1, lastUsedAt: now })
        .onConflictDoUpdate({
          target: [premiumFeatureUsage.userId, premiumFeatureUsage.featureName],
          set: { usageCount: sql`${premiumFeatureUsage.usageCount} + 1`, lastUsedAt: now },
        })
        .returning({ usageCount: premiumFeatureUsage.usageCount });
      return row?.usageCount ?? 1;
    },
    async premiumUsage(db: Db, userId: string) {
      return db.select().from(premiumFeatureUsage).where(eq(premiumFeatureUsage.userId, userId));
    },
    async deletePremiumUsage(db: Db, userId: string): Promise<number> {
      const rows = await db
        .delete(premiumFeatureUsage)
        .where(eq(premiumFeatureUsage.userId, userId))
        .returning({ feature: premiumFeatureUsage.featureName });
      return rows.length;
    },
  };
}

export type AccessRepository = ReturnType<typeof createAccessRepository>;
