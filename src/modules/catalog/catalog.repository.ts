import { and, asc, desc, eq, gt, inArray, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow, queryRows } from '../../infra/db/client.js';
import {
  type CategoryRow,
  categories,
  type ProviderRow,
  providerGallery,
  providers,
  type ServiceRow,
  searchVocabulary,
  services,
  type Verification,
} from './catalog.tables.js';
import { MIN_TYPO_LETTERS } from './catalog.typos.js';

export type SearchSort = 'relevance' | 'price' | 'rating' | 'newest';
/** How a search matched: full text (`fts`), the typo fallback (`typo`), or no query (`all`). */
export type SearchMode = 'fts' | 'typo' | 'all';

/**
 * What a search matches: the query in websearch syntax (`fts`), a tsquery the typo fallback built
 * from the vocabulary (`typo`, see catalog.typos.ts), or every bookable service (`all`).
 */
export type SearchMatch = { mode: 'fts'; q: string } | { mode: 'typo'; tsquery: string } | { mode: 'all' };

export interface SearchFilters {
  /** A category slug or id; its descendants match too. */
  category?: string;
  city?: string;
  minPrice?: number;
  maxPrice?: number;
  minRating?: number;
  providerId?: string;
  /** ISO 4217, upper case. */
  currency?: string;
}

/** Where a page ended: the sort key and the id. */
export interface SearchCursor {
  key: number;
  id: string;
}

// What a search result shows (catalog.dto.ts toSearchResult), and no more: the search document and
// its parsed vector are the widest columns of a service, and a search reads many rows.
const searchColumns = {
  service: {
    id: services.id,
    name: services.name,
    description: services.description,
    durationMinutes: services.durationMinutes,
    priceMinor: services.priceMinor,
    currency: services.currency,
    imageMediaId: services.imageMediaId,
    createdAt: services.createdAt,
  },
  provider: {
    id: providers.id,
    displayName: providers.displayName,
    city: providers.city,
    country: providers.country,
    ratingAverage: providers.ratingAverage,
    ratingCount: providers.ratingCount,
  },
  category: { id: categories.id, slug: categories.slug, name: categories.name },
};

// Nullable columns (city, country, rating) keep their null from the row types.
export interface SearchRow {
  service: Pick<ServiceRow, keyof typeof searchColumns.service>;
  provider: Pick<ProviderRow, keyof typeof searchColumns.provider>;
  category: Pick<CategoryRow, keyof typeof searchColumns.category>;
  key: number;
}

/** A bookable service with the terms its page shows (catalog.dto.ts toPublicService). */
export interface PublicServiceRow extends Omit<SearchRow, 'key'> {
  terms: Pick<ServiceRow, 'bufferMinutes' | 'paymentMode' | 'freeCancelHours' | 'lateCancelFeeBps'>;
}

/** Active services of verified providers: the only ones anyone may find or book. */
const bookableWhere = and(eq(services.isActive, true), eq(providers.verification, 'verified'));

/** The ids of the categories `root` picks, and of all their descendants. */
const withDescendants = (root: SQL) => sql`(
  with recursive sub(id) as (
    select id from ${categories} where ${root}
    union
    select c.id from ${categories} c join sub on c.parent_id = sub.id
  ) select id from sub)`;

/**
 * The search document of every service matching `where`, rebuilt from its name, description, the
 * names of its category and of every category above it, and its provider's name; and the words
 * of its name and those category names added to the vocabulary of the typo fallback, each with
 * its single-letter deletions (as full text splits them: 3 to 40 letters, no digits or
 * punctuation). drizzle/0029_search_vocabulary_words.sql did the same once for the services that
 * existed then.
 */
const refreshSearchText = (db: Db, where: SQL) =>
  db.execute(sql`
    with recursive path(id, names, depth) as (
      select id, name, 0 from ${categories} where parent_id is null
      union all
      select c.id, path.names || ' ' || c.name, path.depth + 1
      from ${categories} c join path on c.parent_id = path.id where path.depth < 32
    ),
    refreshed as (
      update ${services}
      set search_text = concat_ws(' ', ${services.name}, nullif(${services.description}, ''), path.names, p.display_name)
      from path, ${providers} p
      where path.id = ${services.categoryId} and p.id = ${services.providerId} and ${where}
      returning ${services.name} as service_name, path.names as category_names
    ),
    words as (
      select distinct w.lexeme as word
      from refreshed, unnest(to_tsvector('simple', refreshed.service_name || ' ' || refreshed.category_names)) w
      where length(w.lexeme) between 3 and 40 and w.lexeme !~ '[0-9[:punct:]]'
        and not exists (select 1 from ${searchVocabulary} v where v.variant = w.lexeme and v.word = w.lexeme)
    )
    insert into ${searchVocabulary} (variant, word)
    select word, word from words
    union
    select overlay(word placing '' from i for 1), word from words, generate_series(1, length(word)) i
    on conflict do nothing`);

