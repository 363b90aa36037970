import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { EventBus, LiveMessageType } from '../../shared/events.js';
import type { CatalogService, ProviderRow, ServiceRow } from '../catalog/index.js';
import type { Notify, TemplateName } from '../notifications/index.js';
import type { Party } from './bookings.parties.js';
import { ACTIVE_STATUSES, type BookingsRepository } from './bookings.repository.js';
import type { BookingRow } from './bookings.tables.js';

/** The outbox message that sends a booking's reminder, if the booking is still on by then. */
export const BOOKING_REMIND = 'booking.remind';
/** The outbox message that reminds the provider of a booking still waiting for confirmation. */
export const BOOKING_CONFIRM_NUDGE = 'booking.confirm_nudge';
export const REMINDER_BEFORE_MS = 24 * 3_600_000;
/** A booking made less than a day ahead is reminded this long before its start… */
export const LATE_REMINDER_BEFORE_MS = 2 * 3_600_000;
/** …unless that is less than this far away when it is made: then the confirmation is reminder enough. */
const LATE_REMINDER_MIN_LEAD_MS = 3_600_000;
/** A provider who has not confirmed a booking after this long is reminded once. */
export const CONFIRM_NUDGE_AFTER_MS = 2 * 3_600_000;

/**
 * A booking's service and provider as the caller already read them (making the booking): passed
 * on, they save reading them again for each message.
 */
export interface KnownOffer {
  service: ServiceRow;
  provider: ProviderRow;
}

const LIVE_TYPE_OF: Partial<Record<TemplateName, LiveMessageType>> = {
  booking_confirmed: 'booking.confirmed',
  booking_cancelled: 'booking.cancelled',
};

/**
 * What a booking tells its parties: a change goes to both at once, the reminder to the customer
 * when it is due. Everything is written in the caller's transaction.
 */
