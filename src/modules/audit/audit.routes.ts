import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requirePermission } from '../../shared/access-rules.js';
import { errorResponses, Nullable, pageQuery, Success } from '../../shared/http-schemas.js';
import { auditFields } from './audit.chain.js';
import type { AuditService } from './audit.service.js';

const AuditEntrySchema = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  actor_id: Nullable(Type.String()),
  action: Type.String(),
  target_type: Nullable(Type.String()),
  target_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  correlation_id: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String({ format: 'date-time' }),
  prev_hash: Type.String(),
  hash: Type.String(),
});

const AuditQuery = Type.Object(
  {
    action: Type.Optional(Type.String({ maxLength: 100 })),
    actor_id: Type.Optional(Type.String({ format: 'uuid' })),
    target_type: Type.Optional(Type.String({ maxLength: 50 })),
    target_id: Type.Optional(Type.String({ maxLength: 100 })),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    limit: pageQuery(50).limit,
    // Below 10^15, so the sequence number is exact as a JavaScript number.
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'seq of the last entry seen' })),
  },
  { additionalProperties: false },
);

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/admin/audit',
    {
      config: { access: requirePermission('audit:read'), etag: false },
      schema: {
        operationId: 'admin.listAudit',
        description:
          'Every audited action (who, what, on which object, from which address, with its correlation id), newest first, each with the hash that chains it to the one before. Filter, then follow `meta.next_cursor`.',
        tags: ['admin'],
        summary: 'Audit trail, newest first (filters, cursor pagination)',
        querystring: AuditQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(AuditEntrySchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await audit.list({
        action: q.action,
        actorId: q.actor_id,
        targetType: q.target_type,
        targetId: q.target_id,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        beforeSeq: q.cursor ? Number(q.cursor) : undefined,
        limit: q.limit,
      });
      return {
        success: true,
        data: rows.map((row) => ({ ...auditFields(row), prev_hash: row.prevHash, hash: row.hash })),
        meta: { next_cursor: rows.length === q.limit ? String(rows.at(-1)?.seq) : null },
      };
    },
  );

  app.get(
    '/admin/audit/verify',
    {
      config: { access: requirePermission('audit:read'), etag: false },
      schema: {
        operationId: 'admin.verifyAudit',
        description:
          "Recomputes each row's hash from the previous hash and the row's canonical JSON. Answers `valid`, how many rows were `checked`, and, when the chain is broken, the first row that was edited, inserted or removed.",
        tags: ['admin'],
        summary: 'Re-walk the hash chain; name the first edited, inserted or removed row',
        response: {
          ...errorResponses(),
          200: Success(
            Type.Object({
              valid: Type.Boolean(),
              checked: Type.Integer(),
              broken: Type.Optional(
                Type.Object({
                  seq: Type.Integer(),
                  id: Type.Union([Type.String(), Type.Null()]),
                  reason: Type.String(),
                }),
              ),
            }),
          ),
        },
      },
    },
    async () => ({ success: true, data: await audit.verify() }),
  );
};
