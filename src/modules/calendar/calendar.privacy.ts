import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { CalendarService } from './calendar.service.js';

/** The secret calendar address: exported as whether it exists and since when (never its hash), deleted with the account. */
export function calendarPersonalData(calendar: CalendarService): PersonalDataEntry {
  return {
    module: 'calendar',
    description: 'Your secret calendar address: whether you made one, and when (only a hash of its secret is kept)',
    purposes: ['letting your calendar app show your bookings'],
    legalBasis: 'contract',
    retention: 'until you turn it off or erase your account',
    tables: ['calendar_feeds'],
    export: (tx, userId) => calendar.exportFor(tx, userId),
    async erase(tx, userId) {
      return { action: 'deleted', rows: await calendar.eraseFor(tx, userId) };
    },
  };
}
