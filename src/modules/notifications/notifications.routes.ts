import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import {
  AdminNotificationSchema,
  AdminNotificationsQuery,
  DeviceSchema,
  PreferencesSchema,
  PutPreferencesBody,
  RegisterDeviceBody,
  SmsStatusSchema,
  TwilioStatusBody,
  VapidKeySchema,
} from './notifications.schemas.js';
import type { NotificationsService } from './notifications.service.js';

export const notificationsRoutes: FastifyPluginAsyncTypebox<{ notifications: NotificationsService }> = async (
  app,
  { notifications },
) => {
  const tags = ['notifications'];
  const admin = { access: requirePermission('notifications:manage') };

  app.get(
    '/me/notification-preferences',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'notifications.getPreferences',
        description:
          'Which channels may carry your messages, your quiet hours and the time zone they are read in. Before you change anything, the defaults are answered.',
        tags,
        summary: 'Your channels, quiet hours and time zone for messages (defaults until you change them)',
        response: { ...errorResponses(), 200: Success(PreferencesSchema) },
      },
    },
    async (request) => ({ success: true, data: await notifications.getPreferences(actorOf(request)) }),
  );

  app.put(
    '/me/notification-preferences',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'notifications.updatePreferences',
        description:
          "Replaces the whole set: channels, quiet hours and time zone (null or left out: your account's). Answers what is now stored.",
        tags,
        summary: 'Replace your channels, quiet hours and time zone (null or absent: your account time zone)',
        body: PutPreferencesBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(PreferencesSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await notifications.updatePreferences(actorOf(request), request.body),
    }),
  );

  app.get(
    '/me/devices',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'notifications.listDevices',
        description:
          'The devices that receive your push messages: kind (FCM or Web Push), platform, label, when registered and last used.',
        tags,
        summary: 'Your push devices (FCM tokens and Web Push subscriptions)',
        response: { ...errorResponses(), 200: Success(Type.Array(DeviceSchema)) },
      },
    },
    async (request) => ({ success: true, data: await notifications.listDevices(actorOf(request)) }),
  );

  app.post(
    '/me/devices',
    {
      // The endpoint gets its own stricter check (public HTTPS push hosts only, 400 naming the
      // field); inspection records and scores a suspicious one without answering for it.
      config: { access: requireAuth(), inspection: { freeText: ['body.endpoint'] } },
      schema: {
        operationId: 'notifications.registerDevice',
        tags,
        summary: 'Register a device for push messages',
        description:
          'An FCM registration token (`kind: fcm`, with `platform`) or a Web Push subscription (`kind: webpush`, with `endpoint` and `keys` from `PushSubscription.toJSON()`). Registering a token again is harmless; one registered by another account moves to yours. At most 20 devices.',
        body: RegisterDeviceBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONFLICT'), 201: Success(DeviceSchema) },
      },
    },
    async (request, reply) => {
      const device = await notifications.registerDevice(actorOf(request), request.body);
      return reply.code(201).send({ success: true, data: device });
    },
  );

  app.delete(
    '/me/devices/:id',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'notifications.removeDevice',
        description:
          "Deletes the device registration; no more push messages go to it. Another person's device id answers 404.",
        tags,
        summary: 'Stop push messages to one of your devices',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await notifications.removeDevice(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/push/vapid-public-key',
    {
      schema: {
        operationId: 'notifications.vapidPublicKey',
        description:
          'The application server key a browser passes to PushManager.subscribe to create a Web Push subscription; 404 when Web Push is not configured.',
        tags,
        summary: "The server's VAPID public key, for a browser's PushManager.subscribe",
        response: { ...errorResponses('NOT_FOUND'), 200: Success(VapidKeySchema) },
      },
    },
    async () => ({ success: true, data: notifications.vapidPublicKey() }),
  );

  await app.register(twilioWebhookRoutes, { notifications });

  app.get(
    '/admin/notifications',
    {
      config: { ...admin, etag: false },
      schema: {
        operationId: 'admin.listNotifications',
        description:
          'Every outbound message with its channel, status, attempts, last error and delivery report, filtered by status and channel, newest first. Message text is never shown.',
        tags: ['admin'],
        summary: 'Outbound messages, newest first, by status and channel (cursor pagination; no message content)',
        querystring: AdminNotificationsQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(AdminNotificationSchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const { status, channel, limit, cursor } = request.query;
      const page = await notifications.adminList(actorOf(request), { status, channel, limit, cursor });
      return { success: true, data: page.notifications, meta: { next_cursor: page.nextCursor ?? null } };
    },
  );

  app.post(
    '/admin/notifications/:id/retry',
    {
      config: admin,
      schema: {
        operationId: 'admin.retryNotification',
        description:
          'Puts a dead or cancelled message back in the queue (audited). Consent, quiet hours and the channel are checked again when it is sent; a message in another state answers 409.',
        tags: ['admin'],
        summary: 'Queue a dead or cancelled message again (checked again at send time; audited)',
        params: IdParams,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'),
          200: Success(AdminNotificationSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await notifications.adminRetry(actorOf(request), request.params.id),
    }),
  );
};

/**
 * Twilio's status callbacks arrive form-encoded; the signature covers the URL and every field, so
 * the fields are read exactly as sent. Not rate limited: Twilio's reports must get through.
 */
const twilioWebhookRoutes: FastifyPluginAsyncTypebox<{ notifications: NotificationsService }> = async (
  app,
  { notifications },
) => {
  (app as unknown as FastifyInstance).addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.post(
    '/webhooks/twilio/status',
    {
      // Signed by the gateway and checked here: inspection would only risk refusing a real event.
      config: { rateLimit: false, inspection: false },
      schema: {
        operationId: 'notifications.twilioStatus',
        tags: ['webhooks'],
        summary: 'SMS delivery reports from Twilio (set as each message’s StatusCallback)',
        description:
          'Verified with `X-Twilio-Signature` (HMAC-SHA1 with TWILIO_AUTH_TOKEN over PUBLIC_API_URL + this path + its query, and the form fields sorted by name). Records queued/sent/delivered/undelivered/failed on the notification; a status never moves back.',
        consumes: ['application/x-www-form-urlencoded'],
        body: TwilioStatusBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'WEBHOOK_SIGNATURE_INVALID', 'NOT_FOUND'),
          200: Success(SmsStatusSchema),
        },
      },
    },
    async (request) => {
      const raw = request.raw.url ?? '';
      const query = raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '';
      const signature = request.headers['x-twilio-signature'];
      return {
        success: true as const,
        data: await notifications.receiveSmsStatus(
          request.body as Record<string, string>,
          query,
          typeof signature === 'string' ? signature : undefined,
        ),
      };
    },
  );
};