export function createBookingMessages(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'findProvider'>;
  notify: Notify;
  outbox: Pick<Outbox, 'enqueue'>;
  events: Pick<EventBus, 'publish'>;
  clock: Clock;
}) {
  const { catalog } = deps;

  /** What a live message says of a booking (ids and state: the apps fetch the rest). */
  const liveData = (booking: BookingRow) => ({
    booking_id: booking.id,
    status: booking.status,
    payment_status: booking.paymentStatus,
    starts_at: booking.startsAt.toISOString(),
    provider_id: booking.providerId,
    service_id: booking.serviceId,
  });

  const providerOf = async (tx: Db, booking: BookingRow, known?: KnownOffer) =>
    known ? known.provider : catalog.findProvider(booking.providerId, tx);

  /** The people of a booking: its customer (unless erased) and its provider's account. */
  const partiesWith = (booking: BookingRow, provider: ProviderRow | undefined): string[] =>
    [booking.customerId, provider?.userId].filter((id): id is string => Boolean(id));
  const partiesOf = async (tx: Db, booking: BookingRow, known?: KnownOffer): Promise<string[]> =>
    partiesWith(booking, await providerOf(tx, booking, known));

  /** Tells these people's open apps about the booking, once the caller's transaction commits. */
  const tell = (to: string[], booking: BookingRow, type: LiveMessageType, extra: Record<string, unknown> = {}) =>
    deps.events.publish('live.message', { to, type, data: { ...liveData(booking), ...extra } });

  /** Tells both parties' open apps, once the caller's transaction commits. */
  const announce = async (
    tx: Db,
    booking: BookingRow,
    type: LiveMessageType,
    extra: Record<string, unknown> = {},
    known?: KnownOffer,
  ) => tell(await partiesOf(tx, booking, known), booking, type, extra);

  const templateData = async (tx: Db, booking: BookingRow, known?: KnownOffer) => {
    const [offer, provider] = known
      ? [known, known.provider]
      : await Promise.all([
          catalog.bookableService(booking.serviceId, tx),
          catalog.findProvider(booking.providerId, tx),
        ]);
    return {
      provider,
      data: {
        service_name: offer?.service.name ?? 'Your booking',
        starts_at: booking.startsAt.toISOString(),
        booking_id: booking.id,
        ...(provider ? { provider_name: provider.displayName } : {}),
      },
    };
  };

  return {
    /** A change of the booking must reach both parties now: urgent, so no quiet hours and no weekly cap. */
    async notifyBoth(
      tx: Db,
      booking: BookingRow,
      template: TemplateName,
      extra: Record<string, unknown> = {},
      known?: KnownOffer,
    ) {
      const { provider, data } = await templateData(tx, booking, known);
      const recipients = partiesWith(booking, provider);
      const type = LIVE_TYPE_OF[template];
      if (type) await tell(recipients, booking, type);
      for (const userId of new Set(recipients)) {
        await deps.notify.send(tx, {
          userId,
          purpose: 'booking',
          template,
          data: { ...data, ...extra },
          urgent: true,
        });
      }
    },

    /** A change one party made, told to the other (the one who made it has the answer and the live message). */
    async notifyOther(tx: Db, booking: BookingRow, by: Party, template: TemplateName, extra: Record<string, unknown>) {
      const { provider, data } = await templateData(tx, booking);
      const userId = by === 'customer' ? provider?.userId : booking.customerId;
      if (!userId) return;
      await deps.notify.send(tx, { userId, purpose: 'booking', template, data: { ...data, ...extra }, urgent: true });
    },

    /**
     * A weekly series is one message to each party, not one per visit: the customer's receipt and
     * the provider's news (to confirm, when they confirm by hand), with one reminder to confirm
     * after CONFIRM_NUDGE_AFTER_MS for the first visit if it still waits.
     */
    async seriesBooked(tx: Db, rows: BookingRow[], offer: KnownOffer, now: Date) {
      const [first, last] = [rows[0], rows[rows.length - 1]];
      if (!first || !last) return;
      const { data } = await templateData(tx, first, offer);
      const series = {
        service_name: data.service_name,
        provider_name: offer.provider.displayName,
        starts_at: first.startsAt.toISOString(),
        last_starts_at: last.startsAt.toISOString(),
        count: String(rows.length),
        status: first.status,
      };
      for (const userId of new Set(partiesWith(first, offer.provider))) {
        await deps.notify.send(tx, {
          userId,
          purpose: 'booking',
          template: 'booking_series_created',
          data: series,
          urgent: true,
        });
      }
      if (first.status === 'pending') {
        await deps.outbox.enqueue(tx, {
          type: BOOKING_CONFIRM_NUDGE,
          payload: { booking_id: first.id },
          deliverAfter: new Date(now.getTime() + CONFIRM_NUDGE_AFTER_MS),
        });
      }
    },

    /** A change only the customer needs to hear of (an unpaid booking released). */
    async notifyCustomer(tx: Db, booking: BookingRow, template: TemplateName, extra: Record<string, unknown> = {}) {
      const type = LIVE_TYPE_OF[template];
      if (type) await announce(tx, booking, type);
      if (!booking.customerId) return;
      const { data } = await templateData(tx, booking);
      await deps.notify.send(tx, {
        userId: booking.customerId,
        purpose: 'booking',
        template,
        data: { ...data, ...extra },
        urgent: true,
      });
    },

    announce,
    partiesOf,

    /**
     * The provider hears that a booking waits for their confirmation, and once more after
     * CONFIRM_NUDGE_AFTER_MS if it still does.
     */
    async waitingForProvider(tx: Db, booking: BookingRow, now: Date, known?: KnownOffer) {
      const { provider, data } = await templateData(tx, booking, known);
      if (!provider?.userId) return;
      await deps.notify.send(tx, {
        userId: provider.userId,
        purpose: 'booking',
        template: 'booking_pending',
        data: { service_name: data.service_name, starts_at: data.starts_at, booking_id: booking.id },
        // Their business: outside the weekly cap; quiet hours still apply.
        priority: true,
      });
      await deps.outbox.enqueue(tx, {
        type: BOOKING_CONFIRM_NUDGE,
        payload: { booking_id: booking.id },
        deliverAfter: new Date(now.getTime() + CONFIRM_NUDGE_AFTER_MS),
      });
    },

    /** Outbox handler: the provider's reminder of a booking still waiting for them (nothing if it moved on). */
    nudge: async (payload: Record<string, unknown>): Promise<void> => {
      const id = payload.booking_id;
      if (typeof id !== 'string') return;
      await inTransaction(deps.db, async (tx) => {
        const booking = await deps.repository.find(tx, id, { forUpdate: true });
        if (booking?.status !== 'pending') return;
        const provider = await catalog.findProvider(booking.providerId, tx);
        if (!provider?.userId) return;
        const { data } = await templateData(tx, booking);
        await deps.notify.send(tx, {
          userId: provider.userId,
          purpose: 'booking',
          template: 'booking_pending',
          data: {
            service_name: data.service_name,
            starts_at: data.starts_at,
            booking_id: booking.id,
            waiting_since: booking.createdAt.toISOString(),
          },
          priority: true,
        });
      });
    },

    /** After a completed visit the customer is asked for a review (nothing if they were erased). */
    async askForReview(tx: Db, booking: BookingRow) {
      if (!booking.customerId) return;
      const { data } = await templateData(tx, booking);
      await deps.notify.send(tx, {
        userId: booking.customerId,
        purpose: 'booking',
        template: 'review_request',
        data: {
          service_name: data.service_name,
          booking_id: booking.id,
          ...(data.provider_name ? { provider_name: data.provider_name } : {}),
        },
        priority: true,
      });
    },

    /** The provider hears of a new review of their service. */
    async reviewPosted(tx: Db, booking: BookingRow, rating: number) {
      const provider = await catalog.findProvider(booking.providerId, tx);
      if (!provider?.userId) return;
      const { data } = await templateData(tx, booking);
      await deps.events.publish('live.message', {
        to: [provider.userId],
        type: 'review.posted',
        data: { booking_id: booking.id, provider_id: booking.providerId, rating },
      });
      await deps.notify.send(tx, {
        userId: provider.userId,
        purpose: 'booking',
        template: 'review_posted',
        data: { service_name: data.service_name, booking_id: booking.id, rating: String(rating) },
        priority: true,
      });
    },

    /**
     * Queues the customer's reminder 24 h before the start; a booking made less than a day ahead
     * is reminded 2 h before, and one made less than 3 h ahead gets none.
     */
    async queueReminder(tx: Db, booking: BookingRow, now: Date) {
      let remindAt = new Date(booking.startsAt.getTime() - REMINDER_BEFORE_MS);
      if (remindAt <= now) {
        remindAt = new Date(booking.startsAt.getTime() - LATE_REMINDER_BEFORE_MS);
        if (remindAt.getTime() - now.getTime() < LATE_REMINDER_MIN_LEAD_MS) return;
      }
      await deps.outbox.enqueue(tx, {
        type: BOOKING_REMIND,
        payload: { booking_id: booking.id, due_at: remindAt.toISOString() },
        deliverAfter: remindAt,
      });
    },

    /**
     * Outbox handler: the customer's reminder. Whether to send it is decided when it is due, so a
     * booking cancelled in the meantime sends nothing.
     */
    remind: async (payload: Record<string, unknown>): Promise<void> => {
      const id = payload.booking_id;
      if (typeof id !== 'string') return;
      await inTransaction(deps.db, async (tx) => {
        const booking = await deps.repository.find(tx, id, { forUpdate: true });
        if (!booking?.customerId || !ACTIVE_STATUSES.includes(booking.status)) return;
        const { data } = await templateData(tx, booking);
        const dueAt = typeof payload.due_at === 'string' ? Date.parse(payload.due_at) : deps.clock.now().getTime();
        const soon = booking.startsAt.getTime() - dueAt < REMINDER_BEFORE_MS / 2;
        await deps.notify.send(tx, {
          userId: booking.customerId,
          purpose: 'booking',
          template: 'booking_reminder',
          data: soon ? { ...data, when: 'soon' } : data,
          // The customer asked for it: outside the weekly cap; quiet hours and consent still apply.
          priority: true,
        });
      });
    },
  };
}

export type BookingMessages = ReturnType<typeof createBookingMessages>;
