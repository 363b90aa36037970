import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import { type ReviewRow, reviews } from './bookings.tables.js';

/** The admins' review queries (the reviews table; the rest of its queries are in bookings.repository.ts). */
export function createReviewsRepository() {
  return {
    /**
     * Reviews for moderation, newest first (ids are time-ordered UUIDv7), shown or hidden as
     * asked, of one provider when given, before `beforeId` when given.
     */
    async adminList(
      db: Db,
      filter: { visible?: boolean; providerId?: string; beforeId?: string; limit: number },
    ): Promise<ReviewRow[]> {
      const conditions: SQL[] = [];
      if (filter.visible !== undefined) conditions.push(eq(reviews.visible, filter.visible));
      if (filter.providerId) conditions.push(eq(reviews.providerId, filter.providerId));
      if (filter.beforeId) conditions.push(lt(reviews.id, filter.beforeId));
      return db
        .select()
        .from(reviews)
        .where(conditions.length > 0 ? and(...conditions) : undefined)
        .orderBy(desc(reviews.id))
        .limit(filter.limit);
    },
  };
}
