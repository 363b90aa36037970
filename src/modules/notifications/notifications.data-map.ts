import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { NotificationsRepository } from './notifications.repository.js';

/** The notifications module's entry in the privacy data map. */
export function notificationsPersonalData(repository: NotificationsRepository): PersonalDataEntry {
  return {
    module: 'notifications',
    description:
      'Messages sent or queued to the person (channel, purpose, template, status, times) and her delivery preferences',
    purposes: ['account and booking messages', 'reminders she turned on', 'promotions she agreed to'],
    legalBasis: 'contract (account and booking messages); consent (WhatsApp, reminders, marketing)',
    retention:
      'finished messages: RETENTION_NOTIFICATIONS_DAYS (180 days by default); preferences: while the account exists',
    tables: ['notifications', 'notification_preferences'],
    async export(tx, userId) {
      const messages = await repository.listForUser(tx, userId);
      const preferences = await repository.preferences(tx, userId);
      return {
        // Template data is left out: it is transient and may hold a reset token.
        notifications: messages.map((row) => ({
          id: row.id,
          channel: row.channel,
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
      const rows = (await repository.deleteForUser(tx, userId)) + (await repository.deletePreferences(tx, userId));
      return { action: 'deleted', rows };
    },
  };
}
