import { and, asc, desc, eq, gt, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow, queryRows } from '../../infra/db/client.js';
import {
  type CategoryRow,
  categories,
  type ProviderRow,
  providers,
  type ServiceRow,
  services,
  type Verification,
} from './catalog.tables.js';

export type SearchSort = 'relevance' | 'price' | 'rating' | 'newest';
/** How a search matched: full text (`fts`), trigram fallback (`trgm`), or no query (`all`). */
export type SearchMode = 'fts' | 'trgm' | 'all';

export interface SearchFilters {
  q?: string;
  /** A category slug or id; its descendants match too. */
  category?: string;
  city?: string;
  minPrice?: number;
  maxPrice?: number;
  minRating?: number;
}

/** Where a page ended: the sort key and the id. */
export interface SearchCursor {
  key: number;
  id: string;
}

export interface SearchRow {
  service: ServiceRow;
  provider: ProviderRow;
  category: CategoryRow;
  key: number;
}

// Exactly the expression of services_search_idx, so the GIN index answers `@@`.
const searchDocument = sql`to_tsvector('simple', ${services.searchText})`;

/** Active services of verified providers: the only ones anyone may find or book. */
const bookableWhere = and(eq(services.isActive, true), eq(providers.verification, 'verified'));

/** The search document of every service matching `where`, rebuilt from its own, category and provider names. */
const refreshSearchText = (db: Db, where: SQL) =>
  db.execute(sql`
    update ${services} set search_text = concat_ws(' ', ${services.name}, nullif(${services.description}, ''), c.name, p.display_name)
    from ${categories} c, ${providers} p
    where c.id = ${services.categoryId} and p.id = ${services.providerId} and ${where}`);

