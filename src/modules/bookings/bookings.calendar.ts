import type { Db } from '../../infra/db/client.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import { type CatalogService, catalogNames, type ProviderRow } from '../catalog/index.js';
import { findAccount } from '../identity/index.js';
import type { BookingsRepository } from './bookings.repository.js';
import type { BookingRow, BookingStatus } from './bookings.tables.js';

/** Visits a calendar feed shows at most (a year ahead of a busy provider is well under this). */
export const CALENDAR_MAX_VISITS = 2000;

/** One booking as a calendar shows it: its times, names and where, in its provider's time zone. */
export interface CalendarVisit {
  id: string;
  status: BookingStatus;
  startsAt: Date;
  endsAt: Date;
  createdAt: Date;
  updatedAt: Date;
  serviceName: string;
  providerName: string;
  /** The provider's calendar only: the customer's display name, null when none or erased. */
  customerName?: string | null;
  /** The IANA zone the visit's local times are in: the provider's schedule's (else profile's). */
  timeZone: string;
  /** The provider's city and country, when the profile has them. */
  location: string | null;
}

export interface CalendarWindow {
  /** Visits starting in [from, to), cancelled ones included (so subscribed calendars drop them). */
  from: Date;
  to: Date;
}

/**
 * Bookings as calendar feeds show them (the calendar module writes them as iCalendar): a
 * customer's, and a provider's with each customer's display name and nothing else about them.
 * Read from `readDb`: a feed polled every few minutes may lag the primary a little.
 */
export function createBookingCalendar(deps: {
  readDb: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'providerOfUser' | 'findProvider'>;
}) {
  const { readDb: db, repository, catalog } = deps;

  /** The zone and place of each distinct provider: a feed has few. */
  const placesOf = async (rows: BookingRow[], known?: ProviderRow) => {
    const places = new Map<string, { timeZone: string; location: string | null }>();
    for (const providerId of new Set(rows.map((row) => row.providerId))) {
      const provider = known?.id === providerId ? known : await catalog.findProvider(providerId, db);
      const schedule = await repository.availability(db, providerId);
      const zone = [schedule?.timeZone, provider?.timeZone].find((candidate) => candidate && isTimeZone(candidate));
      const location = [provider?.city, provider?.country].filter((part) => part?.trim()).join(', ');
      places.set(providerId, { timeZone: zone ?? 'UTC', location: location || null });
    }
    return places;
  };

  const visitsOf = async (rows: BookingRow[], withCustomer: boolean, known?: ProviderRow) => {
    const [names, places] = await Promise.all([
      catalogNames(db, {
        serviceIds: rows.map((row) => row.serviceId),
        providerIds: rows.map((row) => row.providerId),
      }),
      placesOf(rows, known),
    ]);
    const customers = new Map<string, string | null>();
    if (withCustomer) {
      // One primary-key read per distinct customer, as the booking lists do, sent together.
      const ids = [...new Set(rows.flatMap((row) => (row.customerId ? [row.customerId] : [])))];
      const accounts = await Promise.all(ids.map((id) => findAccount(db, id)));
      ids.forEach((id, index) => {
        customers.set(id, accounts[index]?.name?.trim() || null);
      });
    }
    return rows.map((row): CalendarVisit => {
      const place = places.get(row.providerId) ?? { timeZone: 'UTC', location: null };
      return {
        id: row.id,
        status: row.status,
        startsAt: row.startsAt,
        endsAt: row.endsAt,
        createdAt: row.createdAt,
        updatedAt: row.updatedAt,
        serviceName: names.services.get(row.serviceId) ?? '',
        providerName: names.providers.get(row.providerId) ?? '',
        ...(withCustomer ? { customerName: row.customerId ? (customers.get(row.customerId) ?? null) : null } : {}),
        timeZone: place.timeZone,
        location: place.location,
      };
    });
  };

  return {
    /** The person's bookings as a customer, starting in the window, earliest first. */
    async customerVisits(userId: string, window: CalendarWindow): Promise<CalendarVisit[]> {
      const rows = await repository.list(db, {
        customerId: userId,
        from: window.from,
        to: window.to,
        order: 'asc',
        limit: CALENDAR_MAX_VISITS,
      });
      return visitsOf(rows, false);
    },

    /** The visits of the person's provider profile in the window; undefined when they have none. */
    async providerVisits(
      userId: string,
      window: CalendarWindow,
    ): Promise<{ providerName: string; timeZone: string; visits: CalendarVisit[] } | undefined> {
      const provider = await catalog.providerOfUser(userId, db);
      if (!provider) return undefined;
      const rows = await repository.list(db, {
        providerId: provider.id,
        from: window.from,
        to: window.to,
        order: 'asc',
        limit: CALENDAR_MAX_VISITS,
      });
      const visits = await visitsOf(rows, true, provider);
      const schedule = await repository.availability(db, provider.id);
      const zone = [schedule?.timeZone, provider.timeZone].find((candidate) => candidate && isTimeZone(candidate));
      return { providerName: provider.displayName, timeZone: zone ?? 'UTC', visits };
    },
  };
}
