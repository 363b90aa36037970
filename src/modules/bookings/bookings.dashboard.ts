import type { Static } from '@sinclair/typebox';
import { invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import type { Actor } from '../../shared/actor.js';
import type { CatalogService, ProviderRow } from '../catalog/index.js';
import { type Dashboard, toPublicBooking } from './bookings.dto.js';
import { ownProvider } from './bookings.parties.js';
import { ACTIVE_STATUSES, type BookingsRepository } from './bookings.repository.js';
import type { DashboardQuery } from './bookings.schemas.js';
import type { BookingStatus } from './bookings.tables.js';

export const DASHBOARD_TTL_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

const rate = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 1000) / 1000);

/** The provider's dashboard: counts by status, rates, upcoming visits and rating, cached 5 minutes. */
export function createDashboard(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'providerOfUser'>;
  cache: ReadThroughCache;
  clock: Clock;
}) {
  const { db, repository, catalog, clock } = deps;

  const compute = async (provider: ProviderRow, from: Date, to: Date, now: Date): Promise<Dashboard> => {
    const [counts, upcoming] = await Promise.all([
      repository.countByStatus(db, provider.id, from, to),
      repository.list(db, { providerId: provider.id, statuses: ACTIVE_STATUSES, from: now, order: 'asc', limit: 10 }),
    ]);
    const byStatus: Record<BookingStatus, number> = {
      pending_payment: 0,
      pending: 0,
      confirmed: 0,
      completed: 0,
      no_show: 0,
      cancelled: 0,
    };
    for (const row of counts) byStatus[row.status] = Number(row.n);
    const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      total,
      by_status: byStatus,
      // Of the visits that were due (completed or no-show), how many happened.
      completion_rate: rate(byStatus.completed, byStatus.completed + byStatus.no_show),
      cancellation_rate: rate(byStatus.cancelled, total),
      upcoming: upcoming.map(toPublicBooking),
      rating: {
        average: provider.ratingAverage === null ? null : Number(provider.ratingAverage),
        count: provider.ratingCount,
      },
      generated_at: now.toISOString(),
    };
  };

  return {
    async dashboard(actor: Actor, query: Static<typeof DashboardQuery>): Promise<Dashboard> {
      const provider = await ownProvider(catalog, actor, db);
      const now = clock.now();
      // Default range on whole days, so the cache key is stable within a day.
      const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
      const from = query.from ? new Date(query.from) : new Date(today - 30 * DAY_MS);
      const to = query.to ? new Date(query.to) : new Date(today + 30 * DAY_MS);
      if (to <= from) throw invalidField('query.to', 'must be after from');
      const key = `bookings:dashboard:${provider.id}:${from.toISOString()}:${to.toISOString()}`;
      return deps.cache.get(key, DASHBOARD_TTL_MS, () => compute(provider, from, to, now));
    },
  };
}