/** The tsquery a match searches with; undefined when it matches every bookable service. */
const tsqueryOf = (match: SearchMatch): SQL | undefined =>
  match.mode === 'fts'
    ? sql`websearch_to_tsquery('simple', ${match.q})`
    : match.mode === 'typo'
      ? sql`${match.tsquery}::tsquery`
      : undefined;

/** What a search matches, prices aside: bookable, the query, category, city, rating, provider and currency. */
function matchWhere(filters: SearchFilters, query: SQL | undefined): SQL | undefined {
  const categoryFilter = filters.category
    ? sql`${services.categoryId} in ${withDescendants(sql`slug = ${filters.category} or id::text = ${filters.category}`)}`
    : undefined;
  return and(
    bookableWhere,
    query ? sql`${services.searchVector} @@ ${query}` : undefined,
    categoryFilter,
    filters.city ? sql`lower(${providers.city}) = lower(${filters.city})` : undefined,
    filters.minRating !== undefined ? sql`${providers.ratingAverage} >= ${filters.minRating}` : undefined,
    filters.providerId !== undefined ? eq(services.providerId, filters.providerId) : undefined,
    filters.currency !== undefined ? eq(services.currency, filters.currency) : undefined,
  );
}

/** Names a booking view shows: its service's and its provider's, by id. */
export interface CatalogNames {
  services: Map<string, string>;
  providers: Map<string, string>;
}

/**
 * The names of these services and providers, active or not (a booking keeps its service after
 * it is withdrawn), in two primary-key reads: one page of bookings costs two queries, not two
 * per booking. Exported through index.ts like identity's findAccount, for the bookings views.
 */
