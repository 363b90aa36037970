export {
  type ChannelSettings,
  channelHealthChecks,
  closeChannels,
  createChannels,
  type NotificationChannel,
  type NotificationChannels,
  type OutboundMessage,
} from './channels/index.js';
export { notificationsPersonalData } from './notifications.data-map.js';
export { createNotificationsRepository, type NotificationsRepository } from './notifications.repository.js';
export { notificationsRoutes } from './notifications.routes.js';
export {
  type CancelReason,
  createNotificationsService,
  NOTIFICATION_DELIVER,
  NOTIFICATION_DELIVERY_OPTIONS,
  type NotificationsService,
  type Notify,
  RETRY_DELAYS_MS,
  type Recipient,
  type SendInput,
} from './notifications.service.js';
export { CHANNELS, type Channel, MESSAGE_PURPOSES, type MessagePurpose } from './notifications.tables.js';
export { TEMPLATES, type TemplateName } from './notifications.templates.js';
