import type { Static } from '@sinclair/typebox';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import { ACCEPTED_TYPES, processImage, sniffImageType, UnreadableImageError } from './media.images.js';
import type { MediaRepository } from './media.repository.js';
import type { CardImageSchema, ImageSchema } from './media.schemas.js';
import type { MediaStore } from './media.storage.js';
import { type MediaPurpose, type MediaRow, VARIANT_NAMES, type VariantName } from './media.tables.js';

/** Where a stored file is served (content-addressed, so it may be cached for good). */
export const FILES_PATH = '/api/v1/media/files';

export interface PublicVariant {
  url: string;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
}

export interface PublicMedia {
  id: string;
  purpose: MediaPurpose;
  width: number;
  height: number;
  source_type: string;
  variants: Record<VariantName, PublicVariant[]>;
  created_at: string;
}

export function toPublicMedia(row: MediaRow): PublicMedia {
  const variants = Object.fromEntries(
    VARIANT_NAMES.map((name) => [
      name,
      (row.variants[name] ?? []).map(({ key, ...rest }) => ({ url: `${FILES_PATH}/${key}`, ...rest })),
    ]),
  ) as Record<VariantName, PublicVariant[]>;
  return {
    id: row.id,
    purpose: row.purpose,
    width: row.width,
    height: row.height,
    source_type: row.sourceType,
    variants,
    created_at: row.createdAt.toISOString(),
  };
}

/** A linked image as a public page shows it: no purpose, uploader or upload time. */
export type PublicImage = Static<typeof ImageSchema>;
/** The same with the variants a list shows. */
export type CardImage = Static<typeof CardImageSchema>;

export function toPublicImage(row: MediaRow): PublicImage {
  return {
    id: row.id,
    width: row.width,
    height: row.height,
    // Rendered by processImage, so only ever WebP or AVIF.
    variants: toPublicMedia(row).variants as PublicImage['variants'],
  };
}

/** An image with only the variants a list shows. */
export const toCardImage = ({ id, width, height, variants }: PublicImage): CardImage => ({
  id,
  width,
  height,
  variants: { thumbnail: variants.thumbnail, card: variants.card },
});

/** What may be linked where: a request to link `ids` of `userId`'s uploads made for `purpose`. */
export interface LinkRequest {
  userId: string;
  ids: readonly string[];
  purpose: MediaPurpose;
  /** The request field the ids came from, named in the 400 (`body.avatar_media_id`). */
  field: string;
}

const typeNames = ACCEPTED_TYPES.map((type) => type.replace('image/', '').toUpperCase()).join(', ');

