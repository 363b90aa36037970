import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import type { BusinessMetrics } from '../../infra/metrics.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { EventBus } from '../../shared/events.js';
import type { IdempotencyStore } from '../../shared/idempotency.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import { createAvailability } from './bookings.availability.js';
import { createBookingCalendar } from './bookings.calendar.js';
import { createBookingChat } from './bookings.chat.js';
import { createChatRepository } from './bookings.chat-repository.js';
import { createBookingCreation } from './bookings.create.js';
import { createDashboard } from './bookings.dashboard.js';
import { createBookingLifecycle } from './bookings.lifecycle.js';
import { createBookingLists } from './bookings.lists.js';
import { createBookingMessages } from './bookings.messages.js';
import { type BookingPayments, createBookingPaymentFlow } from './bookings.payment.js';
import { bookingsPersonalData } from './bookings.privacy.js';
import type { BookingsRepository } from './bookings.repository.js';
import { createRescheduling } from './bookings.reschedule.js';
import { createReviews } from './bookings.reviews.js';
import { createBookingSeries } from './bookings.series.js';
import { createSlotsCache } from './bookings.slots-cache.js';
import { createWaitlist, createWaitlistRepository } from './bookings.waitlist.js';

export interface BookingsServiceDeps {
  db: Db;
  /** Free slots read here: the read replica when there is one, else `db`. */
  readDb: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
  notify: Notify;
  outbox: Pick<Outbox, 'enqueue'>;
  events: Pick<EventBus, 'publish'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  business: Pick<BusinessMetrics, 'booking'>;
  idempotency: IdempotencyStore;
  payments: BookingPayments;
  /** Whether the person has the app open (the live module): chat messages are then not announced on other channels. */
  isOnline: (userId: string) => Promise<boolean>;
  chatBudget: (userId: string) => Promise<void>;
  announced: {
    claim(bookingId: string, userId: string): Promise<boolean>;
    reset(bookingId: string, userId: string): Promise<void>;
  };
  /** How long an unpaid booking holds its slot (PAYMENT_HOLD_MINUTES). */
  holdMinutes: number;
  /** The provider dashboard's cache. */
  cache: ReadThroughCache;
  /** The slot lists' cache (bookings.slots-cache.ts). */
  slotStore: ReadThroughCache;
  clock: Clock;
  ids: IdGenerator;
  minNoticeMs?: number;
  /** How long a waitlist offer holds its time (default WAITLIST_OFFER_MINUTES). */
  waitlistOfferMinutes?: number;
}

/**
 * The module's one service, put together from its use cases (the bookings.*.ts files next to
 * this one), so routes and other modules call `bookings.xxx` whichever file holds it.
 */
export function createBookingsService(deps: BookingsServiceDeps) {
  const messages = createBookingMessages(deps);
  const chat = createChatRepository();
  const slotsCache = createSlotsCache({ cache: deps.slotStore, db: deps.db, readDb: deps.readDb });
  const flow = createBookingPaymentFlow({ ...deps, messages, slotsCache });
  const { reschedule, remind } = createRescheduling({ ...deps, messages, flow, slotsCache });
  const creation = createBookingCreation({ ...deps, messages, flow, slotsCache });
  const waitlist = createWaitlistRepository();
  return {
    ...createAvailability({ ...deps, slotsCache }),
    ...creation,
    ...createWaitlist({
      ...deps,
      waitlist,
      slotsCache,
      create: creation.create,
      offerMinutes: deps.waitlistOfferMinutes,
    }),
    ...createBookingLifecycle({ ...deps, messages, slotsCache }),
    ...createBookingSeries({ ...deps, messages, slotsCache }),
    reschedule,
    // A reminder of a time the booking has moved from is dropped.
    remind,
    nudge: messages.nudge,
    onPaymentChanged: flow.onPaymentChanged,
    expireHolds: flow.expireHolds,
    ...createBookingLists({ ...deps, flow }),
    // The calendar feeds' visits (the calendar module writes them as iCalendar).
    ...createBookingCalendar(deps),
    ...createReviews({ ...deps, messages }),
    ...createDashboard(deps),
    ...createBookingChat({ ...deps, chat, messages }),
    dataMapEntry: () => bookingsPersonalData({ ...deps, chat, waitlist, slotsCache }),
  };
}

export type BookingsService = ReturnType<typeof createBookingsService>;
