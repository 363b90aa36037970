import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isForeignKeyViolation, isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import type { CatalogRepository, SearchCursor, SearchMode, SearchRow, SearchSort } from './catalog.repository.js';
import {
  type CreateCategoryInput,
  type CreateServiceInput,
  SEARCH_SORTS,
  type SearchQueryInput,
  type SearchResult,
  type UpdateCategoryInput,
  type UpdateProfileInput,
  type UpdateServiceInput,
  type VerifyProviderInput,
} from './catalog.schemas.js';
import type { CategoryRow, ProviderRow, ServiceRow, Verification } from './catalog.tables.js';

// Outlives every cached entry, so a counter that expired and restarted can never meet an old entry.
const GENERATION_TTL_MS = 365 * 86_400_000;
const CATEGORIES_TTL_MS = 24 * 3_600_000;
const PROVIDER_TTL_MS = 3_600_000;
const SEARCH_TTL_MS = 15 * 60_000;
/** Bumped by any change to a category, provider or service: every cached catalog answer is stale. */
export const CATALOG_GENERATION = 'catalog:gen';

export interface CatalogDeps {
  db: Db;
  repository: CatalogRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  kv: KeyValueStore;
  metrics: Metrics;
  clock: Clock;
  ids: IdGenerator;
  /** Names a new provider profile after its owner's account. */
  identity: Pick<IdentityService, 'getAccount'>;
  logger?: Pick<Logger, 'warn'>;
}

const category = (row: CategoryRow) => ({
  id: row.id,
  parent_id: row.parentId,
  slug: row.slug,
  name: row.name,
  active: row.active,
});

const publicProvider = (row: ProviderRow) => ({
  id: row.id,
  display_name: row.displayName,
  bio: row.bio,
  city: row.city,
  country: row.country,
  languages: row.languages,
  time_zone: row.timeZone,
  rating_average: row.ratingAverage === null ? null : Number(row.ratingAverage),
  rating_count: row.ratingCount,
});

