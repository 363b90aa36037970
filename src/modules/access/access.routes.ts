import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, Success } from '../../shared/http-schemas.js';
import type { IdentityService } from '../identity/index.js';
import type { AccessService } from './access.service.js';

const RoleSchema = Type.Union([Type.Literal('user'), Type.Literal('provider'), Type.Literal('admin')]);
const PlanSchema = Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')]);

const RulesSchema = Type.Object(
  {
    plans: Type.Optional(Type.Array(PlanSchema, { uniqueItems: true })),
    roles: Type.Optional(Type.Array(RoleSchema, { uniqueItems: true })),
    attributes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            // The user attributes the evaluator knows today; country arrives with the wellness profile.
            attribute: Type.Union([Type.Literal('locale'), Type.Literal('time_zone')]),
            op: Type.Union([Type.Literal('in'), Type.Literal('not_in')]),
            values: Type.Array(Type.String({ maxLength: 128 }), { minItems: 1, maxItems: 500 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 20 },
      ),
    ),
  },
  { additionalProperties: false },
);

const FlagKey = Type.String({ pattern: '^[a-z][a-z0-9_.-]{1,63}$', description: 'e.g. new_checkout' });
const FlagFields = {
  description: Type.Optional(Type.String({ maxLength: 500 })),
  enabled: Type.Optional(Type.Boolean({ description: 'the kill switch' })),
  rollout_percentage: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  rules: Type.Optional(RulesSchema),
  enable_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  disable_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
};

const FlagSchema = Type.Object({
  key: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  rollout_percentage: Type.Integer(),
  rules: RulesSchema,
  enable_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  disable_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const EntitlementsSchema = Type.Object({
  role: RoleSchema,
  plan: PlanSchema,
  trial_expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  trial_days_left: Type.Integer(),
  trial_available: Type.Boolean(),
  permissions: Type.Array(Type.String()),
  features: Type.Array(Type.String()),
  flags: Type.Record(Type.String(), Type.Boolean()),
  premium_usage: Type.Record(Type.String(), Type.Integer()),
});

const KeyParams = Type.Object({ key: FlagKey });

export const accessRoutes: FastifyPluginAsyncTypebox<{
  access: AccessService;
  identity: Pick<IdentityService, 'startTrial'>;
}> = async (app, { access, identity }) => {
  app.get(
    '/me/entitlements',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'access.getEntitlements',
        description:
          'Everything an app needs to show or hide features: role, plan, trial end and days left, whether a trial can still start, permissions, plan features, each feature flag evaluated for you, and your premium usage.',
        tags: ['access'],
        summary: 'Role, plan, trial days left, features, and every feature flag for you — in one call',
        response: { ...errorResponses(), 200: Success(EntitlementsSchema) },
      },
    },
    async (request) => ({ success: true, data: await access.entitlements(actorOf(request)) }),
  );

  app.post(
    '/me/trial',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'access.startTrial',
        description:
          'Moves you to the `trial` plan for 14 days, once per account (409 TRIAL_ALREADY_USED the second time). Answers the plan and when the trial ends.',
        tags: ['access'],
        summary: 'Start the 14-day premium trial (once per account)',
        response: {
          ...errorResponses('TRIAL_ALREADY_USED', 'CONFLICT'),
          201: Success(Type.Object({ plan: PlanSchema, trial_expires_at: Type.Union([Type.String(), Type.Null()]) })),
        },
      },
    },
    async (request, reply) => {
      const user = await identity.startTrial(actorOf(request));
      return reply
        .code(201)
        .send({ success: true, data: { plan: user.plan, trial_expires_at: user.trial_expires_at } });
    },
  );

  const admin = { access: requirePermission('flags:manage') };

  app.get(
    '/admin/flags',
    {
      config: { ...admin, etag: false },
      schema: {
        operationId: 'admin.listFlags',
        description: 'Each flag with its state, rollout percentage, segment rules and schedule.',
        tags: ['admin'],
        summary: 'All feature flags',
        response: { ...errorResponses(), 200: Success(Type.Array(FlagSchema)) },
      },
    },
    async () => ({ success: true, data: await access.listFlags() }),
  );

  app.post(
    '/admin/flags',
    {
      config: admin,
      schema: {
        operationId: 'admin.createFlag',
        description:
          'A new flag, off with 0% rollout unless given (audited). A key already in use answers 409 FLAG_EXISTS.',
        tags: ['admin'],
        summary: 'Create a flag (off and at 0% unless said otherwise)',
        body: Type.Object({ key: FlagKey, ...FlagFields }, { additionalProperties: false }),
        response: { ...errorResponses('VALIDATION_ERROR', 'FLAG_EXISTS'), 201: Success(FlagSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await access.createFlag(actorOf(request), request.body) }),
  );

  app.patch(
    '/admin/flags/:key',
    {
      config: admin,
      schema: {
        operationId: 'admin.updateFlag',
        description:
          'Changes the fields sent: enabled (the kill switch), rollout percentage, segment rules, schedule (audited). Every instance sees the change within a second.',
        tags: ['admin'],
        summary: 'Change a flag; every instance sees it within a second',
        params: KeyParams,
        body: Type.Object(FlagFields, { additionalProperties: false, minProperties: 1 }),
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(FlagSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await access.updateFlag(actorOf(request), request.params.key, request.body),
    }),
  );

  app.delete(
    '/admin/flags/:key',
    {
      config: admin,
      schema: {
        operationId: 'admin.deleteFlag',
        description: 'Removes the flag (audited); code that still asks for it gets `off`.',
        tags: ['admin'],
        summary: 'Delete a flag (it then evaluates to off)',
        params: KeyParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await access.deleteFlag(actorOf(request), request.params.key);
      return reply.code(204).send(null);
    },
  );
};
