import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { requirePermission, requirePremium } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { toCsv } from '../../shared/csv.js';
import { errorResponses, Nullable, Success } from '../../shared/http-schemas.js';
import {
  ActivationSchema,
  AdoptionSchema,
  AdvancedSchema,
  ContentSchema,
  ConversionSchema,
  EngagementSchema,
  EventsQuerySchema,
  FunnelQuerySchema,
  FunnelSchema,
  IngestBody,
  IngestResultSchema,
  ReportQuerySchema,
  RetentionSchema,
  StoredEventSchema,
  SupportSchema,
} from './analytics.schemas.js';
import type { AnalyticsService, ReportQuery } from './analytics.service.js';

type Row = Record<string, unknown>;

/** What every report's description says of its window, source and formats. */
const REPORT_WINDOW =
  'Over the UTC days `from` to `to` (default: the 30 days up to today), optionally for one `plan` or `country`. ' +
  'Computed from pseudonymous events only and cached 5 minutes; `?format=csv` answers the rows as a CSV attachment.';

/** A report answers JSON, or CSV rows with `?format=csv`. */
const reportResponse = <S extends TSchema>(schema: S) => ({
  description: 'The report (JSON), or its rows as CSV with ?format=csv',
  content: {
    'application/json': { schema: Success(schema) },
    'text/csv': { schema: Type.String({ description: 'a header row, then one row per line of the report' }) },
  },
});

/** Each report as flat rows, for `?format=csv`. */
const CSV_ROWS = {
  funnel: (data: Static<typeof FunnelSchema>) => data.steps.map((step) => ({ journey: data.journey, ...step })),
  retention: (data: Static<typeof RetentionSchema>) =>
    data.cohorts.map((cohort) => ({
      cohort_week: cohort.cohort_week,
      size: cohort.size,
      day_7_retained: cohort.day_7.retained,
      day_7_rate: cohort.day_7.rate,
      day_30_retained: cohort.day_30.retained,
      day_30_rate: cohort.day_30.rate,
    })),
  activation: (data: Static<typeof ActivationSchema>) => [data],
  engagement: (data: Static<typeof EngagementSchema>) => data.daily,
  adoption: (data: Static<typeof AdoptionSchema>) => data.features,
  conversion: (data: Static<typeof ConversionSchema>) => [data],
  content: (data: Static<typeof ContentSchema>) => data.items,
  support: (data: Static<typeof SupportSchema>) => [
    ...data.by_priority.map((row) => ({ dimension: 'priority', key: row.priority, requests: row.requests })),
    ...data.by_plan.map((row) => ({ dimension: 'plan', key: row.plan, requests: row.requests })),
    ...data.weekly.map((row) => ({ dimension: 'week', key: row.week, requests: row.requests })),
    ...data.by_weekday.map((row) => ({ dimension: 'weekday', key: row.weekday, requests: row.requests })),
  ],
} satisfies Record<string, (data: never) => Row[]>;

