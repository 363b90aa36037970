import { createReadThroughCache } from '../../infra/kv/cache.js';
import type { Platform } from '../../platform.js';
import type { IdempotencyStore } from '../../shared/idempotency.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import { BOOKING_REMIND } from './bookings.messages.js';
import { createBookingsRepository } from './bookings.repository.js';
import { bookingsRoutes } from './bookings.routes.js';
import { bookingsSeeder } from './bookings.seed.js';
import { type BookingsService, createBookingsService } from './bookings.service.js';

export { CUSTOMER_CANCEL_CUTOFF_MS } from './bookings.lifecycle.js';
export { BOOKING_REMIND } from './bookings.messages.js';
export { bookingsSeeder } from './bookings.seed.js';
export type { BookingsService } from './bookings.service.js';
export { freeSlots, isFreeSlot, type Schedule, scheduleProblems } from './bookings.slots.js';

/** Providers' weekly availability, free slots, bookings and their life, reviews and the provider dashboard. */
export function createBookingsModule(
  platform: Platform,
  deps: {
    catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
    notify: Notify;
    audit: Pick<AuditService, 'record'>;
    track: Track;
    idempotency: IdempotencyStore;
  },
): ModuleDescriptor<'bookings', BookingsService> {
  const logger = platform.logger.child({ component: 'bookings' });
  const service = createBookingsService({
    db: platform.db,
    repository: createBookingsRepository(),
    catalog: deps.catalog,
    notify: deps.notify,
    outbox: platform.outbox,
    audit: deps.audit,
    track: deps.track,
    idempotency: deps.idempotency,
    cache: createReadThroughCache({ kv: platform.kv, metrics: platform.metrics, logger }, 'bookings_dashboard'),
    clock: platform.clock,
    ids: platform.ids,
  });
  return {
    name: 'bookings',
    service,
    routes: async (api) => api.register(bookingsRoutes, { bookings: service }),
    dataMap: service.dataMapEntry(),
    // A booking's reminder is decided when it is due: a cancelled booking sends nothing.
    outboxHandlers: [{ type: BOOKING_REMIND, handle: service.remind }],
    seeders: [bookingsSeeder],
  };
}
