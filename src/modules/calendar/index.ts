import { randomBytes } from 'node:crypto';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AuditService } from '../audit/index.js';
import type { BookingsService } from '../bookings/index.js';
import type { IdentityService } from '../identity/index.js';
import { calendarPersonalData } from './calendar.privacy.js';
import { createCalendarRepository } from './calendar.repository.js';
import { calendarRoutes } from './calendar.routes.js';
import { type CalendarService, createCalendarService } from './calendar.service.js';

export type { CalendarService } from './calendar.service.js';

/** Bookings as iCalendar feeds: downloads for the signed-in, and secret, rotatable addresses to subscribe to. */
export function createCalendarModule(
  platform: Platform,
  deps: {
    bookings: Pick<BookingsService, 'customerVisits' | 'providerVisits'>;
    identity: Pick<IdentityService, 'getAccount'>;
    audit: Pick<AuditService, 'record'>;
  },
): ModuleDescriptor<'calendar', CalendarService> {
  const service = createCalendarService({
    db: platform.db,
    clock: platform.clock,
    repository: createCalendarRepository(),
    ...deps,
    newToken: () => randomBytes(32).toString('base64url'),
    urls: { api: platform.config.publicApiUrl, app: platform.config.publicAppUrl },
  });
  return {
    name: 'calendar',
    service,
    routes: async (api) => api.register(calendarRoutes, { calendar: service }),
    dataMap: calendarPersonalData(service),
  };
}