export const analyticsRoutes: FastifyPluginAsyncTypebox<{ analytics: AnalyticsService }> = async (
  app,
  { analytics },
) => {
  const send = (reply: FastifyReply, name: string, format: 'json' | 'csv', data: Row, rows: Row[]) => {
    if (format === 'json') return reply.send({ success: true, data });
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${name}-${data.from}-${data.to}.csv"`)
      .send(toCsv(rows));
  };

  const reportRoute = <S extends TSchema>(
    path: keyof typeof CSV_ROWS,
    summary: string,
    schema: S,
    run: (query: ReportQuery) => Promise<Static<S>>,
  ) => {
    app.get(
      `/admin/analytics/${path}`,
      {
        config: { access: requirePermission('analytics:read'), etag: false },
        schema: {
          operationId: `analytics.${path}`,
          tags: ['analytics'],
          summary: `${summary} (cached 5 minutes; ?format=csv answers text/csv)`,
          description: REPORT_WINDOW,
          querystring: ReportQuerySchema,
          response: { ...errorResponses('VALIDATION_ERROR'), 200: reportResponse(schema) },
        },
      },
      async (request, reply) => {
        const data = (await run(request.query)) as Row;
        return send(reply, path, request.query.format, data, (CSV_ROWS[path] as unknown as (data: Row) => Row[])(data));
      },
    );
  };

  app.post(
    '/events',
    {
      config: { etag: false },
      schema: {
        operationId: 'analytics.ingest',
        tags: ['analytics'],
        summary:
          'Record up to 500 client events; each is checked on its own (rejected ones come back with their index)',
        description:
          "A signed-in person's events are stored only with that person's analytics consent; anonymous events are stored without a subject, " +
          'once per device, event, item and UTC day: a repeat is accepted (in `accepted`) and counted in `duplicates`, never stored twice. ' +
          'Only events the catalogue lets apps send are taken, and their properties are sanitised. Answers 202 with the counts ' +
          '(accepted, duplicates, dropped for lack of consent or for undeclared properties) and each rejected event with its index and reason.',
        body: {
          ...IngestBody,
          examples: [
            {
              events: [
                {
                  name: 'content_viewed',
                  time: '2026-12-01T09:30:00Z',
                  device_id: 'web:5f3c2a',
                  properties: { content_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e5f' },
                },
                { name: 'diet_plan_viewed', time: '2026-12-01T09:31:10Z', device_id: 'web:5f3c2a' },
              ],
            },
          ],
        },
        response: { ...errorResponses('VALIDATION_ERROR', 'TOKEN_INVALID'), 202: Success(IngestResultSchema) },
      },
    },
    async (request, reply) => {
      // A token that does not verify is an error, not a reason to file the person's events as anonymous.
      if (request.authError) throw request.authError;
      const result = await analytics.ingest(request.actor, request.body.events);
      return reply.code(202).send({ success: true, data: result });
    },
  );

  app.get(
    '/admin/analytics/funnel',
    {
      config: { access: requirePermission('analytics:read'), etag: false },
      schema: {
        operationId: 'analytics.funnel',
        tags: ['analytics'],
        summary:
          'Funnel with per-step conversion: wellness (sign-up → profile → content → engaged → retained day 7) or ' +
          'marketplace (search → slot viewed → booking → completed); cached 5 minutes; ?format=csv',
        description: `How many people reached each step of the \`journey\` in the window, and the conversion from the step before. ${REPORT_WINDOW}`,
        querystring: FunnelQuerySchema,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: reportResponse(FunnelSchema) },
      },
    },
    async (request, reply) => {
      const { journey, ...query } = request.query;
      const data = await analytics.funnel(journey, query);
      return send(reply, `funnel-${journey}`, query.format, data, CSV_ROWS.funnel(data));
    },
  );

  reportRoute(
    'retention',
    'Weekly sign-up cohorts with day-7 and day-30 retention and the counts behind them',
    RetentionSchema,
    analytics.retention,
  );
  reportRoute(
    'activation',
    'Activation rate of the people who signed up in the range',
    ActivationSchema,
    analytics.activation,
  );
  reportRoute(
    'engagement',
    'Engagement scores (weighted events per person) and events per day',
    EngagementSchema,
    analytics.engagement,
  );
  reportRoute('adoption', 'Feature adoption by plan', AdoptionSchema, analytics.adoption);
  reportRoute(
    'conversion',
    'Free → trial → premium conversion of the people who signed up in the range',
    ConversionSchema,
    analytics.conversion,
  );
  reportRoute(
    'content',
    'Content performance: views by signed-in people, anonymous views (apart, never ranked on), unique viewers, ' +
      'conversion to plan views, ranking (by signed-in views, then unique viewers), low performers',
    ContentSchema,
    analytics.content,
  );
  reportRoute(
    'support',
    'Support-request patterns: by priority, plan, week and weekday',
    SupportSchema,
    analytics.support,
  );

  app.get(
    '/admin/analytics/demo-history',
    {
      config: { access: requirePermission('analytics:read'), etag: false },
      schema: {
        operationId: 'analytics.demoHistory',
        tags: ['analytics'],
        summary: 'Whether the reports include the demo’s synthetic history (made-up people), and its span',
        description:
          'The demo data (`npm start`, `npm run seed`) adds a synthetic analytics history unless `SEED_ANALYTICS_HISTORY=false`: made-up people, not accounts, every event marked `synthetic: true`. `synthetic` is false where none was seeded (production never has one).',
        response: {
          ...errorResponses(),
          200: Success(
            Type.Object({
              synthetic: Type.Boolean(),
              people: Nullable(Type.Integer({ description: 'made-up people in the history' })),
              events: Nullable(Type.Integer({ description: 'synthetic events stored' })),
              from: Nullable(Type.String({ format: 'date-time' })),
              to: Nullable(Type.String({ format: 'date-time' })),
            }),
          ),
        },
      },
    },
    async () => ({ success: true, data: await analytics.demoHistory() }),
  );

  app.get(
    '/admin/analytics/events',
    {
      config: { access: requirePermission('analytics:read'), etag: false },
      schema: {
        operationId: 'analytics.events',
        description:
          'For checking what is collected: the newest stored events with their pseudonymous subject, cohort, plan, country and sanitised properties. Never a name, an email or a free text.',
        tags: ['analytics'],
        summary: 'The latest stored events, exactly as stored (sanitised, pseudonymous), newest first',
        querystring: EventsQuerySchema,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(StoredEventSchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const page = await analytics.latestEvents(request.query);
      return { success: true, data: page.events, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.get(
    '/analytics/advanced',
    {
      config: { access: requirePremium(), etag: false },
      schema: {
        operationId: 'analytics.advanced',
        description:
          "Your own activity over the last 12 weeks (events per week and by kind, active days, an engagement score) next to the median person's score. Computed from your pseudonymous events only.",
        tags: ['analytics'],
        summary: 'Premium: your own engagement over the last 12 weeks, and how it compares with the median person',
        response: { ...errorResponses('PREMIUM_REQUIRED'), 200: Success(AdvancedSchema) },
      },
    },
    async (request) => ({ success: true, data: await analytics.advanced(actorOf(request)) }),
  );
};
