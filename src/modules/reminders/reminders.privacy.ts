import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RemindersRepository } from './reminders.repository.js';
import { reminderToPublic } from './reminders.service.js';

/** Reminders, each with the times it was sent; erased with the account. */
export function remindersPersonalData(repository: RemindersRepository): PersonalDataEntry {
  return {
    module: 'reminders',
    description: 'Reminders you set (title, time, time zone, repeat, channel) and when each was sent',
    purposes: ['sending you the reminders you asked for'],
    legalBasis: 'consent (whatsapp) and contract',
    retention: 'until you delete the reminder or erase your account',
    tables: ['reminders', 'reminder_occurrences'],
    async export(tx, userId) {
      const rows = await repository.listFor(tx, userId);
      return Promise.all(
        rows.map(async (row) => ({
          ...reminderToPublic(row),
          sent: (await repository.occurrencesOf(tx, row.id)).map((o) => o.occursAt.toISOString()),
        })),
      );
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deleteFor(tx, userId) };
    },
  };
}
