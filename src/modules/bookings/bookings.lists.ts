import type { Static } from '@sinclair/typebox';
import { notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import { type CatalogService, catalogNames } from '../catalog/index.js';
import { findAccount } from '../identity/index.js';
import { type BookingDetail, type BookingNames, type PublicBooking, toNamedBooking } from './bookings.dto.js';
import { ownProvider, partyOf } from './bookings.parties.js';
import type { BookingPaymentFlow } from './bookings.payment.js';
import type { BookingCursor, BookingsRepository } from './bookings.repository.js';
import type { AdminBookingsQuery, CalendarQuery } from './bookings.schemas.js';
import type { BookingRow } from './bookings.tables.js';

const DAY_MS = 86_400_000;

// Booking lists run in (starts_at, id) order; the cursor is the last row's pair.
const bookingCursor = cursorCodec<BookingCursor>({ startsAt: cursorField.time, id: cursorField.uuid });
const decodeCursor = (cursor: string | undefined) => (cursor ? bookingCursor.decode(cursor) : undefined);

export interface BookingPage {
  items: PublicBooking[];
  nextCursor: string | null;
}

/**
 * The names each booking's view shows, in the order of `rows`: its service and provider, and for
 * the provider (`withCustomer`) its customer's display name, null when the account has none or
 * was erased (erasure clears the name and unlinks the booking).
 */
async function namesOf(db: Db, rows: BookingRow[], withCustomer: boolean): Promise<BookingNames[]> {
  const catalog = await catalogNames(db, {
    serviceIds: rows.map((row) => row.serviceId),
    providerIds: rows.map((row) => row.providerId),
  });
  const customers = new Map<string, string | null>();
  if (withCustomer) {
    // A page has few distinct customers, each one primary-key read through identity's index.
    const customerIds = [...new Set(rows.flatMap((row) => (row.customerId ? [row.customerId] : [])))];
    const accounts = await Promise.all(customerIds.map((id) => findAccount(db, id)));
    customerIds.forEach((id, index) => {
      customers.set(id, accounts[index]?.name ?? null);
    });
  }
  // Bookings reference their service and provider by foreign key, so both names are always found.
  return rows.map((row) => ({
    service_name: catalog.services.get(row.serviceId) ?? '',
    provider_name: catalog.providers.get(row.providerId) ?? '',
    ...(withCustomer ? { customer_name: row.customerId ? (customers.get(row.customerId) ?? null) : null } : {}),
  }));
}

/** `rows` were read with `limit + 1`: the extra row only says there is a next page. */
const page = async (db: Db, rows: BookingRow[], limit: number, withCustomer: boolean): Promise<BookingPage> => {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const names = await namesOf(db, items, withCustomer);
  return {
    items: items.map((row, index) => toNamedBooking(row, names[index] as BookingNames)),
    nextCursor: rows.length > limit && last ? bookingCursor.encode({ startsAt: last.startsAt, id: last.id }) : null,
  };
};

/** One booking for its parties, and the lists: the customer's, the provider's calendar, everyone's for admins. */
export function createBookingLists(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'providerOfUser'>;
  flow: Pick<BookingPaymentFlow, 'detail'>;
  clock: Clock;
}) {
  const { db, repository, catalog, clock } = deps;

  return {
    /** One booking of the actor's (as its customer or provider), with its payment. */
    async get(actor: Actor, id: string): Promise<BookingDetail> {
      const booking = await repository.find(db, id);
      if (!booking) throw notFound('Booking');
      const party = await partyOf(catalog, db, actor, booking);
      const [names] = await namesOf(db, [booking], party === 'provider');
      return { ...(await deps.flow.detail(booking)), ...names };
    },

    async listMine(actor: Actor, query: { cursor?: string; limit: number }): Promise<BookingPage> {
      const rows = await repository.list(db, {
        customerId: actor.id,
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(db, rows, query.limit, false);
    },

    /** The provider's calendar: bookings starting in [from, to), earliest first. */
    async providerCalendar(actor: Actor, query: Static<typeof CalendarQuery>): Promise<BookingPage> {
      const provider = await ownProvider(catalog, actor, db);
      const from = query.from ? new Date(query.from) : clock.now();
      const to = query.to ? new Date(query.to) : new Date(from.getTime() + 30 * DAY_MS);
      const rows = await repository.list(db, {
        providerId: provider.id,
        from,
        to,
        order: 'asc',
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(db, rows, query.limit, true);
    },

    async adminList(_actor: Actor, query: Static<typeof AdminBookingsQuery>): Promise<BookingPage> {
      const rows = await repository.list(db, {
        status: query.status,
        providerId: query.provider_id,
        customerId: query.customer_id,
        after: decodeCursor(query.cursor),
        limit: query.limit + 1,
      });
      return page(db, rows, query.limit, true);
    },
  };
}
