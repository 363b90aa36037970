import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, Success } from '../../shared/http-schemas.js';
import {
  ConsentRecordSchema,
  ConsentStateSchema,
  HistoryQuery,
  NoticeSchema,
  PublishNoticeBody,
  PurposeParams,
  SetConsentBody,
} from './consent.schemas.js';
import type { ConsentService } from './consent.service.js';

export const consentRoutes: FastifyPluginAsyncTypebox<{ consent: ConsentService }> = async (app, { consent }) => {
  const tags = ['consent'];
  const me = { access: requireAuth(), etag: false };

  app.get(
    '/me/consents',
    {
      config: me,
      schema: {
        operationId: 'consent.getConsents',
        description:
          'One entry per purpose (whatsapp, sms, marketing, analytics, data_processing): whether you agreed, to which notice version, and `needs_renewal` when a newer notice was published since.',
        tags,
        summary: 'Your consent per purpose, with the notice version you agreed to and whether it needs renewal',
        response: { ...errorResponses(), 200: Success(Type.Array(ConsentStateSchema)) },
      },
    },
    async (request) => ({ success: true, data: await consent.getState(actorOf(request)) }),
  );

  app.put(
    '/me/consents/:purpose',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'consent.setConsent',
        description:
          'Records a grant or a withdrawal for the purpose in the path, against the current notice version, and keeps it in your history. A withdrawal stops that use from this moment.',
        tags,
        summary: 'Grant or withdraw consent for one purpose (withdrawal applies from this moment)',
        params: PurposeParams,
        body: SetConsentBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONSENT_REQUIRED'), 200: Success(ConsentStateSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await consent.set(actorOf(request), request.params.purpose, request.body.granted),
    }),
  );

  app.get(
    '/me/consents/history',
    {
      config: me,
      schema: {
        operationId: 'consent.getHistory',
        description:
          'Each grant and withdrawal you made, with the notice version and where it came from, newest first, a page at a time (`meta.next_cursor`).',
        tags,
        summary: 'Every consent change you made, newest first (cursor pagination)',
        querystring: HistoryQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(ConsentRecordSchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const page = await consent.history(actorOf(request), request.query);
      return { success: true, data: page.records, meta: { next_cursor: page.nextCursor ?? null } };
    },
  );

  app.get(
    '/consent-notices',
    {
      schema: {
        operationId: 'consent.getNotices',
        description:
          'The text you agree to for each purpose, in its current version. Show it before asking for consent.',
        tags,
        summary: 'The current notice for each purpose (what you agree to)',
        response: { ...errorResponses(), 200: Success(Type.Array(NoticeSchema)) },
      },
    },
    async () => ({ success: true, data: await consent.currentNotices() }),
  );

  const admin = { access: requirePermission('consent:manage') };

  app.get(
    '/admin/consent-notices',
    {
      config: { ...admin, etag: false },
      schema: {
        operationId: 'admin.listConsentNotices',
        description: 'All versions of every notice, so earlier consents can be read against the text that was shown.',
        tags: ['admin'],
        summary: 'Every version of every consent notice',
        response: { ...errorResponses(), 200: Success(Type.Array(NoticeSchema)) },
      },
    },
    async () => ({ success: true, data: await consent.listNotices() }),
  );

  app.post(
    '/admin/consent-notices',
    {
      config: admin,
      schema: {
        operationId: 'admin.publishConsentNotice',
        description:
          "Adds the next version of a purpose's notice (audited). People who agreed to an older version get `needs_renewal` until they agree again.",
        tags: ['admin'],
        summary: 'Publish a new version of a notice; everyone who agreed to an older one is asked again',
        body: PublishNoticeBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONFLICT'), 201: Success(NoticeSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await consent.publishNotice(actorOf(request), request.body) }),
  );
};
