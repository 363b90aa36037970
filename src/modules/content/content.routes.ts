import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, NextCursorMeta, Success } from '../../shared/http-schemas.js';
import {
  AdminContentSchema,
  AdminContentSummarySchema,
  AdminListQuery,
  BrowseQuery,
  ContentArticleSchema,
  ContentTeaserSchema,
  ContentVersionSchema,
  CreateContentBody,
  PremiumRequiredResponse,
  SlugParams,
  UpdateContentBody,
} from './content.schemas.js';
import type { ContentService } from './content.service.js';

// Reader answers depend on who asks (premium gating) and on the clock (schedules): no shared
// cache may keep them, and a client revalidates with its ETag each time.
const PER_READER = { 'cache-control': 'private, no-cache', vary: 'authorization' };

export const contentRoutes: FastifyPluginAsyncTypebox<{ content: ContentService }> = async (app, { content }) => {
  const tags = ['content'];

  app.get(
    '/content',
    {
      schema: {
        operationId: 'content.listContent',
        description:
          'Published items as teasers (no body, with their `image` or null), newest first, or ranked by relevance with `q` (full text). Filter by type, tag, tier or locale; premium items are listed for everyone, reading their body needs Premium. Page with `meta.next_cursor`.',
        tags,
        summary: 'Published articles, tips and plan blocks (teasers); full-text `q` ranks by relevance',
        querystring: BrowseQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(ContentTeaserSchema), NextCursorMeta),
        },
      },
    },
    async (request, reply) => {
      reply.headers(PER_READER);
      const page = await content.browse(request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.get(
    '/content/:slug',
    {
      schema: {
        operationId: 'content.getContent',
        tags,
        summary:
          'One published item in full, its Markdown also rendered to safe HTML; premium items need premium or a trial',
        description:
          'Anyone may read free items; `image` is the item picture (thumbnail, card and full variants) or null. A premium item answers 403 PREMIUM_REQUIRED to anonymous and free callers, with its `title` and `summary` as a teaser.',
        params: SlugParams,
        response: {
          ...errorResponses('NOT_FOUND'),
          403: PremiumRequiredResponse,
          200: Success(ContentArticleSchema),
        },
      },
    },
    async (request, reply) => {
      reply.headers(PER_READER);
      return {
        success: true,
        data: await content.read(request.actor, request.params.slug, { record: request.method !== 'HEAD' }),
      };
    },
  );

  const admin = { access: requirePermission('content:create'), etag: false };
  const adminTags = ['admin'];

  app.get(
    '/admin/content',
    {
      config: admin,
      schema: {
        operationId: 'admin.listContent',
        description:
          "Every item in any status (draft, scheduled, published, archived) with its newest version's fields, newest first, a page at a time.",
        tags: adminTags,
        summary: 'All content items with their newest version (no body), newest first',
        querystring: AdminListQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(AdminContentSummarySchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await content.list(request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.post(
    '/admin/content',
    {
      // Markdown may quote code and HTML on purpose: what inspection finds there is scored, not refused.
      config: { ...admin, inspection: { freeText: ['body.body', 'body.summary'] } },
      schema: {
        operationId: 'admin.createContent',
        description:
          'Creates the item and its version 1 (audited). A draft unless `status` says published; `publish_at` schedules it. `image_media_id` is its picture: one of your uploads made with `POST /media?purpose=content` (any other id, someone else’s upload or one made for another purpose answers 400 naming `body.image_media_id`). A slug already in use answers 409.',
        tags: adminTags,
        summary: 'Create an item (version 1); a draft unless `status` says otherwise',
        body: CreateContentBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONFLICT'), 201: Success(AdminContentSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await content.create(actorOf(request), request.body) }),
  );

  app.get(
    '/admin/content/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.getContent',
        description: 'The item with the full body of its newest version, whatever its status.',
        tags: adminTags,
        summary: 'One item with its newest version',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(AdminContentSchema) },
      },
    },
    async (request) => ({ success: true, data: await content.get(request.params.id) }),
  );

  app.get(
    '/admin/content/:id/versions',
    {
      config: admin,
      schema: {
        operationId: 'admin.listContentVersions',
        description: "The history of an item: every version's fields and body, who edited it and when, newest first.",
        tags: adminTags,
        summary: 'Every version of an item, newest first',
        params: IdParams,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'),
          200: Success(Type.Array(ContentVersionSchema)),
        },
      },
    },
    async (request) => ({ success: true, data: await content.versions(request.params.id) }),
  );

  app.patch(
    '/admin/content/:id',
    {
      // Markdown may quote code and HTML on purpose: what inspection finds there is scored, not refused.
      config: { ...admin, inspection: { freeText: ['body.body', 'body.summary'] } },
      schema: {
        operationId: 'admin.updateContent',
        description:
          'Changing title, summary, body or other content fields stores a new version (readers see it at once when published); `status` and `publish_at` publish, schedule or unpublish it. `image_media_id` (one of your uploads made with `POST /media?purpose=content`, or null) changes the picture of every version without making a new one. Audited.',
        tags: adminTags,
        summary:
          'Edit an item: content fields make a new version (shown at once when published); status and publish_at move it',
        params: IdParams,
        body: UpdateContentBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'),
          200: Success(AdminContentSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await content.update(actorOf(request), request.params.id, request.body),
    }),
  );

  app.delete(
    '/admin/content/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.archiveContent',
        description: 'Hides the item from readers and lists (audited); its versions stay for the record.',
        tags: adminTags,
        summary: 'Archive an item: readers no longer see it; its versions are kept',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await content.archive(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
