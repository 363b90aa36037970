import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, idPageQuery, Success } from '../../shared/http-schemas.js';
import type { SupportService } from './support.service.js';

const SupportRequestSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  user_id: Type.String({ format: 'uuid' }),
  subject: Type.String(),
  message: Type.String(),
  priority: Type.Boolean({ description: 'premium and trial users are answered first' }),
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  created_at: Type.String({ format: 'date-time' }),
});

export const supportRoutes: FastifyPluginAsyncTypebox<{ support: SupportService }> = async (app, { support }) => {
  app.post(
    '/me/support-requests',
    {
      // People paste error messages and paths into support requests: scored, not refused.
      config: { access: requireAuth(), inspection: { freeText: ['body.message'] } },
      schema: {
        operationId: 'support.createRequest',
        description:
          "Sends a subject and a message to the support team; a Premium or trial account's request is marked priority. Answers the stored request with its status.",
        tags: ['support'],
        summary: 'Ask the team a question (premium and trial requests are flagged priority)',
        body: Type.Object(
          {
            subject: Type.String({ minLength: 1, maxLength: 200 }),
            message: Type.String({ minLength: 1, maxLength: 5000 }),
          },
          { additionalProperties: false },
        ),
        response: { ...errorResponses('VALIDATION_ERROR'), 201: Success(SupportRequestSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await support.create(actorOf(request), request.body) }),
  );

  app.get(
    '/admin/support-requests',
    {
      config: { access: requirePermission('support:read'), etag: false },
      schema: {
        operationId: 'admin.listSupportRequests',
        description:
          'Requests from people, newest first, filtered by priority and status, a page at a time (`meta.next_cursor`).',
        tags: ['admin'],
        summary: 'Support requests, newest first (filter by priority and status; cursor pagination)',
        querystring: Type.Object(
          {
            priority: Type.Optional(Type.Boolean()),
            status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
            ...idPageQuery(50),
          },
          { additionalProperties: false },
        ),
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(SupportRequestSchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const page = await support.list(request.query);
      return { success: true, data: page.requests, meta: { next_cursor: page.nextCursor ?? null } };
    },
  );
};
