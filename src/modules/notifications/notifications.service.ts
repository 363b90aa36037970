import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { EventBus } from '../../shared/events.js';
import type { AuditService } from '../audit/index.js';
import type { NotificationChannels } from './channels/channel.js';
import { createNotificationsAdmin } from './notifications.admin.js';
import { type ConsentPurposeNeeded, createNotificationDelivery, type Recipient } from './notifications.delivery.js';
import type { createNotificationDevices } from './notifications.devices.js';
import { createNotificationPreferences } from './notifications.preferences.js';
import { createNotificationQueue } from './notifications.queue.js';
import type { NotificationsRepository } from './notifications.repository.js';
import { createSmsStatus } from './notifications.sms-status.js';

/**
 * Outbound messages: `send` queues one in the caller's transaction (notifications.queue.ts);
 * `deliver`, the outbox handler, decides at send time and walks the message's channels
 * (notifications.delivery.ts); people set their channels and quiet hours
 * (notifications.preferences.ts) and register push devices (notifications.devices.ts); Twilio
 * reports SMS delivery (notifications.sms-status.ts); admins list and retry (notifications.admin.ts).
 */
export function createNotificationsService(deps: {
  db: Db;
  repository: NotificationsRepository;
  outbox: Pick<Outbox, 'enqueue'>;
  channels: NotificationChannels;
  devices: ReturnType<typeof createNotificationDevices>;
  audit: Pick<AuditService, 'record'>;
  events: Pick<EventBus, 'publish'>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  metrics: Metrics;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
  hasConsent: (userId: string, purpose: ConsentPurposeNeeded) => Promise<boolean>;
  weeklyCap: number;
  publicAppUrl: string;
  twilio?: { authToken: string; statusCallbackUrl: string };
}) {
  const { deviceBook: _deviceBook, ...devices } = deps.devices;
  return {
    ...createNotificationQueue(deps),
    ...createNotificationDelivery(deps),
    ...createNotificationPreferences(deps),
    ...createNotificationsAdmin(deps),
    ...createSmsStatus(deps),
    ...devices,
  };
}

export type NotificationsService = ReturnType<typeof createNotificationsService>;

/** What other modules take to queue messages in their own transactions. */
export type Notify = Pick<NotificationsService, 'send'>;