export function createMediaService(deps: {
  db: Db;
  repository: MediaRepository;
  store: MediaStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Pick<Logger, 'warn'>;
  /** `media.deleted` after a delete commits: pages showing a deleted image go stale. */
  events: Pick<EventBus, 'publish'>;
}) {
  const { db, repository, store } = deps;

  /** Deletes the files of `keys` that no upload uses any more; a failure is logged, never thrown. */
  const releaseFiles = async (keys: string[]) => {
    const inUse = await repository.keysInUse(db, keys);
    await Promise.all(
      keys
        .filter((key) => !inUse.has(key))
        .map((key) =>
          store.delete(key).catch((error: unknown) => deps.logger.warn({ err: error, key }, 'media file not deleted')),
        ),
    );
  };
  const releaseAfterCommit = (keys: string[]) =>
    afterCommit(
      () => releaseFiles(keys),
      (error) => deps.logger.warn({ err: error }, 'media files not released'),
    );

  return {
    /**
     * Checks the bytes are an image of an accepted type (by their content), renders the variants
     * (EXIF orientation applied, metadata dropped), stores them and records the upload.
     */
    async upload(actor: Actor, input: { bytes: Buffer; purpose: MediaPurpose }): Promise<PublicMedia> {
      const sourceType = sniffImageType(input.bytes);
      if (!sourceType) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Send an image: ${typeNames} (told by the file's content)`, {
          details: [{ field: 'body.file', message: `must be a ${typeNames} image` }],
        });
      }
      let image: Awaited<ReturnType<typeof processImage>>;
      try {
        image = await processImage(input.bytes);
      } catch (error) {
        if (!(error instanceof UnreadableImageError)) throw error;
        throw new AppError('VALIDATION_ERROR', 'The file could not be read as an image', {
          details: [{ field: 'body.file', message: `is not a readable ${sourceType} image, or is over 40 megapixels` }],
        });
      }
      const renditions = VARIANT_NAMES.flatMap((name) => image.variants[name]);
      // A small image's variants can be the same bytes, so the same key: stored once.
      const files = new Map(renditions.map((rendition) => [rendition.key, rendition]));
      await Promise.all([...files.values()].map((file) => store.put(file.key, file.data, file.content_type)));
      const variants = Object.fromEntries(
        VARIANT_NAMES.map((name) => [name, image.variants[name].map(({ data: _data, ...stored }) => stored)]),
      ) as MediaRow['variants'];
      const row = await repository.insert(db, {
        id: deps.ids(),
        userId: actor.id,
        purpose: input.purpose,
        sourceType,
        sourceBytes: input.bytes.length,
        width: image.width,
        height: image.height,
        variants,
        keys: [...files.keys()],
        createdAt: deps.clock.now(),
      });
      return toPublicMedia(row);
    },

    async list(actor: Actor, page: { cursor?: string; limit: number }) {
      const rows = await repository.listFor(db, actor.id, { beforeId: page.cursor, limit: page.limit + 1 });
      const shown = rows.slice(0, page.limit);
      return {
        items: shown.map(toPublicMedia),
        nextCursor: rows.length > page.limit ? (shown.at(-1)?.id ?? null) : null,
      };
    },

    /** The uploader (or an admin) deletes an upload; its files go once nothing else uses them. */
    async remove(actor: Actor, id: string): Promise<void> {
      await inTransaction(db, async (tx) => {
        const row = await repository.find(tx, id);
        // Someone else's upload is not found, as if it did not exist.
        if (!row || (row.userId !== actor.id && actor.role !== 'admin')) throw notFound('Media');
        const { rows, keys } = await repository.delete(tx, { id });
        await releaseAfterCommit(keys);
        await deps.events.publish('media.deleted', { userId: row.userId, media: rows });
      });
    },

    /**
     * In the caller's transaction, before it links them: every one of `ids` is an upload of
     * `userId` made for `purpose`, else 400 naming `field`. An id that is no upload and someone
     * else's upload get the same answer, so nobody learns that another person's upload exists.
     * The rows stay locked (FOR KEY SHARE) until the transaction ends: a concurrent delete waits,
     * then unlinks them.
     */
    async checkLinkable(tx: Db, request: LinkRequest): Promise<void> {
      const ids = [...new Set(request.ids)];
      const found = new Map((await repository.lockForLink(tx, ids)).map((row) => [row.id, row]));
      for (const id of ids) {
        const row = found.get(id);
        if (!row || row.userId !== request.userId) {
          throw invalidField(request.field, `${id} is not one of your uploads (POST /api/v1/media first)`);
        }
        if (row.purpose !== request.purpose) {
          throw invalidField(
            request.field,
            `${id} was uploaded for ${row.purpose}: upload the image with ?purpose=${request.purpose}`,
          );
        }
      }
    },

    /**
     * The images of `ids` as public pages show them, by id, in one read; ids that are no upload
     * (deleted meanwhile) are left out. `from` is where to read: a search reads on the replica it
     * searched.
     */
    async images(ids: readonly string[], from: Db = db): Promise<Map<string, PublicImage>> {
      const unique = [...new Set(ids)];
      if (unique.length === 0) return new Map();
      const rows = await repository.findMany(from, unique);
      return new Map(rows.map((row) => [row.id, toPublicImage(row)]));
    },

    /** Of `ids`, the uploads that are `userId`'s. */
    async ownedBy(userId: string, ids: string[]): Promise<Set<string>> {
      return repository.idsOwnedBy(db, userId, ids);
    },

    /** A stored file's bytes, or undefined. */
    file: (key: string) => store.get(key),

    /** Erasure: a person's uploads go with their account, and their files once unused. */
    async eraseFor(tx: Db, userId: string): Promise<number> {
      const { rows, keys } = await repository.delete(tx, { userId });
      await releaseAfterCommit(keys);
      if (rows.length > 0) await deps.events.publish('media.deleted', { userId, media: rows });
      return rows.length;
    },

    async exportFor(tx: Db, userId: string): Promise<PublicMedia[]> {
      return (await repository.listFor(tx, userId, { limit: 10_000 })).map(toPublicMedia);
    },
  };
}

export type MediaService = ReturnType<typeof createMediaService>;