const ownProvider = (row: ProviderRow) => ({
  ...publicProvider(row),
  verification: row.verification,
  verification_reason: row.verificationReason,
  auto_confirm: row.autoConfirm,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

const adminProvider = (row: ProviderRow) => ({ ...ownProvider(row), user_id: row.userId });

const service = (row: ServiceRow) => ({
  id: row.id,
  provider_id: row.providerId,
  name: row.name,
  description: row.description,
  category_id: row.categoryId,
  duration_minutes: row.durationMinutes,
  buffer_minutes: row.bufferMinutes,
  price_minor: row.priceMinor,
  currency: row.currency,
  is_active: row.isActive,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

const searchResult = ({ service: s, provider: p, category: c }: SearchRow): SearchResult => ({
  id: s.id,
  name: s.name,
  description: s.description,
  duration_minutes: s.durationMinutes,
  price_minor: s.priceMinor,
  currency: s.currency,
  category: { id: c.id, slug: c.slug, name: c.name },
  provider: {
    id: p.id,
    display_name: p.displayName,
    city: p.city,
    country: p.country,
    rating_average: p.ratingAverage === null ? null : Number(p.ratingAverage),
    rating_count: p.ratingCount,
  },
  created_at: s.createdAt.toISOString(),
});

interface EncodedCursor extends SearchCursor {
  mode: SearchMode;
  sort: SearchSort;
}

const CURSOR_HINT = 'is not a cursor of this search (pass meta.next_cursor with the same query)';
// A search page ends at its last row's sort key and id, in the mode (full text, typo-tolerant, none) that found it.
const searchCursor = cursorCodec<EncodedCursor>(
  {
    mode: cursorField.oneOf(['fts', 'trgm', 'all'] as const),
    sort: cursorField.oneOf(SEARCH_SORTS),
    key: cursorField.number,
    id: cursorField.uuid,
  },
  { hint: CURSOR_HINT },
);
const encodeCursor = (cursor: EncodedCursor) => searchCursor.encode(cursor);

function decodeCursor(cursor: string, sort: SearchSort, searching: boolean): EncodedCursor {
  const decoded = searchCursor.decode(cursor);
  const modeFits = searching ? decoded.mode !== 'all' : decoded.mode === 'all';
  if (!modeFits || decoded.sort !== sort) throw invalidField('query.cursor', CURSOR_HINT);
  return decoded;
}

/**
 * Categories, provider profiles, services and search. Cached answers (categories, public
 * profiles, searches) carry one generation counter from the shared store in their keys, so
 * any change is one increment and reaches every instance.
 */
export function createCatalogService(deps: CatalogDeps) {
  const { db, repository, kv, clock, ids, metrics } = deps;

  /** Every cached catalog answer is stale (one increment in the shared store). */
  const invalidate = async (): Promise<void> => {
    try {
      await kv.increment(CATALOG_GENERATION, GENERATION_TTL_MS);
    } catch (error) {
      deps.logger?.warn({ err: error }, 'catalog: cache invalidation failed');
    }
  };

  const generation = async () => (await kv.get(CATALOG_GENERATION)) ?? '0';

  /** A cached answer under `key` (stamped with the generation), else `load()` stored for `ttlMs`. */
  const cached = async <T>(
    cache: 'categories' | 'providers' | 'search',
    key: string,
    ttlMs: number,
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> => {
    const fullKey = `catalog:${cache}:${await generation()}:${key}`;
    const hit = await kv.get(fullKey);
    if (hit !== undefined) {
      metrics.cacheRequests.inc({ cache, result: 'hit' });
      return JSON.parse(hit) as T;
    }
    metrics.cacheRequests.inc({ cache, result: 'miss' });
    const value = await load();
    if (value !== undefined) await kv.set(fullKey, JSON.stringify(value), ttlMs);
    return value;
  };

  const auditContext = (actor: Actor) => ({ actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId });

  const categoryNotFound = () => new AppError('NOT_FOUND', 'Category not found');
  const serviceNotFound = () => new AppError('NOT_FOUND', 'Service not found');
  const slugTaken = (slug: string) => new AppError('CONFLICT', `A category with slug "${slug}" already exists`);

  /** The parent must exist and must not be the category itself or one of its descendants. */
  const checkParent = async (tx: Db, parentId: string, childId?: string) => {
    const line = await repository.selfAndAncestors(tx, parentId);
    if (line.length === 0) throw invalidField('body.parent_id', 'is not a category');
    if (childId !== undefined && line.includes(childId)) {
      throw invalidField('body.parent_id', 'would make the category its own ancestor');
    }
  };

  /** A service may only be filed under an existing, active category. */
  const checkServiceCategory = async (tx: Db, categoryId: string) => {
    const found = await repository.findCategory(tx, categoryId);
    if (!found?.active) throw invalidField('body.category_id', 'is not an active category');
  };

  /** What a new profile starts from: her account's name and time zone (read outside any transaction). */
  const profileDefaults = async (actor: Actor) => {
    if (await repository.findProviderByUser(db, actor.id)) return undefined;
    const account = await deps.identity.getAccount(actor.id);
    return { displayName: account?.name?.trim() || 'New provider', timeZone: account?.timeZone ?? 'UTC' };
  };

  /** Her profile, created (pending verification) on first use. */
  const ensureProfile = async (
    tx: Db,
    actor: Actor,
    defaults: { displayName: string; timeZone: string } | undefined,
  ): Promise<ProviderRow> => {
    const existing = await repository.findProviderByUser(tx, actor.id, { forUpdate: true });
    if (existing) return existing;
    const now = clock.now();
    const created = await repository.insertProvider(tx, {
      id: ids(),
      userId: actor.id,
      displayName: defaults?.displayName ?? 'New provider',
      bio: '',
      languages: ['en'],
      timeZone: defaults?.timeZone ?? 'UTC',
      verification: 'pending',
      createdAt: now,
      updatedAt: now,
    });
    // Lost a race with her own concurrent first request: read the winner's row.
    return created ?? ((await repository.findProviderByUser(tx, actor.id, { forUpdate: true })) as ProviderRow);
  };

  const ownService = async (tx: Db, actor: Actor, id: string) => {
    const provider = await repository.findProviderByUser(tx, actor.id);
    const found = provider ? await repository.findService(tx, id, { forUpdate: true }) : undefined;
    // Another provider's service is not hers to know about: the same 404 as a missing one.
    if (!provider || !found || found.providerId !== provider.id) throw serviceNotFound();
    return found;
  };

  return {
    invalidate,

    // --- categories ---

    /** Active categories, flat, each with its parent_id (a child of an inactive parent is still listed). */
    async listCategories() {
      const list = await cached('categories', 'active', CATEGORIES_TTL_MS, async () =>
        (await repository.listCategories(db, { activeOnly: true })).map(category),
      );
      return list ?? [];
    },

    async adminListCategories() {
      return (await repository.listCategories(db, { activeOnly: false })).map(category);
    },

    async createCategory(actor: Actor, input: CreateCategoryInput) {
      const created = await inTransaction(db, async (tx) => {
        if (input.parent_id) await checkParent(tx, input.parent_id);
        const now = clock.now();
        const row = await repository.insertCategory(tx, {
          id: ids(),
          parentId: input.parent_id ?? null,
          slug: input.slug,
          name: input.name,
          active: input.active ?? true,
          createdAt: now,
          updatedAt: now,
        });
        if (!row) throw slugTaken(input.slug);
        await deps.audit.record(tx, auditContext(actor), {
          action: 'catalog.category_created',
          targetType: 'category',
          targetId: row.id,
          details: { slug: row.slug, parent_id: row.parentId },
        });
        return row;
      });
      await invalidate();
      return category(created);
    },

    /** A rename rewrites the search document of every service filed under it, in the same transaction. */
    async updateCategory(actor: Actor, id: string, patch: UpdateCategoryInput) {
      let updated: CategoryRow;
      try {
        updated = await inTransaction(db, async (tx) => {
          const current = await repository.findCategory(tx, id, { forUpdate: true });
          if (!current) throw categoryNotFound();
          if (patch.parent_id) await checkParent(tx, patch.parent_id, id);
          const row = await repository.updateCategory(tx, id, {
            ...(patch.slug !== undefined ? { slug: patch.slug } : {}),
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.parent_id !== undefined ? { parentId: patch.parent_id } : {}),
            ...(patch.active !== undefined ? { active: patch.active } : {}),
            updatedAt: clock.now(),
          });
          if (patch.name !== undefined && patch.name !== current.name) {
            await repository.refreshSearchTextOfCategory(tx, id);
          }
          await deps.audit.record(tx, auditContext(actor), {
            action: 'catalog.category_updated',
            targetType: 'category',
            targetId: id,
            details: { fields: Object.keys(patch) },
          });
          return row;
        });
      } catch (error) {
        if (patch.slug !== undefined && isUniqueViolation(error)) throw slugTaken(patch.slug);
        throw error;
      }
      await invalidate();
      return category(updated);
    },

    /** Only a leaf without services (active or not) may go: 409 otherwise. */
    async deleteCategory(actor: Actor, id: string): Promise<void> {
      const inUse = () =>
        new AppError('CONFLICT', 'This category still has subcategories or services; move or deactivate it instead');
      try {
        await inTransaction(db, async (tx) => {
          const current = await repository.findCategory(tx, id, { forUpdate: true });
          if (!current) throw categoryNotFound();
          const use = await repository.categoryInUse(tx, id);
          if (use.children || use.services) throw inUse();
          await repository.deleteCategory(tx, id);
          await deps.audit.record(tx, auditContext(actor), {
            action: 'catalog.category_deleted',
            targetType: 'category',
            targetId: id,
            details: { slug: current.slug },
          });
        });
      } catch (error) {
        // A service or child added concurrently: the foreign key refuses the delete.
        if (isForeignKeyViolation(error)) throw inUse();
        throw error;
      }
      await invalidate();
    },

    // --- providers ---

    async ownProfile(actor: Actor) {
      const defaults = await profileDefaults(actor);
      return ownProvider(await inTransaction(db, (tx) => ensureProfile(tx, actor, defaults)));
    },

    /** A rename rewrites the search document of all her services, in the same transaction. */
    async updateOwnProfile(actor: Actor, patch: UpdateProfileInput) {
      if (patch.time_zone !== undefined && !isTimeZone(patch.time_zone)) {
        throw invalidField('body.time_zone', 'is not an IANA time zone');
      }
      const defaults = await profileDefaults(actor);
      const updated = await inTransaction(db, async (tx) => {
        const current = await ensureProfile(tx, actor, defaults);
        const row = await repository.updateProvider(tx, current.id, {
          ...(patch.display_name !== undefined ? { displayName: patch.display_name } : {}),
          ...(patch.bio !== undefined ? { bio: patch.bio } : {}),
          ...(patch.city !== undefined ? { city: patch.city } : {}),
          ...(patch.country !== undefined ? { country: patch.country } : {}),
          ...(patch.languages !== undefined ? { languages: patch.languages } : {}),
          ...(patch.time_zone !== undefined ? { timeZone: patch.time_zone } : {}),
          ...(patch.auto_confirm !== undefined ? { autoConfirm: patch.auto_confirm } : {}),
          updatedAt: clock.now(),
        });
        if (patch.display_name !== undefined && patch.display_name !== current.displayName) {
          await repository.refreshSearchTextOfProvider(tx, current.id);
        }
        return row;
      });
      await invalidate();
      return ownProvider(updated);
    },

    /** A verified provider's public profile; anyone else's is 404. */
    async publicProfile(id: string) {
      const profile = await cached('providers', id, PROVIDER_TTL_MS, async () => {
        const row = await repository.findProvider(db, id);
        return row && row.verification === 'verified' ? publicProvider(row) : undefined;
      });
      if (!profile) throw new AppError('NOT_FOUND', 'Provider not found');
      return profile;
    },

    async adminListProviders(query: { verification?: Verification; cursor?: string; limit: number }) {
      const rows = await repository.listProviders(db, {
        verification: query.verification,
        afterId: query.cursor,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(adminProvider),
        nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      };
    },

    /** Verify or reject (with a reason) a provider; audited. Only verified providers are listed and bookable. */
    async setVerification(actor: Actor, id: string, input: VerifyProviderInput) {
      if (input.verification === 'rejected' && !input.reason?.trim()) {
        throw invalidField('body.reason', 'is required when rejecting a provider');
      }
      const updated = await inTransaction(db, async (tx) => {
        const current = await repository.findProvider(tx, id, { forUpdate: true });
        if (!current) throw new AppError('NOT_FOUND', 'Provider not found');
        const row = await repository.updateProvider(tx, id, {
          verification: input.verification,
          verificationReason: input.reason ?? null,
          updatedAt: clock.now(),
        });
        await deps.audit.record(tx, auditContext(actor), {
          action: 'catalog.provider_verification',
          targetType: 'provider',
          targetId: id,
          details: { verification: input.verification, previous: current.verification, reason: input.reason ?? null },
        });
        return row;
      });
      await invalidate();
      return adminProvider(updated);
    },

    // --- services ---

    async listOwnServices(actor: Actor) {
      const provider = await repository.findProviderByUser(db, actor.id);
      return provider ? (await repository.servicesOfProvider(db, provider.id)).map(service) : [];
    },

    async createService(actor: Actor, input: CreateServiceInput) {
      const defaults = await profileDefaults(actor);
      const created = await inTransaction(db, async (tx) => {
        const provider = await ensureProfile(tx, actor, defaults);
        await checkServiceCategory(tx, input.category_id);
        const now = clock.now();
        const row = await repository.insertService(tx, {
          id: ids(),
          providerId: provider.id,
          categoryId: input.category_id,
          name: input.name,
          description: input.description ?? '',
          durationMinutes: input.duration_minutes,
          bufferMinutes: input.buffer_minutes ?? 0,
          priceMinor: input.price_minor,
          currency: input.currency,
          isActive: input.is_active ?? true,
          createdAt: now,
          updatedAt: now,
        });
        await repository.refreshSearchTextOfService(tx, row.id);
        return row;
      });
      await invalidate();
      return service(created);
    },

    async updateService(actor: Actor, id: string, patch: UpdateServiceInput) {
      const updated = await inTransaction(db, async (tx) => {
        const current = await ownService(tx, actor, id);
        if (patch.category_id !== undefined && patch.category_id !== current.categoryId) {
          await checkServiceCategory(tx, patch.category_id);
        }
        const row = await repository.updateService(tx, id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.category_id !== undefined ? { categoryId: patch.category_id } : {}),
          ...(patch.duration_minutes !== undefined ? { durationMinutes: patch.duration_minutes } : {}),
          ...(patch.buffer_minutes !== undefined ? { bufferMinutes: patch.buffer_minutes } : {}),
          ...(patch.price_minor !== undefined ? { priceMinor: patch.price_minor } : {}),
          ...(patch.currency !== undefined ? { currency: patch.currency } : {}),
          ...(patch.is_active !== undefined ? { isActive: patch.is_active } : {}),
          updatedAt: clock.now(),
        });
        await repository.refreshSearchTextOfService(tx, id);
        return row;
      });
      await invalidate();
      return service(updated);
    },

    /** Soft: the service is no longer offered, past bookings keep pointing at it. */
    async deleteService(actor: Actor, id: string): Promise<void> {
      await inTransaction(db, async (tx) => {
        await ownService(tx, actor, id);
        await repository.updateService(tx, id, { isActive: false, updatedAt: clock.now() });
      });
      await invalidate();
    },

    // --- search ---

    /**
     * Active services of verified providers. A non-empty `q` is matched in full text first and,
     * when that finds nothing, by trigram word similarity (typos). Cached per normalised query.
     */
    async search(actor: Actor | undefined, query: SearchQueryInput) {
      const q = query.q?.trim().replace(/\s+/g, ' ').toLowerCase() || undefined;
      const sort: SearchSort = query.sort ?? 'relevance';
      if (query.min_price !== undefined && query.max_price !== undefined && query.min_price > query.max_price) {
        throw invalidField('query.min_price', 'must not be greater than max_price');
      }
      const after = query.cursor ? decodeCursor(query.cursor, sort, q !== undefined) : undefined;
      const filters = {
        q,
        category: query.category?.trim().toLowerCase(),
        city: query.city?.trim().toLowerCase(),
        minPrice: query.min_price,
        maxPrice: query.max_price,
        minRating: query.min_rating,
      };
      const key = JSON.stringify([filters, sort, query.limit, query.cursor ?? null]);
      const page = (await cached('search', key, SEARCH_TTL_MS, async () => {
        const run = (mode: SearchMode) => repository.search(db, filters, { mode, sort, after, limit: query.limit + 1 });
        let mode: SearchMode = after?.mode ?? (q ? 'fts' : 'all');
        let rows = await run(mode);
        if (!after && mode === 'fts' && rows.length === 0) {
          mode = 'trgm';
          rows = await run(mode);
        }
        const shown = rows.slice(0, query.limit);
        const last = shown.at(-1);
        return {
          items: shown.map(searchResult),
          nextCursor:
            rows.length > query.limit && last ? encodeCursor({ mode, sort, key: last.key, id: last.service.id }) : null,
        };
      })) as { items: SearchResult[]; nextCursor: string | null };
      // No query text: it may hold personal data.
      await deps.track(db, 'service_searched', actor?.id ?? null, {
        results: page.items.length,
        has_query: q !== undefined,
      });
      return page;
    },

    // --- for bookings ---

    /** The service if it is active and its provider verified, with the provider; else undefined. */
    async bookableService(
      serviceId: string,
      tx: Db = db,
    ): Promise<{ service: ServiceRow; provider: ProviderRow } | undefined> {
      return repository.bookable(tx, serviceId);
    },

    /** The provider profile a user owns, if any. */
    async providerOfUser(userId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProviderByUser(tx, userId);
    },

    async findProvider(providerId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProvider(tx, providerId);
    },

    /**
     * In the caller's transaction: adds a rating and/or removes one (a hidden review), the
     * average rounded to 2 places (null without ratings); cached profiles and searches go stale.
     */
    async applyReview(tx: Db, providerId: string, change: { add?: number; remove?: number }): Promise<void> {
      await repository.applyRating(tx, providerId, change);
      await invalidate();
    },

    /** A provider's public profile and services; erasure pseudonymises the profile (bookings point at it). */
    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'catalog',
        description: 'Your provider profile (name, bio, city, languages) and the services you offer',
        purposes: ['Showing your profile and services to customers', 'Taking bookings'],
        legalBasis: 'Contract (providing the marketplace to providers)',
        retention:
          'While your provider account exists; on erasure the profile is pseudonymised and kept for past bookings',
        tables: ['providers'],
        async export(tx, userId) {
          const provider = await repository.findProviderByUser(tx, userId);
          if (!provider) return null;
          const offered = await repository.servicesOfProvider(tx, provider.id);
          return {
            profile: {
              id: provider.id,
              display_name: provider.displayName,
              bio: provider.bio,
              city: provider.city,
              country: provider.country,
              languages: provider.languages,
              time_zone: provider.timeZone,
              verification: provider.verification,
              verification_reason: provider.verificationReason,
              auto_confirm: provider.autoConfirm,
              rating_average: provider.ratingAverage,
              rating_count: provider.ratingCount,
              created_at: provider.createdAt.toISOString(),
              updated_at: provider.updatedAt.toISOString(),
            },
            services: offered.map((service) => ({
              id: service.id,
              name: service.name,
              description: service.description,
              category_id: service.categoryId,
              duration_minutes: service.durationMinutes,
              buffer_minutes: service.bufferMinutes,
              price_minor: service.priceMinor,
              currency: service.currency,
              is_active: service.isActive,
              created_at: service.createdAt.toISOString(),
            })),
          };
        },
        async erase(tx, userId) {
          const provider = await repository.findProviderByUser(tx, userId, { forUpdate: true });
          if (!provider) return { action: 'pseudonymised', rows: 0 };
          await repository.updateProvider(tx, provider.id, {
            displayName: 'Former provider',
            bio: '',
            city: null,
            verification: 'rejected',
            verificationReason: 'account erased',
            updatedAt: clock.now(),
          });
          await repository.refreshSearchTextOfProvider(tx, provider.id);
          await invalidate();
          return {
            action: 'pseudonymised',
            rows: 1,
            note: 'provider profile kept for past bookings without name, bio or city; rejected, so no longer listed or bookable',
          };
        },
      };
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
