import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { AuditService } from '../audit/index.js';
import type { NotificationChannels } from './channels/channel.js';
import { createNotificationsAdmin } from './notifications.admin.js';
import { createNotificationDelivery, type Recipient } from './notifications.delivery.js';
import { createNotificationPreferences } from './notifications.preferences.js';
import { createNotificationQueue } from './notifications.queue.js';
import type { NotificationsRepository } from './notifications.repository.js';

/**
 * Outbound messages: `send` queues one in the caller's transaction (notifications.queue.ts);
 * `deliver`, the outbox handler, decides at send time and hands it to the channel
 * (notifications.delivery.ts); people set their channels and quiet hours
 * (notifications.preferences.ts); admins list and retry (notifications.admin.ts).
 */
export function createNotificationsService(deps: {
  db: Db;
  repository: NotificationsRepository;
  outbox: Pick<Outbox, 'enqueue'>;
  channels: NotificationChannels;
  audit: Pick<AuditService, 'record'>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
  hasConsent: (userId: string, purpose: 'whatsapp' | 'marketing') => Promise<boolean>;
  weeklyCap: number;
  publicAppUrl: string;
}) {
  return {
    ...createNotificationQueue(deps),
    ...createNotificationDelivery(deps),
    ...createNotificationPreferences(deps),
    ...createNotificationsAdmin(deps),
  };
}

export type NotificationsService = ReturnType<typeof createNotificationsService>;

/** What other modules take to queue messages in their own transactions. */
export type Notify = Pick<NotificationsService, 'send'>;
