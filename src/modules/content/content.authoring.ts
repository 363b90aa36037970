import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isUniqueViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { Track } from '../analytics/index.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { ContentRepository, ItemWithVersion } from './content.repository.js';
import { CONTENT_FIELDS, type CreateContentInput, type UpdateContentInput } from './content.schemas.js';
import type { ContentMedia } from './content.service.js';
import type { AudienceRules, ContentItemRow, ContentStatus, ContentType, ContentVersionRow } from './content.tables.js';

const versionFields = (version: ContentVersionRow) => ({
  title: version.title,
  summary: version.summary,
  locale: version.locale,
  tags: version.tags,
  audience: version.audience,
  tier: version.tier,
  source_name: version.sourceName,
  source_url: version.sourceUrl,
});

const adminSummary = ({ item, version }: ItemWithVersion) => ({
  id: item.id,
  slug: item.slug,
  type: item.type,
  status: item.status,
  version: item.currentVersion,
  published_version: item.publishedVersion,
  publish_at: item.publishAt?.toISOString() ?? null,
  ...versionFields(version),
  image_media_id: item.imageMediaId,
  created_at: item.createdAt.toISOString(),
  updated_at: item.updatedAt.toISOString(),
});

const adminItem = (row: ItemWithVersion) => ({ ...adminSummary(row), body: row.version.body });

const versionToPublic = (version: ContentVersionRow) => ({
  version: version.version,
  ...versionFields(version),
  body: version.body,
  edited_by: version.editedBy,
  created_at: version.createdAt.toISOString(),
});

/** min ≤ max is the one audience rule a JSON schema cannot say. */
function checkAudience(audience: AudienceRules | undefined) {
  if (audience?.min_age !== undefined && audience.max_age !== undefined && audience.min_age > audience.max_age) {
    throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
      details: [{ field: 'body.audience.min_age', message: 'must not be greater than max_age' }],
    });
  }
}

const slugTaken = (slug: string) => new AppError('CONFLICT', `A content item with slug "${slug}" already exists`);

/** Slug clashes that get past the insert's on-conflict (a rename) surface as a unique violation. */
async function mapSlugConflict<T>(slug: string | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (slug !== undefined && isUniqueViolation(error)) throw slugTaken(slug);
    throw error;
  }
}

// Published without a schedule means published now.
const scheduleFor = (status: ContentStatus, publishAt: Date | null, now: Date) =>
  status === 'published' && publishAt === null ? now : publishAt;

/**
 * What admins do with content: write it in immutable versions, move it between draft,
 * published and archived, and read it back whatever its state. Every write is audited; a
 * change to what readers see goes on the event bus after the commit.
 */
