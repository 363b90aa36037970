import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import {
  AdminNotificationSchema,
  AdminNotificationsQuery,
  PreferencesSchema,
  PutPreferencesBody,
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
    '/admin/notifications',
    {
      config: { ...admin, etag: false },
      schema: {
        operationId: 'admin.listNotifications',
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
