import { type TSchema, Type } from '@sinclair/typebox';
import { DateOnly, pageQuery } from '../../shared/http-schemas.js';
import { MAX_BATCH } from './analytics.ingest.js';

const Rate = Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
  description: 'a fraction 0-1 (4 places); null when its denominator is 0 or not yet measurable',
});
const Day = { ...DateOnly, description: 'a UTC date, YYYY-MM-DD' };

export const IngestBody = Type.Object(
  {
    events: Type.Array(
      Type.Unknown({ description: '{ name, time, device_id, properties }, each checked on its own' }),
      {
        minItems: 1,
        maxItems: MAX_BATCH,
      },
    ),
  },
  { additionalProperties: false },
);

export const IngestResultSchema = Type.Object({
  accepted: Type.Integer({
    description: 'valid events taken: those stored, plus anonymous repeats already counted (see duplicates)',
  }),
  duplicates: Type.Integer({
    description:
      'of the accepted, anonymous events not stored again: the same device already sent the same event for the same item on that UTC day',
  }),
  rejected: Type.Array(
    Type.Object({
      index: Type.Integer({ description: 'position in the batch' }),
      reason: Type.String({
        description:
          'invalid_event | unknown_event | server_only_event | invalid_time | time_out_of_range | invalid_device_id | invalid_properties',
      }),
      detail: Type.String(),
    }),
  ),
  dropped_no_consent: Type.Integer({ description: 'valid events not stored: you have not granted analytics consent' }),
  dropped_properties: Type.Integer({
    description:
      "properties removed before storage because the event's catalogue entry does not declare them (summed over the batch)",
  }),
});

export const ReportQuerySchema = Type.Object(
  {
    from: Type.Optional({ ...Day, description: 'first day (UTC), default 29 days before `to`' }),
    to: Type.Optional({ ...Day, description: 'last day (UTC), inclusive; default today' }),
    plan: Type.Optional(Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')])),
    country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2' })),
    format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }),
  },
  { additionalProperties: false },
);

export const FunnelQuerySchema = Type.Composite(
  [Type.Object({ journey: Type.Union([Type.Literal('wellness'), Type.Literal('marketplace')]) }), ReportQuerySchema],
  { additionalProperties: false },
);

const Ranged = <T extends Record<string, TSchema>>(properties: T) => Type.Object({ from: Day, to: Day, ...properties });

export const FunnelSchema = Ranged({
  journey: Type.String(),
  steps: Type.Array(
    Type.Object({
      step: Type.String(),
      event: Type.String(),
      count: Type.Integer(),
      conversion_from_previous: Rate,
      conversion_from_start: Rate,
    }),
  ),
});

const RetentionWindow = Type.Object({ retained: Type.Integer(), rate: Rate, measurable: Type.Boolean() });
export const RetentionSchema = Ranged({
  cohorts: Type.Array(
    Type.Object({ cohort_week: Day, size: Type.Integer(), day_7: RetentionWindow, day_30: RetentionWindow }),
  ),
});

export const ActivationSchema = Ranged({
  signups: Type.Integer(),
  activated: Type.Integer(),
  rate: Rate,
  definition: Type.String(),
});

export const EngagementSchema = Ranged({
  active_subjects: Type.Integer(),
  average_score: Type.Number(),
  median_score: Type.Number(),
  buckets: Type.Array(Type.Object({ bucket: Type.String(), subjects: Type.Integer() })),
  daily: Type.Array(Type.Object({ day: Day, events: Type.Integer(), active_subjects: Type.Integer() })),
});

export const AdoptionSchema = Ranged({
  features: Type.Array(
    Type.Object({
      feature: Type.String(),
      plan: Type.String(),
      users: Type.Integer(),
      active_users: Type.Integer(),
      rate: Rate,
    }),
  ),
});

export const ConversionSchema = Ranged({
  signups: Type.Integer(),
  trials_started: Type.Integer(),
  premium: Type.Integer(),
  free_to_trial_rate: Rate,
  trial_to_premium_rate: Rate,
  free_to_premium_rate: Rate,
});

export const ContentSchema = Ranged({
  items: Type.Array(
    Type.Object({
      content_id: Type.String(),
      title: Type.Union([Type.String(), Type.Null()]),
      views: Type.Integer({
        description: 'views by signed-in people (events under a pseudonym); the ranking uses these',
      }),
      anonymous_views: Type.Integer({
        description:
          'views not tied to a signed-in person (no account, objected to analytics), at most one per device and UTC day; never used for the ranking',
      }),
      unique_viewers: Type.Integer({ description: 'distinct signed-in people who viewed the item' }),
      plan_view_conversion: Rate,
      rank: Type.Integer(),
      low_performer: Type.Boolean(),
    }),
  ),
});

export const SupportSchema = Ranged({
  total: Type.Integer(),
  by_priority: Type.Array(Type.Object({ priority: Type.String(), requests: Type.Integer() })),
  by_plan: Type.Array(Type.Object({ plan: Type.String(), requests: Type.Integer() })),
  weekly: Type.Array(Type.Object({ week: Day, requests: Type.Integer() })),
  by_weekday: Type.Array(Type.Object({ weekday: Type.Integer({ minimum: 1, maximum: 7 }), requests: Type.Integer() })),
});

export const StoredEventSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  occurred_at: Type.String({ format: 'date-time' }),
  subject: Type.Union([Type.String(), Type.Null()], { description: 'pseudonym; null = not linkable to anyone' }),
  cohort_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'when the pseudonym began (the sign-up): cohorts are counted from it',
  }),
  source: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  country: Type.Union([Type.String(), Type.Null()]),
  properties: Type.Record(Type.String(), Type.Unknown()),
});

export const EventsQuerySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 60 })),
    from: Type.Optional(Day),
    to: Type.Optional(Day),
    ...pageQuery(50),
  },
  { additionalProperties: false },
);

export const AdvancedSchema = Type.Object({
  linked: Type.Boolean({ description: 'false when you withdrew analytics consent: nothing is tied to you' }),
  weeks: Type.Integer(),
  weekly: Type.Array(Type.Object({ week: Day, events: Type.Integer() })),
  by_event: Type.Array(Type.Object({ name: Type.String(), count: Type.Integer() })),
  active_days: Type.Integer(),
  score: Type.Number({ description: 'your engagement score over the period' }),
  platform_median_score: Type.Union([Type.Number(), Type.Null()], {
    description: "the median person's score over the same period",
  }),
});
