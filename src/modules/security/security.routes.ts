import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { requirePermission } from '../../shared/access-rules.js';
import { toCsv } from '../../shared/csv.js';
import { errorResponses, Nullable, pageQuery, Success } from '../../shared/http-schemas.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import type { SecurityRepository } from './security.repository.js';
import type { SecurityService } from './security.service.js';
import type { IpBlockRow, SecurityEventRow } from './security.tables.js';

const EVENT_TYPES = [
  'sql_injection',
  'xss',
  'path_traversal',
  'command_injection',
  'code_injection',
  'ssrf',
  'scanner',
  'brute_force',
  'ip_blocked',
  'refresh_token_reuse',
  'webhook_signature',
  'audit_chain',
  'payment_mismatch',
] as const;
const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const IP_PATTERN = '^[0-9a-fA-F:.]{2,45}$';

const EventSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  occurred_at: Type.String({ format: 'date-time' }),
  type: Type.String({ description: EVENT_TYPES.join(' | ') }),
  severity: Type.String({ description: SEVERITIES.join(' | ') }),
  rule: Type.String({ description: 'the rule that matched, e.g. sqli.union_select' }),
  location: Type.String({
    description: 'where in the request: path, query.<name>, body.<path>, header.<name>, login, signal',
  }),
  sample: Nullable(Type.String({ description: 'the value, cut to 200 characters, secrets, emails and digits masked' })),
  action: Type.String({ description: 'refused | scored | recorded | blocked' }),
  points: Type.Integer(),
  ip: Nullable(Type.String()),
  user_id: Nullable(Type.String()),
  method: Nullable(Type.String()),
  route: Nullable(Type.String()),
  correlation_id: Nullable(Type.String()),
});

const BlockSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  ip: Type.String({ description: 'the address, or the IPv6 prefix it was grouped under (e.g. 2001:db8:1:2::/64)' }),
  reason: Type.String(),
  source: Type.String({ description: 'automatic | admin' }),
  level: Type.Integer({ description: 'escalation level of an automatic block (0 for an admin block)' }),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  created_by: Nullable(Type.String()),
  lifted_at: Nullable(Type.String({ format: 'date-time' })),
  lifted_by: Nullable(Type.String()),
  lift_reason: Nullable(Type.String()),
  active: Type.Boolean(),
});

const EventsQuery = Type.Object(
  {
    type: Type.Optional(Type.Union(EVENT_TYPES.map((t) => Type.Literal(t)))),
    severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
    ip: Type.Optional(Type.String({ pattern: IP_PATTERN, description: 'exact client address' })),
    user_id: Type.Optional(Type.String({ format: 'uuid' })),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    limit: pageQuery(50).limit,
    cursor: pageQuery(50).cursor,
    format: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json', description: 'csv answers text/csv' }),
    ),
  },
  { additionalProperties: false },
);

const BlocksQuery = Type.Object(
  {
    include_ended: Type.Optional(Type.Boolean({ default: false, description: 'also list expired and lifted blocks' })),
    limit: pageQuery(100).limit,
  },
  { additionalProperties: false },
);

const BlockBody = Type.Object(
  {
    ip: Type.String({ pattern: IP_PATTERN, description: 'IPv4 or IPv6 address (IPv6 is blocked by its prefix)' }),
    minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 525_600, default: 60, description: 'how long' })),
    reason: Type.String({ minLength: 3, maxLength: 500, pattern: '\\S', description: 'why (kept in the audit trail)' }),
  },
  { additionalProperties: false },
);

const LiftBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ minLength: 3, maxLength: 500, pattern: '\\S', default: 'lifted by an admin' })),
  },
  { additionalProperties: false },
);

const SummaryQuery = Type.Object(
  { hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168, default: 24, description: 'how far back' })) },
  { additionalProperties: false },
);

const SummarySchema = Type.Object({
  since: Type.String({ format: 'date-time' }),
  by_type: Type.Record(Type.String(), Type.Integer(), { description: 'events per type in the period' }),
  by_severity: Type.Record(Type.String(), Type.Integer()),
  by_hour: Type.Array(Type.Object({ hour: Type.String(), type: Type.String(), count: Type.Integer() })),
  top_ips: Type.Array(
    Type.Object({
      ip: Type.String(),
      events: Type.Integer(),
      points: Type.Integer(),
      last_seen: Type.String({ format: 'date-time' }),
      blocked: Type.Boolean(),
    }),
  ),
  active_blocks: Type.Array(BlockSchema),
});

const eventCursor = cursorCodec<{ at: Date; id: string }>({ at: cursorField.time, id: cursorField.uuid });

const eventOut = (row: SecurityEventRow) => ({
  id: row.id,
  occurred_at: row.occurredAt.toISOString(),
  type: row.type,
  severity: row.severity,
  rule: row.rule,
  location: row.location,
  sample: row.sample,
  action: row.action,
  points: row.points,
  ip: row.ip,
  user_id: row.userId,
  method: row.method,
  route: row.route,
  correlation_id: row.correlationId,
});

const blockOut = (row: IpBlockRow, now: Date) => ({
  id: row.id,
  ip: row.ipKey,
  reason: row.reason,
  source: row.source,
  level: row.level,
  created_at: row.createdAt.toISOString(),
  expires_at: row.expiresAt.toISOString(),
  created_by: row.createdBy,
  lifted_at: row.liftedAt?.toISOString() ?? null,
  lifted_by: row.liftedBy,
  lift_reason: row.liftReason,
  active: row.liftedAt === null && row.expiresAt > now,
});

