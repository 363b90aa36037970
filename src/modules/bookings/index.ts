import { AppError } from '../../errors.js';
import { createReadThroughCache } from '../../infra/kv/cache.js';
import { createLocalCopies } from '../../infra/kv/local.js';
import { createPeriodicJob, type PeriodicJob } from '../../infra/periodic.js';
import type { Platform } from '../../platform.js';
import type { IdempotencyStore } from '../../shared/idempotency.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import { BOOKING_PAYMENT_CHANGED } from '../payments/index.js';
import { BOOKING_CONFIRM_NUDGE, BOOKING_REMIND } from './bookings.messages.js';
import type { BookingPayments } from './bookings.payment.js';
import { createBookingsRepository } from './bookings.repository.js';
import { bookingsRoutes } from './bookings.routes.js';
import { bookingsSeeder } from './bookings.seed.js';
import { type BookingsService, createBookingsService } from './bookings.service.js';
import { WAITLIST_TIME_FREED } from './bookings.waitlist.js';
import { waitlistRoutes } from './bookings.waitlist-routes.js';

export { CUSTOMER_CANCEL_CUTOFF_MS } from './bookings.lifecycle.js';
export { BOOKING_REMIND } from './bookings.messages.js';
export { bookingsSeeder } from './bookings.seed.js';
export type { BookingsService } from './bookings.service.js';
export { freeSlots, isFreeSlot, type Schedule, scheduleProblems } from './bookings.slots.js';
export { WAITLIST_OFFER_MINUTES, WAITLIST_TIME_FREED } from './bookings.waitlist.js';

const HOLD_SWEEP_MS = 30_000;
const WAITLIST_SWEEP_MS = 30_000;
/** Chat messages one person may send a minute (over all their bookings). */
export const CHAT_MESSAGES_PER_MINUTE = 20;
// A chat closes 30 days after its visit; its notice marker need not outlive that by much.
const CHAT_ANNOUNCED_TTL_MS = 60 * 86_400_000;

export type BookingsModule = ModuleDescriptor<'bookings', BookingsService> & {
  jobs: { bookingHolds: PeriodicJob<number>; waitlistOffers: PeriodicJob<number> };
};

/** Providers' weekly availability, free slots, bookings and their life, reviews and the provider dashboard. */
export function createBookingsModule(
  platform: Platform,
  deps: {
    catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
    notify: Notify;
    audit: Pick<AuditService, 'record'>;
    track: Track;
    idempotency: IdempotencyStore;
    payments: BookingPayments;
    isOnline: (userId: string) => Promise<boolean>;
  },
): BookingsModule {
  const logger = platform.logger.child({ component: 'bookings' });
  const service = createBookingsService({
    db: platform.db,
    readDb: platform.readDb,
    repository: createBookingsRepository(),
    catalog: deps.catalog,
    notify: deps.notify,
    outbox: platform.outbox,
    events: platform.events,
    audit: deps.audit,
    track: deps.track,
    business: platform.metrics.business,
    idempotency: deps.idempotency,
    payments: deps.payments,
    isOnline: deps.isOnline,
    chatBudget: async (userId) => {
      const { count, ttlMs } = await platform.kv.increment(`chat:${userId}`, 60_000);
      if (count > CHAT_MESSAGES_PER_MINUTE) {
        throw new AppError(
          'RATE_LIMITED',
          `At most ${CHAT_MESSAGES_PER_MINUTE} chat messages a minute; wait a moment`,
          {
            headers: { 'retry-after': String(Math.max(1, Math.ceil(ttlMs / 1000))) },
          },
        );
      }
    },
    // Kept in the shared store: a chat notice per booking and person until they read the chat.
    announced: {
      async claim(bookingId, userId) {
        const { count } = await platform.kv.increment(`chat:announced:${bookingId}:${userId}`, CHAT_ANNOUNCED_TTL_MS);
        return count === 1;
      },
      reset: (bookingId, userId) => platform.kv.delete(`chat:announced:${bookingId}:${userId}`),
    },
    holdMinutes: platform.config.payments.holdMinutes,
    cache: createReadThroughCache({ kv: platform.kv, metrics: platform.metrics, logger }, 'bookings_dashboard'),
    // Slot lists' keys carry the generations they were computed at, so a copy kept in this process
    // is never stale: a hit then costs the generations' read only.
    slotStore: createReadThroughCache(
      { kv: platform.kv, metrics: platform.metrics, logger, local: createLocalCopies({ clock: platform.clock }) },
      'slots',
    ),
    clock: platform.clock,
    ids: platform.ids,
  });
  return {
    name: 'bookings',
    service,
    routes: async (api) => {
      await api.register(bookingsRoutes, { bookings: service });
      await api.register(waitlistRoutes, { bookings: service });
    },
    dataMap: service.dataMapEntry(),
    outboxHandlers: [
      // A booking's reminder is decided when it is due: a cancelled booking sends nothing.
      { type: BOOKING_REMIND, handle: service.remind },
      // A provider who has not confirmed after two hours is reminded once (nothing if it moved on).
      { type: BOOKING_CONFIRM_NUDGE, handle: service.nudge },
      { type: BOOKING_PAYMENT_CHANGED, handle: service.onPaymentChanged, options: { maxAttempts: 25 } },
      // A booking's time freed: the first fitting waiter of that day is offered it.
      { type: WAITLIST_TIME_FREED, handle: service.waitlistTimeFreed },
    ],
    jobs: {
      // Unpaid bookings release their slots when their hold runs out.
      bookingHolds: createPeriodicJob({
        name: 'booking-holds',
        intervalMs: HOLD_SWEEP_MS,
        run: () => service.expireHolds(),
        logger,
      }),
      // Waitlist offers not accepted in time expire, and their times go to the next waiter.
      waitlistOffers: createPeriodicJob({
        name: 'waitlist-offers',
        intervalMs: WAITLIST_SWEEP_MS,
        run: () => service.expireWaitlistOffers(),
        logger,
      }),
    },
    seeders: [bookingsSeeder],
  };
}
