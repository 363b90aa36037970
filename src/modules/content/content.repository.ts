import { and, asc, desc, eq, inArray, isNotNull, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import {
  type ContentItemRow,
  type ContentStatus,
  type ContentTier,
  type ContentType,
  type ContentVersionRow,
  contentItems,
  contentVersions,
  contentViews,
} from './content.tables.js';

export interface ItemWithVersion {
  item: ContentItemRow;
  version: ContentVersionRow;
}

export interface VisibleFilters {
  q?: string;
  tag?: string;
  locale?: string;
  tier?: ContentTier;
  type?: ContentType;
}

/** Where a reader's page ended: rank (searches only), publication time, id. */
export interface VisibleCursor {
  rank?: number;
  publishedAt: Date;
  id: string;
}

// Exactly the expression of content_versions_search_idx, so the GIN index answers `@@`.
const searchDocument = sql`to_tsvector('simple', ${contentVersions.title} || ' ' || ${contentVersions.summary} || ' ' || ${contentVersions.body})`;

/** Published, its schedule reached, and joined to the version readers see. */
const visibleWhere = (now: Date) =>
  and(eq(contentItems.status, 'published'), isNotNull(contentItems.publishedVersion), lte(contentItems.publishAt, now));

export function createContentRepository() {
  const withVersion = (db: Db, pointer: 'current' | 'published') =>
    db
      .select({ item: contentItems, version: contentVersions })
      .from(contentItems)
      .innerJoin(
        contentVersions,
        and(
          eq(contentVersions.contentId, contentItems.id),
          eq(
            contentVersions.version,
            pointer === 'current' ? contentItems.currentVersion : contentItems.publishedVersion,
          ),
        ),
      );

  return {
    /** undefined when the slug is taken. */
    async insertItem(db: Db, row: typeof contentItems.$inferInsert): Promise<ContentItemRow | undefined> {
      const [created] = await db
        .insert(contentItems)
        .values(row)
        .onConflictDoNothing({ target: contentItems.slug })
        .returning();
      return created;
    },

    async insertVersion(db: Db, row: typeof contentVersions.$inferInsert): Promise<ContentVersionRow> {
      const [created] = await db.insert(contentVersions).values(row).returning();
      return created as ContentVersionRow;
    },

    async updateItem(
      db: Db,
      id: string,
      set: Partial<Omit<typeof contentItems.$inferInsert, 'id' | 'createdAt' | 'createdBy'>>,
    ): Promise<ContentItemRow> {
      const [updated] = await db.update(contentItems).set(set).where(eq(contentItems.id, id)).returning();
      return updated as ContentItemRow;
    },

    /** The item with its newest version; `forUpdate` locks the item so edits number versions one at a time. */
    async findCurrent(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<ItemWithVersion | undefined> {
      const query = withVersion(db, 'current').where(eq(contentItems.id, id)).limit(1);
      const [row] = options.forUpdate ? await query.for('update', { of: contentItems }) : await query;
      return row;
    },

    /** Current titles of these items (ids that are not content are left out). */
    async titles(db: Db, ids: string[]): Promise<{ id: string; title: string }[]> {
      const valid = ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id));
      if (valid.length === 0) return [];
      const rows = await withVersion(db, 'current').where(inArray(contentItems.id, valid));
      return rows.map((row) => ({ id: row.item.id, title: row.version.title }));
    },

    /** Newest first; `beforeId` continues a page (ids are time-ordered UUIDv7). */
    async listCurrent(
      db: Db,
      filters: { type?: ContentType; status?: ContentStatus; beforeId?: string; limit: number },
    ): Promise<ItemWithVersion[]> {
      const conditions: SQL[] = [];
      if (filters.type) conditions.push(eq(contentItems.type, filters.type));
      if (filters.status) conditions.push(eq(contentItems.status, filters.status));
      if (filters.beforeId) conditions.push(lt(contentItems.id, filters.beforeId));
      return withVersion(db, 'current')
        .where(and(...conditions))
        .orderBy(desc(contentItems.id))
        .limit(filters.limit);
    },

    async versions(db: Db, contentId: string): Promise<ContentVersionRow[]> {
      return db
        .select()
        .from(contentVersions)
        .where(eq(contentVersions.contentId, contentId))
        .orderBy(desc(contentVersions.version));
    },

    async findVisibleBySlug(db: Db, slug: string, now: Date): Promise<ItemWithVersion | undefined> {
      const [row] = await withVersion(db, 'published')
        .where(and(eq(contentItems.slug, slug), visibleWhere(now)))
        .limit(1);
      return row;
    },

    /**
     * What readers may see, newest first, or by relevance (ts_rank, then newest) when searching.
     * Keyset pagination on (rank, publish_at, id): items published later never shift a page.
     */
    async listVisible(
      db: Db,
      filters: VisibleFilters,
      page: { now: Date; after?: VisibleCursor; limit: number },
    ): Promise<(ItemWithVersion & { rank: number | null })[]> {
      const conditions: (SQL | undefined)[] = [visibleWhere(page.now)];
      if (filters.type) conditions.push(eq(contentItems.type, filters.type));
      if (filters.tier) conditions.push(eq(contentVersions.tier, filters.tier));
      if (filters.locale) conditions.push(eq(contentVersions.locale, filters.locale));
      if (filters.tag) conditions.push(sql`${contentVersions.tags} @> ${JSON.stringify([filters.tag])}::jsonb`);

      const query = filters.q === undefined ? undefined : sql`websearch_to_tsquery('simple', ${filters.q})`;
      const rank = query ? sql<number>`ts_rank(${searchDocument}, ${query})` : undefined;
      if (query) conditions.push(sql`${searchDocument} @@ ${query}`);

      const after = page.after;
      if (after) {
        conditions.push(
          rank
            ? sql`(${rank}, ${contentItems.publishAt}, ${contentItems.id}) < (${after.rank ?? 0}::real, ${after.publishedAt.toISOString()}::timestamptz, ${after.id}::uuid)`
            : sql`(${contentItems.publishAt}, ${contentItems.id}) < (${after.publishedAt.toISOString()}::timestamptz, ${after.id}::uuid)`,
        );
      }

      const rows = await db
        .select({ item: contentItems, version: contentVersions, rank: rank ?? sql<null>`null` })
        .from(contentItems)
        .innerJoin(
          contentVersions,
          and(
            eq(contentVersions.contentId, contentItems.id),
            eq(contentVersions.version, contentItems.publishedVersion),
          ),
        )
        .where(and(...conditions))
        .orderBy(...(rank ? [desc(rank)] : []), desc(contentItems.publishAt), desc(contentItems.id))
        .limit(page.limit);
      return rows.map((row) => ({ ...row, rank: row.rank === null ? null : Number(row.rank) }));
    },

    async visibleOfTypes(db: Db, types: ContentType[], now: Date): Promise<ItemWithVersion[]> {
      if (types.length === 0) return [];
      return withVersion(db, 'published')
        .where(and(visibleWhere(now), inArray(contentItems.type, types)))
        .orderBy(asc(contentItems.slug));
    },

    async recordView(db: Db, row: typeof contentViews.$inferInsert): Promise<void> {
      await db.insert(contentViews).values(row);
    },

    async viewsOf(db: Db, userId: string): Promise<{ slug: string; viewedAt: Date }[]> {
      return db
        .select({ slug: contentItems.slug, viewedAt: contentViews.viewedAt })
        .from(contentViews)
        .innerJoin(contentItems, eq(contentItems.id, contentViews.contentId))
        .where(eq(contentViews.userId, userId))
        .orderBy(asc(contentViews.viewedAt));
    },

    async deleteViewsOf(db: Db, userId: string): Promise<number> {
      const deleted = await db
        .delete(contentViews)
        .where(eq(contentViews.userId, userId))
        .returning({ id: contentViews.id });
      return deleted.length;
    },
  };
}

export type ContentRepository = ReturnType<typeof createContentRepository>;

/**
 * Published items with their type and the tier of their published version, by slug. Exported
 * through index.ts for the analytics demo history, which views real items.
 */
export async function publishedContentKinds(db: Db): Promise<{ id: string; type: ContentType; tier: ContentTier }[]> {
  return db
    .select({ id: contentItems.id, type: contentItems.type, tier: contentVersions.tier })
    .from(contentItems)
    .innerJoin(
      contentVersions,
      and(eq(contentVersions.contentId, contentItems.id), eq(contentVersions.version, contentItems.publishedVersion)),
    )
    .where(and(eq(contentItems.status, 'published'), isNotNull(contentItems.publishedVersion)))
    .orderBy(contentItems.slug);
}
