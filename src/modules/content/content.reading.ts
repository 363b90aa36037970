import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import type { AccessService } from '../access/index.js';
import type { Track } from '../analytics/index.js';
import type { PublicImage } from '../media/index.js';
import { renderMarkdown } from './content.markdown.js';
import type { ContentRepository, ItemWithVersion, VisibleCursor } from './content.repository.js';
import type { ContentMedia } from './content.service.js';
import type { ContentTier, ContentType } from './content.tables.js';

/** Shown with every item a reader opens. */
export const CONTENT_NOTE =
  'This is general information, not medical advice; talk to a health professional about your own situation.';

/** The pictures of a page of items, read in one go, by media id. */
type Images = ReadonlyMap<string, PublicImage>;

const teaser = ({ item, version }: ItemWithVersion, images: Images) => ({
  id: item.id,
  slug: item.slug,
  type: item.type,
  title: version.title,
  summary: version.summary,
  tags: version.tags,
  tier: version.tier,
  locale: version.locale,
  image: (item.imageMediaId !== null ? images.get(item.imageMediaId) : undefined) ?? null,
  // Visible items always have one: publishing without a schedule sets it to the moment of publishing.
  published_at: (item.publishAt as Date).toISOString(),
});

// The reader's list runs by (search rank when searching, published_at, id); the cursor is the last row's.
const visibleCursor = cursorCodec<VisibleCursor>(
  { rank: cursorField.number, publishedAt: cursorField.time, id: cursorField.uuid },
  { optional: ['rank'] },
);

function decodeCursor(cursor: string, searching: boolean): VisibleCursor {
  const decoded = visibleCursor.decode(cursor);
  // A search cursor carries a rank and a browsing cursor none: the two lists are not interchangeable.
  if ((decoded.rank !== undefined) !== searching)
    throw invalidField('query.cursor', 'is not a cursor of this list (pass meta.next_cursor as given)');
  return decoded;
}

/**
 * What readers see: published items whose schedule has come, free to everyone, premium to
 * premium and trial members. Every read is counted.
 */
export function createContentReading(deps: {
  db: Db;
  /** The reader's lists run here (the read replica when there is one); opening an item records a view on `db`. */
  readDb: Db;
  repository: ContentRepository;
  track: Track;
  access: Pick<AccessService, 'requirePremium' | 'recordPremiumUse'>;
  clock: Clock;
  ids: IdGenerator;
  media: Pick<ContentMedia, 'images'>;
}) {
  const { db, readDb, repository, clock, ids, media } = deps;
  /** The pictures of these items, in one read; items without one never reach the media module. */
  const imagesOf = async (rows: ItemWithVersion[], from: Db): Promise<Images> => {
    const ids = rows.flatMap(({ item }) => (item.imageMediaId ? [item.imageMediaId] : []));
    return ids.length === 0 ? new Map() : media.images(ids, from);
  };

  return {
    /** The reader's list: teasers of what is visible now, by relevance when searching, else newest first. */
    async browse(query: {
      q?: string;
      tag?: string;
      locale?: string;
      tier?: ContentTier;
      type?: ContentType;
      cursor?: string;
      limit: number;
    }) {
      const searching = query.q !== undefined;
      const after = query.cursor ? decodeCursor(query.cursor, searching) : undefined;
      const rows = await repository.listVisible(
        readDb,
        { q: query.q, tag: query.tag, locale: query.locale, tier: query.tier, type: query.type },
        { now: clock.now(), after, limit: query.limit + 1 },
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const images = await imagesOf(page, readDb);
      return {
        items: page.map((row) => teaser(row, images)),
        nextCursor:
          rows.length > query.limit && last
            ? visibleCursor.encode({
                rank: last.rank ?? undefined,
                publishedAt: last.item.publishAt as Date,
                id: last.item.id,
              })
            : null,
      };
    },

    /**
     * One item in full. Premium needs premium or an active trial (403 PREMIUM_REQUIRED with a
     * teaser otherwise); the view, the `content_viewed` event and a premium use are recorded together.
     */
    async read(actor: Actor | undefined, slug: string, options: { record?: boolean } = {}) {
      const row = await repository.findVisibleBySlug(db, slug, clock.now());
      if (!row) throw notFound('Content');
      const { item, version } = row;
      const premium = version.tier === 'premium';
      if (premium) {
        const locked = () =>
          new AppError('PREMIUM_REQUIRED', 'This item is for premium members and active trials', {
            extra: { title: version.title, summary: version.summary },
          });
        if (!actor) throw locked();
        try {
          await deps.access.requirePremium(actor);
        } catch (error) {
          if (error instanceof AppError && error.code === 'PREMIUM_REQUIRED') throw locked();
          throw error;
        }
      }
      // A HEAD request checks the item without reading it: nothing to count.
      if (options.record !== false) {
        await inTransaction(db, async (tx) => {
          const userId = actor?.id ?? null;
          await repository.recordView(tx, { id: ids(), contentId: item.id, userId, viewedAt: clock.now() });
          await deps.track(tx, 'content_viewed', userId, { content_id: item.id, type: item.type, tier: version.tier });
          if (premium && actor) await deps.access.recordPremiumUse(tx, actor.id, 'premium_content');
        });
      }
      return {
        ...teaser(row, await imagesOf([row], db)),
        body: version.body,
        body_html: renderMarkdown(version.body, version.id),
        source_name: version.sourceName,
        source_url: version.sourceUrl,
        note: CONTENT_NOTE,
      };
    },
  };
}
