import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import type { RemindersService } from './reminders.service.js';

const Channel = Type.Union([Type.Literal('whatsapp'), Type.Literal('email')]);
const RecurrenceSchema = Type.Object(
  {
    kind: Type.Union([
      Type.Literal('daily'),
      Type.Literal('weekly'),
      Type.Literal('monthly'),
      Type.Literal('every_n_months'),
    ]),
    interval_months: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, description: 'for every_n_months' })),
  },
  { additionalProperties: false },
);
const Fields = {
  title: Type.String({ minLength: 1, maxLength: 120, description: 'your words; no health meaning is stored' }),
  starts_at: Type.String({ format: 'date-time', description: 'first occurrence, ISO 8601 with offset' }),
  time_zone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone the reminder keeps its wall time in' }),
  recurrence: Type.Union([RecurrenceSchema, Type.Null()], { description: 'null = once' }),
  channel: Channel,
};

const ReminderSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  starts_at: Type.String({ format: 'date-time' }),
  local_start: Type.String({ description: 'first occurrence as wall time in time_zone' }),
  time_zone: Type.String(),
  recurrence: Type.Union([RecurrenceSchema, Type.Null()]),
  channel: Channel,
  active: Type.Boolean(),
  priority: Type.Boolean({ description: 'trial and premium reminders are sent with priority' }),
  next_occurrence_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const remindersRoutes: FastifyPluginAsyncTypebox<{ reminders: RemindersService }> = async (
  app,
  { reminders },
) => {
  const tags = ['reminders'];
  const config = { access: requireAuth() };
  const writeErrors = errorResponses('VALIDATION_ERROR', 'CONSENT_REQUIRED', 'PHONE_REQUIRED', 'PREMIUM_REQUIRED');

  app.get(
    '/me/reminders',
    {
      config: { ...config, etag: false },
      schema: {
        operationId: 'reminders.listReminders',
        description: 'All your reminders, active or paused, with their next occurrence.',
        tags,
        summary: 'Your reminders',
        response: { ...errorResponses(), 200: Success(Type.Array(ReminderSchema)) },
      },
    },
    async (request) => ({ success: true, data: await reminders.list(actorOf(request)) }),
  );

  app.get(
    '/me/reminders/:id',
    {
      config: { ...config, etag: false },
      schema: {
        operationId: 'reminders.getReminder',
        description: "One reminder with its next occurrence; another person's answers 404.",
        tags,
        summary: 'One of your reminders',
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND'), 200: Success(ReminderSchema) },
      },
    },
    async (request) => ({ success: true, data: await reminders.get(actorOf(request), request.params.id) }),
  );

  app.post(
    '/me/reminders',
    {
      config,
      schema: {
        operationId: 'reminders.createReminder',
        description:
          'Schedules a reminder at a wall time in `time_zone`, once or on a recurrence. The free plan keeps 2 active reminders (403 PREMIUM_REQUIRED beyond); WhatsApp needs your WhatsApp consent (409 CONSENT_REQUIRED) and a phone number on your account (409 PHONE_REQUIRED). Answers the reminder with its next occurrence.',
        tags,
        summary: 'Set a reminder (free plan: 2 active; WhatsApp needs your consent and a phone number)',
        body: Type.Object(
          { ...Fields, recurrence: Type.Optional(Fields.recurrence) },
          {
            additionalProperties: false,
            examples: [
              {
                title: 'Book my screening',
                starts_at: '2027-01-04T09:00:00+00:00',
                time_zone: 'Europe/London',
                channel: 'email',
                recurrence: { kind: 'every_n_months', interval_months: 12 },
              },
            ],
          },
        ),
        response: { ...writeErrors, 201: Success(ReminderSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await reminders.create(actorOf(request), request.body) }),
  );

  app.patch(
    '/me/reminders/:id',
    {
      config,
      schema: {
        operationId: 'reminders.updateReminder',
        description:
          "Changes the fields sent; `active: false` pauses it and `active: true` resumes it (the free plan's limit applies again). The next occurrence is recomputed.",
        tags,
        summary: 'Change a reminder, or pause and resume it with `active`',
        params: IdParams,
        body: Type.Object(
          {
            title: Type.Optional(Fields.title),
            starts_at: Type.Optional(Fields.starts_at),
            time_zone: Type.Optional(Fields.time_zone),
            recurrence: Type.Optional(Fields.recurrence),
            channel: Type.Optional(Fields.channel),
            active: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { ...writeErrors, ...errorResponses('NOT_FOUND'), 200: Success(ReminderSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await reminders.update(actorOf(request), request.params.id, request.body),
    }),
  );

  app.delete(
    '/me/reminders/:id',
    {
      config,
      schema: {
        operationId: 'reminders.deleteReminder',
        description: 'Deletes the reminder; nothing more is sent for it.',
        tags,
        summary: 'Delete a reminder',
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await reminders.remove(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