export const securityRoutes: FastifyPluginAsyncTypebox<{
  security: SecurityService;
  repository: SecurityRepository;
  db: Db;
  clock: Clock;
}> = async (app, { security, repository, db, clock }) => {
  const admin = { access: requirePermission('security:manage'), etag: false } as const;

  app.get(
    '/admin/security/events',
    {
      config: admin,
      schema: {
        operationId: 'admin.securityEvents',
        description:
          'What request inspection, lockout and blocking recorded: type, severity, the rule that matched, where in the request, a sample, the action taken, address and route. Filter, page with `meta.next_cursor`, or export as CSV.',
        tags: ['admin', 'security'],
        summary: 'Security events, newest first (filters, cursor pagination; ?format=csv answers text/csv)',
        querystring: EventsQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: {
            description: 'The events (JSON), or the page as CSV with ?format=csv',
            content: {
              'application/json': {
                schema: Success(Type.Array(EventSchema), Type.Object({ next_cursor: Nullable(Type.String()) })),
              },
              'text/csv': { schema: Type.String({ description: 'a header row, then one event per line' }) },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const after = q.cursor ? eventCursor.decode(q.cursor) : undefined;
      await security.flush();
      const rows = await repository.listEvents(db, {
        type: q.type,
        severity: q.severity,
        ip: q.ip,
        userId: q.user_id,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        after: after ? { occurredAt: after.at, id: after.id } : undefined,
        limit: q.limit,
      });
      const data = rows.map(eventOut);
      const last = rows.at(-1);
      const next = last && rows.length === q.limit ? eventCursor.encode({ at: last.occurredAt, id: last.id }) : null;
      if (q.format === 'csv') {
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="security-events.csv"')
          .header('x-next-cursor', next ?? '')
          .send(toCsv(data, Object.keys(EventSchema.properties)));
      }
      return reply.send({ success: true, data, meta: { next_cursor: next } });
    },
  );

  app.get(
    '/admin/security/blocks',
    {
      config: admin,
      schema: {
        operationId: 'admin.securityBlocks',
        description:
          'Each block with its address, reason, source (automatic or an admin), level and expiry; lifted and expired blocks too with include_ended=true.',
        tags: ['admin', 'security'],
        summary: 'Blocked addresses: active ones, or all with include_ended=true (newest first)',
        querystring: BlocksQuery,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(Type.Array(BlockSchema)) },
      },
    },
    async (request) => {
      const now = clock.now();
      const rows = await repository.listBlocks(db, {
        now,
        includeEnded: request.query.include_ended ?? false,
        limit: request.query.limit,
      });
      return { success: true, data: rows.map((row) => blockOut(row, now)) };
    },
  );

  app.post(
    '/admin/security/blocks',
    {
      config: admin,
      schema: {
        operationId: 'admin.createSecurityBlock',
        description:
          'Every request from the address answers 403 IP_BLOCKED until the block ends. A second block for the same address replaces the active one; audited.',
        tags: ['admin', 'security'],
        summary: 'Block an address for some minutes (replaces its active block; audited)',
        body: BlockBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONFLICT'), 201: Success(BlockSchema) },
      },
    },
    async (request, reply) => {
      const actor = request.actor;
      if (!actor) throw new AppError('UNAUTHORIZED', 'Sign in first');
      const row = await security.blockByAdmin(actor, {
        ip: request.body.ip,
        minutes: request.body.minutes ?? 60,
        reason: request.body.reason,
      });
      return reply.code(201).send({ success: true, data: blockOut(row, clock.now()) });
    },
  );

  app.delete(
    '/admin/security/blocks/:id',
    {
      config: admin,
      // The reason is optional, so no body at all is fine.
      preValidation: (request, _reply, done) => {
        (request as { body: unknown }).body ??= {};
        done();
      },
      schema: {
        operationId: 'admin.liftSecurityBlock',
        description:
          'Ends an active block at once, with an optional reason (audited); the address starts again with no threat score. A block already ended answers 409 INVALID_STATE.',
        tags: ['admin', 'security'],
        summary:
          "Lift an active block now (the address's score starts again at zero; audited); the body may be left out",
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        body: Type.Optional(LiftBody),
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'INVALID_STATE'),
          200: Success(BlockSchema),
        },
      },
    },
    async (request) => {
      const actor = request.actor;
      if (!actor) throw new AppError('UNAUTHORIZED', 'Sign in first');
      const row = await security.lift(actor, request.params.id, request.body?.reason ?? 'lifted by an admin');
      return { success: true, data: blockOut(row, clock.now()) };
    },
  );

  app.get(
    '/admin/security/summary',
    {
      config: admin,
      schema: {
        operationId: 'admin.securitySummary',
        description:
          'Since the start of the window: counts by event type, severity and hour, the 10 addresses with the most events, and the blocks in force.',
        tags: ['admin', 'security'],
        summary: 'Events by type, severity and hour, the 10 busiest addresses and the active blocks',
        querystring: SummaryQuery,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(SummarySchema) },
      },
    },
    async (request) => {
      await security.flush();
      const now = clock.now();
      const since = new Date(now.getTime() - (request.query.hours ?? 24) * 3_600_000);
      const summary = await repository.summary(db, since, now);
      const byType: Record<string, number> = {};
      for (const row of summary.byTypeAndHour) byType[row.type] = (byType[row.type] ?? 0) + row.count;
      return {
        success: true,
        data: {
          since: since.toISOString(),
          by_type: byType,
          by_severity: Object.fromEntries(summary.bySeverity.map((row) => [row.severity, row.count])),
          by_hour: summary.byTypeAndHour,
          top_ips: summary.topIps.map((row) => ({
            ip: row.ip as string,
            events: row.count,
            points: row.points,
            last_seen: new Date(row.last_seen).toISOString(),
            blocked: security.blockedUntil(row.ip as string) !== undefined,
          })),
          active_blocks: summary.active.map((row) => blockOut(row, now)),
        },
      };
    },
  );
};
