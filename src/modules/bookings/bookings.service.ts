import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { IdempotencyStore } from '../../shared/idempotency.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import { createAvailability } from './bookings.availability.js';
import { createBookingCreation } from './bookings.create.js';
import { createDashboard } from './bookings.dashboard.js';
import { createBookingLifecycle } from './bookings.lifecycle.js';
import { createBookingLists } from './bookings.lists.js';
import { createBookingMessages } from './bookings.messages.js';
import { type BookingPayments, createBookingPaymentFlow } from './bookings.payment.js';
import { bookingsPersonalData } from './bookings.privacy.js';
import type { BookingsRepository } from './bookings.repository.js';
import { createReviews } from './bookings.reviews.js';

export interface BookingsServiceDeps {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
  notify: Notify;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  idempotency: IdempotencyStore;
  payments: BookingPayments;
  /** How long an unpaid booking holds its slot (PAYMENT_HOLD_MINUTES). */
  holdMinutes: number;
  /** The provider dashboard's cache. */
  cache: ReadThroughCache;
  clock: Clock;
  ids: IdGenerator;
  minNoticeMs?: number;
}

/**
 * The module's one service, put together from its use cases (the bookings.*.ts files next to
 * this one), so routes and other modules call `bookings.xxx` whichever file holds it.
 */
export function createBookingsService(deps: BookingsServiceDeps) {
  const messages = createBookingMessages(deps);
  const flow = createBookingPaymentFlow({ ...deps, messages });
  return {
    ...createAvailability(deps),
    ...createBookingCreation({ ...deps, messages, flow }),
    ...createBookingLifecycle({ ...deps, messages }),
    remind: messages.remind,
    onPaymentChanged: flow.onPaymentChanged,
    expireHolds: flow.expireHolds,
    ...createBookingLists({ ...deps, flow }),
    ...createReviews(deps),
    ...createDashboard(deps),
    dataMapEntry: () => bookingsPersonalData(deps),
  };
}

export type BookingsService = ReturnType<typeof createBookingsService>;
