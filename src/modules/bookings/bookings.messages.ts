import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify, TemplateName } from '../notifications/index.js';
import { ACTIVE_STATUSES, type BookingsRepository } from './bookings.repository.js';
import type { BookingRow } from './bookings.tables.js';

/** The outbox message that sends a booking's reminder, if the booking is still on by then. */
export const BOOKING_REMIND = 'booking.remind';
export const REMINDER_BEFORE_MS = 24 * 3_600_000;

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
}) {
  const { catalog } = deps;

  const templateData = async (tx: Db, booking: BookingRow) => {
    const [offer, provider] = await Promise.all([
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
    async notifyBoth(tx: Db, booking: BookingRow, template: TemplateName, extra: Record<string, unknown> = {}) {
      const { provider, data } = await templateData(tx, booking);
      const recipients = [booking.customerId, provider?.userId].filter((id): id is string => Boolean(id));
      for (const userId of new Set(recipients)) {
        await deps.notify.send(tx, {
          userId,
          channel: 'email',
          purpose: 'booking',
          template,
          data: { ...data, ...extra },
          urgent: true,
        });
      }
    },

    /** A change only the customer needs to hear of (an unpaid booking released). */
    async notifyCustomer(tx: Db, booking: BookingRow, template: TemplateName, extra: Record<string, unknown> = {}) {
      if (!booking.customerId) return;
      const { data } = await templateData(tx, booking);
      await deps.notify.send(tx, {
        userId: booking.customerId,
        channel: 'email',
        purpose: 'booking',
        template,
        data: { ...data, ...extra },
        urgent: true,
      });
    },

    /** Queues the reminder for 24 h before the start; a booking made closer to it gets none. */
    async queueReminder(tx: Db, booking: BookingRow, now: Date) {
      const remindAt = new Date(booking.startsAt.getTime() - REMINDER_BEFORE_MS);
      if (remindAt <= now) return;
      await deps.outbox.enqueue(tx, {
        type: BOOKING_REMIND,
        payload: { booking_id: booking.id },
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
        await deps.notify.send(tx, {
          userId: booking.customerId,
          channel: 'email',
          purpose: 'booking',
          template: 'booking_reminder',
          data,
          // The customer asked for it: outside the weekly cap; quiet hours and consent still apply.
          priority: true,
        });
      });
    },
  };
}

export type BookingMessages = ReturnType<typeof createBookingMessages>;
