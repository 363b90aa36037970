import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import {
  AdminEraseBody,
  EraseSelfBody,
  ExportParams,
  ExportSchema,
  ExportWithDocumentSchema,
  ReceiptSchema,
} from './privacy.schemas.js';
import type { PrivacyService } from './privacy.service.js';

export const privacyRoutes: FastifyPluginAsyncTypebox<{ privacy: PrivacyService }> = async (app, { privacy }) => {
  const tags = ['privacy'];

  app.post(
    '/me/data-export',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'privacy.requestExport',
        description:
          'Starts building a JSON document of everything every module holds about you; answers 202 with its id and status. Poll GET /me/data-export/{id} until the document is there; it expires at `expires_at`.',
        tags,
        summary: 'Ask for a copy of everything we hold about you (JSON, free); poll the returned id',
        response: { ...errorResponses(), 202: Success(ExportSchema) },
      },
    },
    async (request, reply) =>
      reply.code(202).send({ success: true, data: await privacy.requestExport(actorOf(request)) }),
  );

  app.get(
    '/me/data-export/:id',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'privacy.getExport',
        description:
          "Answers the export's status and, once ready, the document itself. Another person's export id answers 404.",
        tags,
        summary: 'An export: its status, and the document once ready',
        params: ExportParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(ExportWithDocumentSchema) },
      },
    },
    async (request, reply) =>
      reply
        .header('cache-control', 'no-store')
        .send({ success: true, data: await privacy.getExport(actorOf(request), request.params.id) }),
  );

  app.delete(
    '/me',
    {
      config: { access: requireAuth(), rateLimit: 'sensitive' },
      schema: {
        operationId: 'privacy.eraseMe',
        description:
          'Needs your password (401 INVALID_CREDENTIALS otherwise). Erases or anonymises your personal data in every module in one go, ends every session, and answers a receipt listing what each module did.',
        tags,
        summary: 'Erase your account and personal data everywhere (asks for your password); answers with a receipt',
        body: EraseSelfBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'INVALID_CREDENTIALS'), 200: Success(ReceiptSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await privacy.eraseSelf(actorOf(request), request.body.password),
    }),
  );

  app.post(
    '/admin/users/:id/erase',
    {
      config: { access: requirePermission('privacy:erase') },
      schema: {
        operationId: 'admin.eraseUser',
        description:
          'The same erasure as DELETE /me, run by an admin for a person who asked through another channel. Audited; answers the receipt of what each module erased.',
        tags: ['admin'],
        summary: "Erase a person's data across every module (on the person's request); answers with the receipt",
        params: IdParams,
        body: AdminEraseBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'), 200: Success(ReceiptSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await privacy.adminErase(actorOf(request), request.params.id, request.body?.reason),
    }),
  );
};
