import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { AppError } from '../../errors.js';
import { requireAuth } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { ifNoneMatchNames } from '../../shared/etag.js';
import { errorResponses, IdParams, idPageQuery, literals, NextCursorMeta, Success } from '../../shared/http-schemas.js';
import { ACCEPTED_TYPES, VARIANT_SIZES } from './media.images.js';
import { MediaSchema } from './media.schemas.js';
import type { MediaService } from './media.service.js';
import { MEDIA_KEY } from './media.storage.js';
import { MEDIA_PURPOSES } from './media.tables.js';

const tags = ['media'];

/** Files never change under a name (the name is their digest): a year, immutable. */
const FOREVER = 'public, max-age=31536000, immutable';

export const mediaRoutes: FastifyPluginAsyncTypebox<{ media: MediaService; maxBytes: number }> = async (
  app,
  { media, maxBytes },
) => {
  // Parsed here only: everywhere else multipart/form-data stays 415.
  await app.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 0, parts: 1 } });

  app.post(
    '/media',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'media.upload',
        tags,
        summary: 'Upload an image (multipart/form-data, one file); answers its resized variants',
        description:
          `Send \`multipart/form-data\` with one file part (any field name): ${ACCEPTED_TYPES.join(', ')}, ` +
          `at most MEDIA_MAX_BYTES (10 MiB by default). The type is told by the content, not by the name or the ` +
          `part's type. The image is turned upright by its EXIF orientation and rendered as thumbnail ` +
          `(${VARIANT_SIZES.thumbnail} px), card (${VARIANT_SIZES.card} px, WebP and AVIF) and full ` +
          `(${VARIANT_SIZES.full} px) WebP variants without any of the source's metadata (EXIF, GPS); the ` +
          'source itself is not kept. `purpose` says where it will be used.',
        consumes: ['multipart/form-data'],
        querystring: Type.Object(
          { purpose: Type.Optional(literals(MEDIA_PURPOSES, `where the image is used (default gallery)`)) },
          { additionalProperties: false },
        ),
        response: {
          ...errorResponses('VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'),
          201: Success(MediaSchema),
        },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the image as multipart/form-data with one file part');
      }
      let bytes: Buffer;
      try {
        const part = await request.file();
        if (!part) {
          throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
            details: [{ field: 'body.file', message: 'is required: one file part' }],
          });
        }
        bytes = await part.toBuffer();
      } catch (error) {
        if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw new AppError('PAYLOAD_TOO_LARGE', `The image is larger than ${maxBytes} bytes`);
        }
        if ((error as { code?: string }).code?.startsWith('FST_')) {
          throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
            details: [{ field: 'body', message: 'must be multipart/form-data with one file part and no other field' }],
          });
        }
        throw error;
      }
      const created = await media.upload(actorOf(request), {
        bytes,
        purpose: request.query.purpose ?? 'gallery',
      });
      return reply.code(201).send({ success: true, data: created });
    },
  );

  app.get(
    '/me/media',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'media.listMine',
        tags,
        summary: 'Your uploads, newest first',
        description: 'Every image you uploaded, newest first, a page at a time (`meta.next_cursor`).',
        querystring: Type.Object(idPageQuery(20), { additionalProperties: false }),
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(Type.Array(MediaSchema), NextCursorMeta) },
      },
    },
    async (request) => {
      const page = await media.list(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.delete(
    '/media/:id',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'media.delete',
        tags,
        summary: 'Delete one of your uploads (admins: any)',
        description:
          'Removes the upload and its links: a profile photo, service photo or content picture it was becomes none, and it leaves any gallery (the pages showing it are refreshed). Its files are deleted once no other upload uses them (an identical image uploaded twice shares them). Someone else’s upload answers 404.',
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await media.remove(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/media/files/:key',
    {
      config: { etag: false },
      schema: {
        operationId: 'media.getFile',
        tags,
        summary: 'A stored image file (public, cached for a year)',
        description:
          'Files are named by the SHA-256 of their bytes, so a name never changes content: answered with `Cache-Control: public, max-age=31536000, immutable` and the digest as ETag, for a CDN to keep.',
        params: Type.Object(
          { key: Type.String({ pattern: MEDIA_KEY.source, description: '<sha256 hex>.webp or .avif' }) },
          { additionalProperties: false },
        ),
        response: {
          ...errorResponses('NOT_FOUND', 'VALIDATION_ERROR'),
          200: {
            description: 'The image',
            content: {
              'image/webp': { schema: Type.String({ format: 'binary' }) },
              'image/avif': { schema: Type.String({ format: 'binary' }) },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const etag = `"${key.slice(0, 64)}"`;
      reply.header('cache-control', FOREVER).header('etag', etag);
      if (ifNoneMatchNames(request.headers['if-none-match'], etag)) return (reply as FastifyReply).code(304).send();
      const bytes = await media.file(key);
      if (!bytes) {
        reply.removeHeader('cache-control');
        throw new AppError('NOT_FOUND', 'No such file');
      }
      return (reply as FastifyReply).type(key.endsWith('.avif') ? 'image/avif' : 'image/webp').send(bytes);
    },
  );
};
