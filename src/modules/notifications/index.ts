import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AuditService } from '../audit/index.js';
import { channelHealthChecks, closeChannels, createChannels } from './channels/index.js';
import type { ConsentPurposeNeeded, Recipient } from './notifications.delivery.js';
import { createNotificationDevices } from './notifications.devices.js';
import { notificationsPersonalData, notificationsRetentionRules } from './notifications.privacy.js';
import { LEGACY_PASSWORD_RESET, NOTIFICATION_DELIVER, NOTIFICATION_DELIVERY_OPTIONS } from './notifications.queue.js';
import { createNotificationsRepository } from './notifications.repository.js';
import { notificationsRoutes } from './notifications.routes.js';
import { createNotificationsService, type NotificationsService } from './notifications.service.js';

export {
  ChannelRefused,
  type ChannelSettings,
  type NotificationChannel,
  n8nSignature,
  type OutboundMessage,
  smsSegments,
  twilioSignature,
} from './channels/index.js';
export type { CancelReason, ConsentPurposeNeeded, Recipient } from './notifications.delivery.js';
export { NOTIFICATION_DELIVER, RETRY_DELAYS_MS, type SendInput } from './notifications.queue.js';
export { quietUntil } from './notifications.quiet-hours.js';
export { CHANNEL_ORDER } from './notifications.routing.js';
export type { NotificationsService, Notify } from './notifications.service.js';
export { CHANNELS, type Channel, MESSAGE_PURPOSES, type MessagePurpose } from './notifications.tables.js';
export { TEMPLATES, type TemplateName } from './notifications.templates.js';

/**
 * Messages to people: queued in the caller's transaction, delivered by the outbox worker through
 * the configured channels (n8n for WhatsApp, SMTP for email; the log in development), within
 * their preferences, quiet hours, consent and weekly cap.
 */
export function createNotificationsModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    hasConsent: (userId: string, purpose: ConsentPurposeNeeded) => Promise<boolean>;
    /** Who a message goes to, read at delivery time (the identity module's account). */
    recipientOf: (userId: string) => Promise<Recipient | undefined>;
  },
): ModuleDescriptor<'notifications', NotificationsService> {
  const { config } = platform;
  const logger = platform.logger.child({ component: 'notifications' });
  const repository = createNotificationsRepository();
  const devices = createNotificationDevices({
    db: platform.db,
    repository,
    clock: platform.clock,
    ids: platform.ids,
    logger,
    isProduction: config.isProduction,
    vapidPublicKey: config.notifications.vapid?.publicKey,
  });
  // Transports chosen once from config: n8n / SMTP / Twilio / FCM / VAPID when set, else the log
  // (never in production).
  const channels = createChannels(config, { logger, clock: platform.clock, devices: devices.deviceBook });
  const twilio = config.notifications.twilio;
  const service = createNotificationsService({
    db: platform.db,
    repository,
    outbox: platform.outbox,
    channels,
    devices,
    audit: deps.audit,
    events: platform.events,
    clock: platform.clock,
    ids: platform.ids,
    logger,
    metrics: platform.metrics,
    twilio: twilio ? { authToken: twilio.authToken, statusCallbackUrl: twilio.statusCallbackUrl } : undefined,
    getRecipient: deps.recipientOf,
    hasConsent: deps.hasConsent,
    weeklyCap: config.notifications.weeklyCap,
    publicAppUrl: config.publicAppUrl,
  });
  return {
    name: 'notifications',
    service,
    routes: async (api) => api.register(notificationsRoutes, { notifications: service }),
    dataMap: notificationsPersonalData(repository),
    retention: notificationsRetentionRules(repository, { finishedDays: config.retention.notificationsDays }),
    outboxHandlers: [
      { type: NOTIFICATION_DELIVER, handle: service.deliver, options: NOTIFICATION_DELIVERY_OPTIONS },
      { type: LEGACY_PASSWORD_RESET, handle: service.relayPasswordReset },
    ],
    health: channelHealthChecks(channels),
    close: () => closeChannels(channels),
  };
}
