import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import type { NotificationsRepository } from './notifications.repository.js';

const DAY_MS = 86_400_000;

/** The notifications module's entry in the privacy data map. */
export function notificationsPersonalData(repository: NotificationsRepository): PersonalDataEntry {
  return {
    module: 'notifications',
    description:
      "Messages sent or queued to the person (channels tried, purpose, template, status, delivery reports, times), the person's delivery preferences and push devices (FCM tokens, Web Push subscriptions)",
    purposes: ['account and booking messages', 'reminders the person turned on', 'promotions the person agreed to'],
    legalBasis: 'contract (account and booking messages); consent (WhatsApp, SMS, reminders, marketing)',
    retention:
      'finished messages: RETENTION_NOTIFICATIONS_DAYS (180 days by default); preferences: while the account exists; push devices: until removed, or until the push service says they are gone',
    tables: ['notifications', 'notification_preferences', 'push_devices'],
    async export(tx, userId) {
      const messages = await repository.listForUser(tx, userId);
      const preferences = await repository.preferences(tx, userId);
      const devices = await repository.devicesOf(tx, userId);
      return {
        // The token or endpoint itself is a credential for sending to the device: only its end.
        devices: devices.map((device) => ({
          id: device.id,
          kind: device.kind,
          platform: device.platform,
          token_end: device.token.slice(-8),
          created_at: device.createdAt.toISOString(),
          last_used_at: device.lastUsedAt?.toISOString() ?? null,
        })),
        // Template data is left out: it is transient and may hold a reset token.
        notifications: messages.map((row) => ({
          id: row.id,
          channel: row.channel,
          channels: row.channels ?? [row.channel],
          delivery_status: row.deliveryStatus,
          purpose: row.purpose,
          template: row.template,
          status: row.status,
          cancel_reason: row.cancelReason,
          attempts: row.attempts,
          created_at: row.createdAt.toISOString(),
          not_before: row.notBefore.toISOString(),
          sent_at: row.sentAt?.toISOString() ?? null,
        })),
        preferences: preferences
          ? {
              channels: preferences.channels,
              quiet_hours: { start: preferences.quietStart, end: preferences.quietEnd },
              time_zone: preferences.timeZone,
              updated_at: preferences.updatedAt.toISOString(),
            }
          : null,
      };
    },
    async erase(tx, userId) {
      const rows =
        (await repository.deleteForUser(tx, userId)) +
        (await repository.deletePreferences(tx, userId)) +
        (await repository.deleteDevicesForUser(tx, userId));
      return { action: 'deleted', rows };
    },
  };
}

/** Finished messages (sent, cancelled, dead) are deleted `finishedDays` after they ended. */
export function notificationsRetentionRules(
  repository: NotificationsRepository,
  options: { finishedDays: number },
): RetentionRule[] {
  return [
    {
      name: 'notifications.finished',
      run: (tx: Db, now: Date) =>
        repository.deleteFinishedBefore(tx, new Date(now.getTime() - options.finishedDays * DAY_MS)),
    },
  ];
}