export async function catalogNames(
  db: Db,
  ids: { serviceIds: readonly string[]; providerIds: readonly string[] },
): Promise<CatalogNames> {
  const serviceIds = [...new Set(ids.serviceIds)];
  const providerIds = [...new Set(ids.providerIds)];
  const [serviceRows, providerRows] = await Promise.all([
    serviceIds.length === 0
      ? []
      : db.select({ id: services.id, name: services.name }).from(services).where(inArray(services.id, serviceIds)),
    providerIds.length === 0
      ? []
      : db
          .select({ id: providers.id, name: providers.displayName })
          .from(providers)
          .where(inArray(providers.id, providerIds)),
  ]);
  return {
    services: new Map(serviceRows.map((row) => [row.id, row.name])),
    providers: new Map(providerRows.map((row) => [row.id, row.name])),
  };
}

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

    /** The media ids of a provider's gallery, in their order. */
    async galleryOf(db: Db, providerId: string): Promise<string[]> {
      const rows = await db
        .select({ mediaId: providerGallery.mediaId })
        .from(providerGallery)
        .where(eq(providerGallery.providerId, providerId))
        .orderBy(asc(providerGallery.position));
      return rows.map((row) => row.mediaId);
    },

    /** The gallery becomes `mediaIds`, in that order (the caller holds the provider's row lock). */
    async replaceGallery(db: Db, providerId: string, mediaIds: readonly string[]): Promise<void> {
      await db.delete(providerGallery).where(eq(providerGallery.providerId, providerId));
      if (mediaIds.length === 0) return;
      await db.insert(providerGallery).values(mediaIds.map((mediaId, position) => ({ providerId, mediaId, position })));
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
    refreshSearchTextOfProviders: (db: Db, providerIds: string[]) =>
      refreshSearchText(db, inArray(services.providerId, providerIds)),
    /** The services filed under the category or any category below it (its name is in their documents). */
    refreshSearchTextOfCategory: (db: Db, categoryId: string) =>
      refreshSearchText(db, sql`${services.categoryId} in ${withDescendants(sql`id = ${categoryId}`)}`),

    /**
     * The words of `q` as full text splits them, each with the vocabulary words that share one of
     * its single-letter deletions (itself included; words of MIN_TYPO_LETTERS or more only), or
     * null. Candidates, not answers: catalog.typos.ts keeps those one edit away.
     */
    async nearWords(db: Db, q: string): Promise<{ word: string; near: string | null }[]> {
      return queryRows(
        db,
        sql`with q as (select lexeme as word from unnest(to_tsvector('simple', ${q}))),
            v as (
              select word, word as variant from q where length(word) >= ${MIN_TYPO_LETTERS}
              union
              select word, overlay(word placing '' from i for 1) from q, generate_series(1, length(word)) i
              where length(word) >= ${MIN_TYPO_LETTERS}
            )
            select distinct q.word, s.word as near
            from q left join (v join ${searchVocabulary} s on s.variant = v.variant) on v.word = q.word`,
      );
    },

    /**
     * Bookable services matching the filters, in `sort` order then by id, after the cursor.
     * `relevance` ranks by ts_rank of the matched query, and is newest first without a query.
     */
    async search(
      db: Db,
      filters: SearchFilters,
      options: { match: SearchMatch; sort: SearchSort; after?: SearchCursor; limit: number },
    ): Promise<SearchRow[]> {
      const { match, sort, after } = options;
      const query = tsqueryOf(match);

      // Without a query there is nothing to rank by: relevance is newest first.
      const relevance = sort === 'relevance' && query !== undefined;
      // Every sort is (key, id) with a fixed direction, and every key a float8 (exact for ranks,
      // prices, ratings and epoch milliseconds), so a cursor round-trips through JSON unchanged
      // and the keyset is one comparison.
      const key: SQL =
        sort === 'price'
          ? sql`${services.priceMinor}::float8`
          : sort === 'rating'
            ? sql`coalesce(${providers.ratingAverage}, 0)::float8`
            : relevance
              ? sql`ts_rank(${services.searchVector}, ${query})::float8`
              : sql`(extract(epoch from ${services.createdAt}) * 1000)::float8`;
      const descending = sort !== 'price';
      const keyset = after
        ? sql`(${key} ${descending ? sql`<` : sql`>`} ${after.key}::float8 or (${key} = ${after.key}::float8 and ${services.id} > ${after.id}::uuid))`
        : undefined;

      const rows = await db
        .select({ ...searchColumns, key: sql<number>`${key}` })
        .from(services)
        .innerJoin(providers, eq(providers.id, services.providerId))
        .innerJoin(categories, eq(categories.id, services.categoryId))
        .where(
          and(
            matchWhere(filters, query),
            filters.minPrice !== undefined ? sql`${services.priceMinor} >= ${filters.minPrice}` : undefined,
            filters.maxPrice !== undefined ? sql`${services.priceMinor} <= ${filters.maxPrice}` : undefined,
            keyset,
          ),
        )
        .orderBy(descending ? sql`${key} desc` : sql`${key} asc`, asc(services.id))
        .limit(options.limit);
      return rows.map((row) => ({ ...row, key: Number(row.key) }));
    },

    /**
     * The currencies the services matching `match` and the filters (prices aside) are priced in,
     * alphabetical, at most `limit`: a price comparison means something within one of them only.
     */
    async searchCurrencies(db: Db, filters: SearchFilters, match: SearchMatch, limit: number): Promise<string[]> {
      const rows = await db
        .selectDistinct({ currency: services.currency })
        .from(services)
        .innerJoin(providers, eq(providers.id, services.providerId))
        .where(matchWhere(filters, tsqueryOf(match)))
        .orderBy(asc(services.currency))
        .limit(limit);
      return rows.map((row) => row.currency);
    },

    /** A bookable service as search shows it, with its terms; undefined when not bookable. */
    async publicService(db: Db, id: string): Promise<PublicServiceRow | undefined> {
      const [row] = await db
        .select({
          ...searchColumns,
          terms: {
            bufferMinutes: services.bufferMinutes,
            paymentMode: services.paymentMode,
            freeCancelHours: services.freeCancelHours,
            lateCancelFeeBps: services.lateCancelFeeBps,
          },
        })
        .from(services)
        .innerJoin(providers, eq(providers.id, services.providerId))
        .innerJoin(categories, eq(categories.id, services.categoryId))
        .where(and(eq(services.id, id), bookableWhere))
        .limit(1);
      return row;
    },
  };
}

export type CatalogRepository = ReturnType<typeof createCatalogRepository>;

/**
 * Active services of verified providers with their prices, by id. Exported through index.ts for
 * the analytics demo history, which books real demo services.
 */
export async function bookableServicePrices(
  db: Db,
): Promise<{ id: string; providerId: string; priceMinor: number; currency: string }[]> {
  return db
    .select({
      id: services.id,
      providerId: services.providerId,
      priceMinor: services.priceMinor,
      currency: services.currency,
    })
    .from(services)
    .innerJoin(providers, eq(providers.id, services.providerId))
    .where(and(eq(services.isActive, true), eq(providers.verification, 'verified')))
    .orderBy(services.id);
}
