import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf, contextOf } from '../../shared/actor.js';
import {
  errorResponses,
  IdParams,
  idPageQuery,
  literals,
  NextCursorMeta,
  Nullable,
  Success,
} from '../../shared/http-schemas.js';
import type { OnboardingService } from './onboarding.service.js';
import { APPLICATION_STATUSES } from './onboarding.tables.js';

const Uuid = Type.String({ format: 'uuid' });

const ApplicationSchema = Type.Object({
  id: Uuid,
  user_id: Uuid,
  status: literals(APPLICATION_STATUSES),
  business_name: Type.String(),
  bio: Type.String(),
  city: Type.String(),
  country: Type.String(),
  languages: Type.Array(Type.String()),
  category_ids: Type.Array(Uuid),
  document_media_ids: Type.Array(Uuid),
  reason: Nullable(Type.String({ description: 'why it was rejected' })),
  reviewed_at: Nullable(Type.String({ format: 'date-time' })),
  created_at: Type.String({ format: 'date-time' }),
});

const ApplicationBody = Type.Object(
  {
    business_name: Type.String({ minLength: 1, maxLength: 120 }),
    bio: Type.String({ minLength: 1, maxLength: 4000 }),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, uppercase' }),
    languages: Type.Array(Type.String({ pattern: '^[a-z]{2}$', description: 'ISO 639-1, lowercase' }), {
      minItems: 1,
      maxItems: 20,
      uniqueItems: true,
    }),
    category_ids: Type.Array(Uuid, { minItems: 1, maxItems: 20, uniqueItems: true }),
    document_media_ids: Type.Optional(
      Type.Array(Uuid, {
        maxItems: 10,
        uniqueItems: true,
        description: 'licences or certificates, uploaded first with POST /api/v1/media?purpose=document',
      }),
    ),
  },
  { additionalProperties: false },
);

export const onboardingRoutes: FastifyPluginAsyncTypebox<{ onboarding: OnboardingService }> = async (
  app,
  { onboarding },
) => {
  app.post(
    '/me/provider-application',
    {
      config: { access: requireAuth(), inspection: { freeText: ['body.bio'] } },
      schema: {
        operationId: 'onboarding.apply',
        tags: ['provider'],
        summary: 'Apply to become a provider',
        description:
          'Sends your business details, the categories you will offer and documents you uploaded (POST /api/v1/media?purpose=document) for review. Admins are told; you are told of the decision. One application may wait at a time (409 INVALID_STATE), and only a `user` account applies.',
        body: {
          ...ApplicationBody,
          examples: [
            {
              business_name: 'Calm Hands Massage',
              bio: 'Sports and relaxation massage, ten years of practice.',
              city: 'Leeds',
              country: 'GB',
              languages: ['en'],
              category_ids: ['01a2301c-0000-7000-8000-000000000001'],
            },
          ],
        },
        response: { ...errorResponses('VALIDATION_ERROR', 'INVALID_STATE'), 201: Success(ApplicationSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        success: true,
        data: await onboarding.apply(actorOf(request), request.body, contextOf(request)),
      }),
  );

  app.get(
    '/me/provider-application',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'onboarding.getMine',
        tags: ['provider'],
        summary: 'Your latest provider application and its decision',
        description: 'Answers 404 when you never applied; a rejected application carries the reviewer’s `reason`.',
        response: { ...errorResponses('NOT_FOUND'), 200: Success(ApplicationSchema) },
      },
    },
    async (request) => ({ success: true, data: await onboarding.mine(actorOf(request)) }),
  );

  const admin = { access: requirePermission('catalog:admin'), etag: false };

  app.get(
    '/admin/provider-applications',
    {
      config: admin,
      schema: {
        operationId: 'admin.listProviderApplications',
        tags: ['admin'],
        summary: 'Provider applications (the review queue with status=pending)',
        description: 'Applications newest first, filtered by `status`, a page at a time (`meta.next_cursor`).',
        querystring: Type.Object(
          { status: Type.Optional(literals(APPLICATION_STATUSES)), ...idPageQuery(20) },
          { additionalProperties: false },
        ),
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(ApplicationSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await onboarding.list(request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.post(
    '/admin/provider-applications/:id/approve',
    {
      config: admin,
      schema: {
        operationId: 'admin.approveProviderApplication',
        tags: ['admin'],
        summary: 'Approve an application: the applicant becomes a verified provider',
        description:
          'The account gets the `provider` role, a provider profile made from the application, verified; the decision is audited and the applicant told. An application already decided answers 409 INVALID_STATE.',
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND', 'INVALID_STATE'), 200: Success(ApplicationSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await onboarding.approve(actorOf(request), request.params.id, contextOf(request)),
    }),
  );

  app.post(
    '/admin/provider-applications/:id/reject',
    {
      config: admin,
      schema: {
        operationId: 'admin.rejectProviderApplication',
        tags: ['admin'],
        summary: 'Reject an application with a reason the applicant is told',
        description:
          'Audited; the applicant may apply again. An application already decided answers 409 INVALID_STATE.',
        params: IdParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
        response: { ...errorResponses('NOT_FOUND', 'INVALID_STATE'), 200: Success(ApplicationSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await onboarding.reject(actorOf(request), request.params.id, request.body.reason, contextOf(request)),
    }),
  );
};
