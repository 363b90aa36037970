import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Logger } from '../../infra/logger.js';
import { DeferDelivery, type DeliveryContext } from '../../infra/outbox/outbox.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import { errorMessage, type NotificationChannels } from './channels/channel.js';
import { preferencesOf } from './notifications.preferences.js';
import { quietUntil } from './notifications.quiet-hours.js';
import type { NotificationsRepository } from './notifications.repository.js';
import type { NotificationRow } from './notifications.tables.js';
import { isSensitiveTemplate, renderTemplate } from './notifications.templates.js';

const WEEK_MS = 7 * 86_400_000;
const MAX_ERROR_LENGTH = 1000;

export type CancelReason =
  | 'channel_not_configured'
  | 'recipient_gone'
  | 'no_phone'
  | 'consent_withdrawn'
  | 'channel_disabled'
  | 'weekly_cap';

/** What the notifications module needs to know about a person at send time. */
export interface Recipient {
  email: string;
  phone: string | null;
  timeZone: string;
  isActive: boolean;
  name?: string | null;
}

// Template data stays on a cancelled or dead row so an admin can send it again, unless it
// holds a secret (a reset token): that is never kept past the end of the message.
const dataAfterEnd = (row: NotificationRow) => (isSensitiveTemplate(row.template) ? null : row.data);

/**
 * Delivery, the `notification.deliver` outbox handler: decides at send time — recipient,
 * consent, preferences, quiet hours, weekly cap — and hands the message to its channel.
 * Receivers de-duplicate on the delivery id, which is the notification id.
 */
export function createNotificationDelivery(deps: {
  db: Db;
  repository: NotificationsRepository;
  channels: NotificationChannels;
  clock: Clock;
  logger: Logger;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
  hasConsent: (userId: string, purpose: 'whatsapp' | 'marketing') => Promise<boolean>;
  weeklyCap: number;
  publicAppUrl: string;
}) {
  const { db, repository, clock, logger } = deps;

  const cancel = async (row: NotificationRow, reason: CancelReason) => {
    await repository.updateQueued(db, row.id, {
      status: 'cancelled',
      cancelReason: reason,
      data: dataAfterEnd(row),
      updatedAt: clock.now(),
    });
    const fields = { notification_id: row.id, channel: row.channel, template: row.template, reason };
    if (reason === 'channel_not_configured') {
      logger.error(fields, `notification cancelled: the ${row.channel} channel is not configured`);
    } else {
      logger.info(fields, 'notification cancelled');
    }
  };

  const consentAllows = async (row: NotificationRow) => {
    // WhatsApp always needs the person's opt-in; promotions need marketing consent on any channel.
    if (row.channel === 'whatsapp' && !(await deps.hasConsent(row.userId, 'whatsapp'))) return false;
    if (row.purpose === 'promotion' && !(await deps.hasConsent(row.userId, 'marketing'))) return false;
    return true;
  };

  /** Everything after "still queued": throws to retry, DeferDelivery to wait, returns when done. */
  const attempt = async (row: NotificationRow, context: DeliveryContext) => {
    const channel = deps.channels[row.channel];
    if (!channel.configured) return cancel(row, 'channel_not_configured');
    const recipient = await deps.getRecipient(row.userId);
    if (!recipient?.isActive) return cancel(row, 'recipient_gone');
    const to = row.channel === 'email' ? recipient.email : recipient.phone;
    if (!to) return cancel(row, 'no_phone');
    if (!(await consentAllows(row))) return cancel(row, 'consent_withdrawn');
    const preferences = await preferencesOf(repository, db, row.userId);
    // Account messages (a password reset) cannot be turned off.
    if (row.purpose !== 'account' && !preferences.channels[row.channel]) return cancel(row, 'channel_disabled');
    const zone = preferences.time_zone ?? recipient.timeZone;
    const timeZone = isTimeZone(zone) ? zone : 'UTC';
    const now = clock.now();
    if (!row.urgent) {
      const until = quietUntil(now, preferences.quiet_hours, timeZone);
      if (until) {
        await repository.updateQueued(db, row.id, { notBefore: until, updatedAt: now });
        throw new DeferDelivery(until, 'quiet hours');
      }
      if (!row.priority) {
        const sent = await repository.countCapped(db, row.userId, new Date(now.getTime() - WEEK_MS));
        if (sent >= deps.weeklyCap) return cancel(row, 'weekly_cap');
      }
    }
    const rendered = renderTemplate(row.template, row.data ?? {}, {
      appUrl: deps.publicAppUrl,
      timeZone,
      name: recipient.name,
      footer: row.purpose !== 'account',
    });
    await channel.send({ deliveryId: row.id, to, purpose: row.purpose, template: row.template, ...rendered });
    await repository.updateQueued(db, row.id, {
      status: 'sent',
      sentAt: clock.now(),
      attempts: context.attempt,
      lastError: null,
      // Delivered: the data (it may hold a reset token) is no longer needed.
      data: null,
      updatedAt: clock.now(),
    });
  };

  return {
    /** The `notification.deliver` outbox handler. */
    deliver: async (payload: Record<string, unknown>, context: DeliveryContext): Promise<void> => {
      const id = payload.notification_id;
      if (typeof id !== 'string') return;
      const row = await repository.findById(db, id);
      // Erased, already ended, or queued again with a newer outbox message: nothing to do here.
      if (row?.status !== 'queued' || (row.outboxId !== null && row.outboxId !== context.id)) return;
      try {
        await attempt(row, context);
      } catch (error) {
        if (error instanceof DeferDelivery) throw error;
        const final = context.attempt >= context.maxAttempts;
        const message = errorMessage(error).slice(0, MAX_ERROR_LENGTH);
        await repository.updateQueued(db, row.id, {
          attempts: context.attempt,
          lastError: message,
          updatedAt: clock.now(),
          ...(final ? { status: 'dead' as const, data: dataAfterEnd(row) } : {}),
        });
        if (final) {
          logger.error(
            { notification_id: row.id, channel: row.channel, template: row.template, attempts: context.attempt },
            'notification is dead',
          );
        }
        throw error;
      }
    },
  };
}
