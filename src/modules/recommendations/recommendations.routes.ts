import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requirePermission, requirePremium } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, Success } from '../../shared/http-schemas.js';
import type { PlanKind, RecommendationsService } from './recommendations.service.js';

const PlanSchema = Type.Object({
  plan: Type.Union([Type.Literal('diet'), Type.Literal('protection')]),
  personalised: Type.Boolean({ description: 'false: general guidance only (see would_personalise)' }),
  items: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      slug: Type.String(),
      title: Type.String(),
      summary: Type.String(),
      body: Type.String({ description: 'Markdown' }),
      tags: Type.Array(Type.String()),
      tier: Type.Union([Type.Literal('free'), Type.Literal('premium')]),
      why: Type.Array(Type.String(), { description: 'the profile facts this item matched' }),
    }),
  ),
  would_personalise: Type.Array(Type.String(), { description: 'profile fields that would bring more specific items' }),
  profile_completion: Type.Integer(),
  missing_fields: Type.Array(Type.String()),
  generated_at: Type.String({ format: 'date-time' }),
  disclaimer: Type.String(),
});

const InsightsSchema = Type.Object({
  period: Type.Object({ from: Type.String(), to: Type.String(), weeks: Type.Integer() }),
  totals: Type.Object({ plans_viewed: Type.Integer(), content_read: Type.Integer(), reminders_kept: Type.Integer() }),
  weekly: Type.Array(
    Type.Object({
      week: Type.String({ description: 'Monday of the week (UTC), YYYY-MM-DD' }),
      plans_viewed: Type.Integer(),
      content_read: Type.Integer(),
      reminders_kept: Type.Integer(),
    }),
  ),
  next_steps: Type.Array(Type.Object({ action: Type.String(), why: Type.String() })),
});

export const recommendationsRoutes: FastifyPluginAsyncTypebox<{ recommendations: RecommendationsService }> = async (
  app,
  { recommendations },
) => {
  const planRoute = (kind: PlanKind, path: string, operationId: string, summary: string) =>
    app.get(
      path,
      {
        config: { access: requirePermission('recommendations:read'), etag: false },
        schema: {
          operationId,
          tags: ['recommendations'],
          summary,
          description:
            'Built from your lifestyle profile on each call (never cached). `personalised` says whether your profile was enough to tailor it; ' +
            '`profile_completion` and `missing_fields` say what filling it in would add. Guidance, not a diagnosis: show `disclaimer` with it.',
          response: { ...errorResponses(), 200: Success(PlanSchema) },
        },
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'private, no-store')
          .send({ success: true, data: await recommendations.plan(actorOf(request), kind) }),
    );

  planRoute(
    'diet',
    '/me/recommendations/diet-plan',
    'recommendations.getDietPlan',
    'Your diet plan: building blocks that match your profile, each with why it was chosen',
  );
  planRoute(
    'protection',
    '/me/recommendations/protection-plan',
    'recommendations.getProtectionPlan',
    'Your protection plan: screening, vaccination and habits that match your profile, with reasons',
  );

  app.get(
    '/me/insights',
    {
      config: { access: requirePremium(), etag: false },
      schema: {
        operationId: 'recommendations.getInsights',
        description:
          'Your activity over the last 12 weeks (totals and per week) and next steps suggested from it, each with why.',
        tags: ['recommendations'],
        summary: 'Premium: your engagement over the last 12 weeks and suggested next steps',
        response: { ...errorResponses('PREMIUM_REQUIRED'), 200: Success(InsightsSchema) },
      },
    },
    async (request) => ({ success: true, data: await recommendations.insights(actorOf(request)) }),
  );
};