export function createCatalogRepository() {
  return {
    // --- categories ---

    async listCategories(db: Db, options: { activeOnly: boolean }): Promise<CategoryRow[]> {
      return db
        .select()
        .from(categories)
        .where(options.activeOnly ? eq(categories.active, true) : undefined)
        .orderBy(asc(categories.name), asc(categories.id));
    },

    async findCategory(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<CategoryRow | undefined> {
      return firstRow(db.select().from(categories).where(eq(categories.id, id)).limit(1), options);
    },

    /** undefined when the slug is taken. */
    async insertCategory(db: Db, row: typeof categories.$inferInsert): Promise<CategoryRow | undefined> {
      const [created] = await db.insert(categories).values(row).onConflictDoNothing().returning();
      return created;
    },

    async updateCategory(db: Db, id: string, patch: Partial<typeof categories.$inferInsert>): Promise<CategoryRow> {
      const [updated] = await db.update(categories).set(patch).where(eq(categories.id, id)).returning();
      return updated as CategoryRow;
    },

    async deleteCategory(db: Db, id: string): Promise<void> {
      await db.delete(categories).where(eq(categories.id, id));
    },

    /** Whether the category has child categories or services (any, active or not). */
    async categoryInUse(db: Db, id: string): Promise<{ children: boolean; services: boolean }> {
      const [row] = await queryRows<{ children: boolean; services: boolean }>(
        db,
        sql`select exists (select 1 from ${categories} where ${categories.parentId} = ${id}) as children,
                   exists (select 1 from ${services} where ${services.categoryId} = ${id}) as services`,
      );
      return { children: Boolean(row?.children), services: Boolean(row?.services) };
    },

    /** The category and every ancestor above it (walks parent links; stops on a cycle). */
    async selfAndAncestors(db: Db, id: string): Promise<string[]> {
      const rows = await queryRows<{ id: string }>(
        db,
        sql`with recursive up(id, parent_id) as (
              select id, parent_id from ${categories} where id = ${id}
              union
              select c.id, c.parent_id from ${categories} c join up on c.id = up.parent_id
            ) select id from up`,
      );
      return rows.map((row) => row.id);
    },

    // --- providers ---

    async findProvider(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<ProviderRow | undefined> {
      return firstRow(db.select().from(providers).where(eq(providers.id, id)).limit(1), options);
    },

    async findProviderByUser(
      db: Db,
      userId: string,
      options: { forUpdate?: boolean } = {},
    ): Promise<ProviderRow | undefined> {
      return firstRow(db.select().from(providers).where(eq(providers.userId, userId)).limit(1), options);
    },

    /** undefined when the user already has a profile. */
    async insertProvider(db: Db, row: typeof providers.$inferInsert): Promise<ProviderRow | undefined> {
      const [created] = await db
        .insert(providers)
        .values(row)
        .onConflictDoNothing({ target: providers.userId })
        .returning();
      return created;
    },

    async updateProvider(db: Db, id: string, patch: Partial<typeof providers.$inferInsert>): Promise<ProviderRow> {
      const [updated] = await db.update(providers).set(patch).where(eq(providers.id, id)).returning();
      return updated as ProviderRow;
    },

    /** Providers by verification state, oldest first, keyset on id (UUIDv7, so creation order). */
    async listProviders(
      db: Db,
      options: { verification?: Verification; afterId?: string; limit: number },
    ): Promise<ProviderRow[]> {
      return db
        .select()
        .from(providers)
        .where(
          and(
            options.verification ? eq(providers.verification, options.verification) : undefined,
            options.afterId ? gt(providers.id, options.afterId) : undefined,
          ),
        )
        .orderBy(asc(providers.id))
        .limit(options.limit);
    },

    /** Adds and/or removes one rating; the average is recomputed from the new sum and count. */
    async applyRating(db: Db, id: string, change: { add?: number; remove?: number }): Promise<ProviderRow | undefined> {
      const delta = (change.add ?? 0) - (change.remove ?? 0);
      const countDelta = (change.add !== undefined ? 1 : 0) - (change.remove !== undefined ? 1 : 0);
      const sum = sql`(${providers.ratingSum} + ${delta}::int)`;
      const count = sql`(${providers.ratingCount} + ${countDelta}::int)`;
      const [updated] = await db
        .update(providers)
        .set({
          ratingSum: sql`${sum}`,
          ratingCount: sql`${count}`,
          ratingAverage: sql`case when ${count} > 0 then round(${sum}::numeric / ${count}, 2) else null end`,
        })
        .where(eq(providers.id, id))
        .returning();
      return updated;
    },

    // --- services ---

    async findService(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<ServiceRow | undefined> {
      return firstRow(db.select().from(services).where(eq(services.id, id)).limit(1), options);
    },

    async servicesOfProvider(db: Db, providerId: string): Promise<ServiceRow[]> {
      return db
        .select()
        .from(services)
        .where(eq(services.providerId, providerId))
        .orderBy(desc(services.createdAt), desc(services.id));
    },

    async insertService(db: Db, row: typeof services.$inferInsert): Promise<ServiceRow> {
      const [created] = await db.insert(services).values(row).returning();
      return created as ServiceRow;
    },

    async updateService(db: Db, id: string, patch: Partial<typeof services.$inferInsert>): Promise<ServiceRow> {
      const [updated] = await db.update(services).set(patch).where(eq(services.id, id)).returning();
      return updated as ServiceRow;
    },

    /** Active service of a verified provider, with the provider. */
    async bookable(db: Db, serviceId: string): Promise<{ service: ServiceRow; provider: ProviderRow } | undefined> {
      const [row] = await db
        .select({ service: services, provider: providers })
        .from(services)
        .innerJoin(providers, eq(providers.id, services.providerId))
        .where(and(eq(services.id, serviceId), bookableWhere))
        .limit(1);
      return row;
    },

    refreshSearchTextOfService: (db: Db, serviceId: string) =>
      refreshSearchText(db, sql`${services.id} = ${serviceId}`),
    refreshSearchTextOfProvider: (db: Db, providerId: string) =>
      refreshSearchText(db, sql`${services.providerId} = ${providerId}`),
    refreshSearchTextOfCategory: (db: Db, categoryId: string) =>
      refreshSearchText(db, sql`${services.categoryId} = ${categoryId}`),

    /**
     * Bookable services matching the filters, in `sort` order then by id, after the cursor.
     * `relevance` ranks by ts_rank (fts) or word similarity (trgm), and is newest first without a query.
     */
    async search(
      db: Db,
      filters: SearchFilters,
      options: { mode: SearchMode; sort: SearchSort; after?: SearchCursor; limit: number },
    ): Promise<SearchRow[]> {
      const { mode, sort, after } = options;
      const q = filters.q ?? '';
      const match =
        mode === 'fts'
          ? sql`${searchDocument} @@ websearch_to_tsquery('simple', ${q})`
          : mode === 'trgm'
            ? sql`${q} <% ${services.searchText}`
            : undefined;
      const rank =
        mode === 'fts'
          ? sql`ts_rank(${searchDocument}, websearch_to_tsquery('simple', ${q}))`
          : sql`word_similarity(${q}, ${services.searchText})`;

      // Without a query there is nothing to rank by: relevance is newest first.
      const relevance = sort === 'relevance' && mode !== 'all';
      // Every sort is (key, id) with a fixed direction, and every key a float8 (exact for ranks,
      // prices, ratings and epoch milliseconds), so a cursor round-trips through JSON unchanged
      // and the keyset is one comparison.
      const key: SQL =
        sort === 'price'
          ? sql`${services.priceMinor}::float8`
          : sort === 'rating'
            ? sql`coalesce(${providers.ratingAverage}, 0)::float8`
            : relevance
              ? sql`${rank}::float8`
              : sql`(extract(epoch from ${services.createdAt}) * 1000)::float8`;
      const descending = sort !== 'price';
      const keyset = after
        ? sql`(${key} ${descending ? sql`<` : sql`>`} ${after.key}::float8 or (${key} = ${after.key}::float8 and ${services.id} > ${after.id}::uuid))`
        : undefined;

      const categoryFilter = filters.category
        ? sql`${services.categoryId} in (
            with recursive sub(id) as (
              select id from ${categories} where slug = ${filters.category} or id::text = ${filters.category}
              union
              select c.id from ${categories} c join sub on c.parent_id = sub.id
            ) select id from sub)`
        : undefined;

      const rows = await db
        .select({ service: services, provider: providers, category: categories, key: sql<number>`${key}` })
        .from(services)
        .innerJoin(providers, eq(providers.id, services.providerId))
        .innerJoin(categories, eq(categories.id, services.categoryId))
        .where(
          and(
            bookableWhere,
            match,
            categoryFilter,
            filters.city ? sql`lower(${providers.city}) = lower(${filters.city})` : undefined,
            filters.minPrice !== undefined ? sql`${services.priceMinor} >= ${filters.minPrice}` : undefined,
            filters.maxPrice !== undefined ? sql`${services.priceMinor} <= ${filters.maxPrice}` : undefined,
            filters.minRating !== undefined ? sql`${providers.ratingAverage} >= ${filters.minRating}` : undefined,
            keyset,
          ),
        )
        .orderBy(descending ? sql`${key} desc` : sql`${key} asc`, asc(services.id))
        .limit(options.limit);
      return rows.map((row) => ({
        ...row,
        key: Number(row.key),
      }));
    },
  };
}

export type CatalogRepository = ReturnType<typeof createCatalogRepository>;
