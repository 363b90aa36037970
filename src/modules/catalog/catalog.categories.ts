import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isForeignKeyViolation, isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { CatalogCache } from './catalog.cache.js';
import { toCategory } from './catalog.dto.js';
import type { CatalogRepository } from './catalog.repository.js';
import type { Category, CreateCategoryInput, UpdateCategoryInput } from './catalog.schemas.js';
import type { CategoryRow } from './catalog.tables.js';

const CATEGORIES_TTL_MS = 24 * 3_600_000;

const slugTaken = (slug: string) => new AppError('CONFLICT', `A category with slug "${slug}" already exists`);
const inUse = () =>
  new AppError('CONFLICT', 'This category still has subcategories or services; move or deactivate it instead');

/** The category tree: everyone reads the active categories, admins edit the tree (audited). */
export function createCategoryUseCases(deps: {
  db: Db;
  repository: CatalogRepository;
  audit: Pick<AuditService, 'record'>;
  cache: Pick<CatalogCache, 'categories' | 'invalidate'>;
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, audit, cache, clock, ids } = deps;

  /** The parent must exist and must not be the category itself or one of its descendants. */
  const checkParent = async (tx: Db, parentId: string, childId?: string) => {
    const line = await repository.selfAndAncestors(tx, parentId);
    if (line.length === 0) throw invalidField('body.parent_id', 'is not a category');
    if (childId !== undefined && line.includes(childId)) {
      throw invalidField('body.parent_id', 'would make the category its own ancestor');
    }
  };

  return {
    /** Active categories, flat, each with its parent_id (a child of an inactive parent is still listed). */
    async listCategories(): Promise<Category[]> {
      return cache.categories.get('active', CATEGORIES_TTL_MS, async () =>
        (await repository.listCategories(db, { activeOnly: true })).map(toCategory),
      );
    },

    async adminListCategories(): Promise<Category[]> {
      return (await repository.listCategories(db, { activeOnly: false })).map(toCategory);
    },

    async createCategory(actor: Actor, input: CreateCategoryInput): Promise<Category> {
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
        await audit.record(tx, auditContextOf(actor), {
          action: 'catalog.category_created',
          targetType: 'category',
          targetId: row.id,
          details: { slug: row.slug, parent_id: row.parentId },
        });
        return row;
      });
      await cache.invalidate();
      return toCategory(created);
    },

    /** A rename or a move rewrites the search document of every service filed under it or below, in the same transaction. */
    async updateCategory(actor: Actor, id: string, patch: UpdateCategoryInput): Promise<Category> {
      let updated: CategoryRow;
      try {
        updated = await inTransaction(db, async (tx) => {
          const current = await repository.findCategory(tx, id, { forUpdate: true });
          if (!current) throw notFound('Category');
          if (patch.parent_id) await checkParent(tx, patch.parent_id, id);
          const row = await repository.updateCategory(tx, id, {
            ...(patch.slug !== undefined ? { slug: patch.slug } : {}),
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.parent_id !== undefined ? { parentId: patch.parent_id } : {}),
            ...(patch.active !== undefined ? { active: patch.active } : {}),
            updatedAt: clock.now(),
          });
          const renamed = patch.name !== undefined && patch.name !== current.name;
          const moved = patch.parent_id !== undefined && patch.parent_id !== current.parentId;
          // The documents below it hold its name and the names above it.
          if (renamed || moved) await repository.refreshSearchTextOfCategory(tx, id);
          await audit.record(tx, auditContextOf(actor), {
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
      await cache.invalidate();
      return toCategory(updated);
    },

    /** Only a leaf without services (active or not) may go: 409 otherwise. */
    async deleteCategory(actor: Actor, id: string): Promise<void> {
      try {
        await inTransaction(db, async (tx) => {
          const current = await repository.findCategory(tx, id, { forUpdate: true });
          if (!current) throw notFound('Category');
          const use = await repository.categoryInUse(tx, id);
          if (use.children || use.services) throw inUse();
          await repository.deleteCategory(tx, id);
          await audit.record(tx, auditContextOf(actor), {
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
      await cache.invalidate();
    },
  };
}