export function createContentAuthoring(deps: {
  db: Db;
  repository: ContentRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  clock: Clock;
  ids: IdGenerator;
  events: Pick<EventBus, 'publish'>;
  media: Pick<ContentMedia, 'checkLinkable'>;
}) {
  const { db, repository, clock, ids } = deps;

  /** An item's picture must be one of the editing admin's own uploads made for content. */
  const checkImage = async (tx: Db, actor: Actor, mediaId: string | null | undefined, current?: string | null) => {
    if (!mediaId || mediaId === current) return;
    await deps.media.checkLinkable(tx, {
      userId: actor.id,
      ids: [mediaId],
      purpose: 'content',
      field: 'body.image_media_id',
    });
  };

  /** What readers see changed (e.g. cached plans are stale). */
  const publishedChanged = (contentId: string) => deps.events.publish('content.published_changed', { contentId });

  return {
    async create(actor: Actor, input: CreateContentInput) {
      checkAudience(input.audience);
      const now = clock.now();
      const status = input.status ?? 'draft';
      const created = await inTransaction(db, async (tx) => {
        await checkImage(tx, actor, input.image_media_id);
        const item = await repository.insertItem(tx, {
          id: ids(),
          slug: input.slug,
          type: input.type,
          status,
          currentVersion: 1,
          publishedVersion: status === 'published' ? 1 : null,
          publishAt: scheduleFor(status, input.publish_at ? new Date(input.publish_at) : null, now),
          createdBy: actor.id,
          imageMediaId: input.image_media_id ?? null,
          createdAt: now,
          updatedAt: now,
        });
        if (!item) throw slugTaken(input.slug);
        const version = await repository.insertVersion(tx, {
          id: ids(),
          contentId: item.id,
          version: 1,
          title: input.title,
          summary: input.summary,
          body: input.body,
          locale: input.locale ?? 'en',
          tags: input.tags ?? [],
          audience: input.audience ?? {},
          tier: input.tier ?? 'free',
          sourceName: input.source_name ?? null,
          sourceUrl: input.source_url ?? null,
          editedBy: actor.id,
          createdAt: now,
        });
        await deps.audit.record(tx, auditContextOf(actor), {
          action: 'content.created',
          targetType: 'content',
          targetId: item.id,
          details: { slug: item.slug, type: item.type, status, version: 1 },
        });
        await deps.track(tx, 'admin_content_created', actor.id, { content_id: item.id, type: item.type });
        return { item, version };
      });
      if (status === 'published') await publishedChanged(created.item.id);
      return adminItem(created);
    },

    /**
     * Content fields make a new version; status and schedule move the item. A published item
     * shows its newest version at once; a draft shows none; archived is hidden.
     */
    async update(actor: Actor, id: string, patch: UpdateContentInput) {
      checkAudience(patch.audience);
      const changedFields = CONTENT_FIELDS.filter((field) => patch[field] !== undefined);
      const { updated, wasPublished } = await mapSlugConflict(patch.slug, () =>
        inTransaction(db, async (tx) => {
          const current = await repository.findCurrent(tx, id, { forUpdate: true });
          if (!current) throw notFound('Content');
          await checkImage(tx, actor, patch.image_media_id, current.item.imageMediaId);
          const now = clock.now();
          let version = current.version;
          if (changedFields.length > 0) {
            const before = current.version;
            version = await repository.insertVersion(tx, {
              id: ids(),
              contentId: id,
              version: current.item.currentVersion + 1,
              title: patch.title ?? before.title,
              summary: patch.summary ?? before.summary,
              body: patch.body ?? before.body,
              locale: patch.locale ?? before.locale,
              tags: patch.tags ?? before.tags,
              audience: patch.audience ?? before.audience,
              tier: patch.tier ?? before.tier,
              sourceName: patch.source_name !== undefined ? patch.source_name : before.sourceName,
              sourceUrl: patch.source_url !== undefined ? patch.source_url : before.sourceUrl,
              editedBy: actor.id,
              createdAt: now,
            });
          }
          const status = patch.status ?? current.item.status;
          const requestedSchedule =
            patch.publish_at === undefined
              ? current.item.publishAt
              : patch.publish_at === null
                ? null
                : new Date(patch.publish_at);
          const publishedVersion =
            status === 'published' ? version.version : status === 'draft' ? null : current.item.publishedVersion;
          const item: ContentItemRow = await repository.updateItem(tx, id, {
            ...(patch.slug !== undefined ? { slug: patch.slug } : {}),
            status,
            currentVersion: version.version,
            publishedVersion,
            publishAt: scheduleFor(status, requestedSchedule, now),
            ...(patch.image_media_id !== undefined ? { imageMediaId: patch.image_media_id } : {}),
            updatedAt: now,
          });
          await deps.audit.record(tx, auditContextOf(actor), {
            action: status !== current.item.status && status === 'archived' ? 'content.archived' : 'content.updated',
            targetType: 'content',
            targetId: id,
            details: {
              slug: item.slug,
              version: version.version,
              status,
              previous_status: current.item.status,
              fields: [
                ...changedFields,
                ...(['slug', 'status', 'publish_at', 'image_media_id'] as const).filter((f) => patch[f] !== undefined),
              ],
            },
          });
          return { updated: { item, version }, wasPublished: current.item.status === 'published' };
        }),
      );
      if (wasPublished || updated.item.status === 'published') await publishedChanged(updated.item.id);
      return adminItem(updated);
    },

    /** DELETE archives: readers get 404, every version is kept. */
    async archive(actor: Actor, id: string): Promise<void> {
      const wasPublished = await inTransaction(db, async (tx) => {
        const current = await repository.findCurrent(tx, id, { forUpdate: true });
        if (!current) throw notFound('Content');
        if (current.item.status === 'archived') return false;
        await repository.updateItem(tx, id, { status: 'archived', updatedAt: clock.now() });
        await deps.audit.record(tx, auditContextOf(actor), {
          action: 'content.archived',
          targetType: 'content',
          targetId: id,
          details: { slug: current.item.slug, previous_status: current.item.status },
        });
        return current.item.status === 'published';
      });
      if (wasPublished) await publishedChanged(id);
    },

    async get(id: string) {
      const row = await repository.findCurrent(db, id);
      if (!row) throw notFound('Content');
      return adminItem(row);
    },

    async list(options: { type?: ContentType; status?: ContentStatus; cursor?: string; limit: number }) {
      const rows = await repository.listCurrent(db, {
        type: options.type,
        status: options.status,
        beforeId: options.cursor,
        limit: options.limit + 1,
      });
      const page = rows.slice(0, options.limit);
      return {
        items: page.map(adminSummary),
        nextCursor: rows.length > options.limit ? (page.at(-1)?.item.id ?? null) : null,
      };
    },

    async versions(id: string) {
      const rows = await repository.versions(db, id);
      if (rows.length === 0) throw notFound('Content');
      return rows.map(versionToPublic);
    },

    /** Current titles by id, drafts included (the analytics content report). */
    async titles(ids: string[]): Promise<Map<string, string>> {
      return new Map((await repository.titles(db, ids)).map((row) => [row.id, row.title]));
    },
  };
}
