import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isExclusionViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { type IdempotencyStore, replayOf, requestHashOf, type StoredAnswer } from '../../shared/idempotency.js';
import type { Track } from '../analytics/index.js';
import type { CatalogService } from '../catalog/index.js';
import { scheduleOf } from './bookings.availability.js';
import { type BookingInput, type PublicBooking, toPublicBooking } from './bookings.dto.js';
import type { BookingMessages } from './bookings.messages.js';
import type { BookingsRepository } from './bookings.repository.js';
import { DEFAULT_MIN_NOTICE_MS, isFreeSlot } from './bookings.slots.js';

const CREATE_SCOPE = 'bookings.create';

const slotUnavailable = () =>
  new AppError('SLOT_UNAVAILABLE', 'This time is not available; pick another slot (GET /providers/:id/slots)');

// What makes two booking requests the same request, whatever their spelling.
const bookingRequestHash = (input: BookingInput) =>
  requestHashOf({
    service_id: input.service_id,
    starts_at: new Date(input.starts_at).toISOString(),
    note: input.note ?? null,
  });

export interface CreatedBooking {
  statusCode: number;
  booking: PublicBooking;
  replayed: boolean;
}

/**
 * Booking a free slot. Double booking is refused by the database (the `bookings_no_overlap`
 * exclusion constraint); the slot check in code only gives the usual case a clear answer before
 * the insert.
 */
export function createBookingCreation(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService'>;
  messages: Pick<BookingMessages, 'notifyBoth' | 'queueReminder'>;
  track: Track;
  idempotency: IdempotencyStore;
  clock: Clock;
  ids: IdGenerator;
  minNoticeMs?: number;
}) {
  const { db, repository, catalog, messages, clock } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  return {
    /**
     * With an idempotency key, the key is claimed in the booking's transaction: a replay (same
     * body) gets the first answer back, another body 409 IDEMPOTENCY_KEY_REUSED. A refused booking
     * stores nothing, so retrying it is decided afresh.
     */
    async create(actor: Actor, input: BookingInput, idempotencyKey?: string): Promise<CreatedBooking> {
      const requestHash = bookingRequestHash(input);
      const keyRef = idempotencyKey ? { userId: actor.id, scope: CREATE_SCOPE, key: idempotencyKey } : undefined;
      const replay = (stored: StoredAnswer): CreatedBooking => {
        const { statusCode, response } = replayOf(stored, requestHash);
        return { statusCode, booking: response as PublicBooking, replayed: true };
      };
      if (keyRef) {
        const stored = await deps.idempotency.find(db, keyRef);
        if (stored) return replay(stored);
      }

      const offer = await catalog.bookableService(input.service_id);
      if (!offer) throw notFound('Service');
      const { service, provider } = offer;
      const startsAt = new Date(input.starts_at);
      const schedule = await scheduleOf(repository, db, provider.id);
      const now = clock.now();
      // Schedule, notice, horizon and grid here; overlap with other bookings is the constraint's job.
      const slotQuery = {
        now,
        durationMinutes: service.durationMinutes,
        bufferMinutes: service.bufferMinutes,
        busy: [],
        minNoticeMs,
      };
      if (!schedule || !isFreeSlot({ schedule, ...slotQuery }, startsAt)) throw slotUnavailable();

      try {
        return await inTransaction(db, async (tx) => {
          // Taken since the check above: the claim waited for that transaction, so its answer is stored.
          if (keyRef && !(await deps.idempotency.claim(tx, keyRef, requestHash))) {
            const stored = await deps.idempotency.find(tx, keyRef);
            if (stored) return replay(stored);
          }
          const endsAt = new Date(startsAt.getTime() + service.durationMinutes * 60_000);
          const row = await repository.insert(tx, {
            id: deps.ids(),
            customerId: actor.id,
            providerId: provider.id,
            serviceId: service.id,
            status: provider.autoConfirm ? 'confirmed' : 'pending',
            startsAt,
            endsAt,
            blocksFrom: startsAt,
            blocksUntil: new Date(endsAt.getTime() + service.bufferMinutes * 60_000),
            priceMinor: service.priceMinor,
            currency: service.currency,
            note: input.note ?? null,
            paymentStatus: null,
            createdAt: now,
            updatedAt: now,
          });
          await deps.track(tx, 'booking_created', actor.id, {
            booking_id: row.id,
            provider_id: provider.id,
            service_id: service.id,
            status: row.status,
            price_minor: row.priceMinor,
            currency: row.currency,
          });
          if (row.status === 'confirmed') await messages.notifyBoth(tx, row, 'booking_confirmed');
          await messages.queueReminder(tx, row, now);
          const booking = toPublicBooking(row);
          if (keyRef) await deps.idempotency.complete(tx, keyRef, { statusCode: 201, response: booking });
          return { statusCode: 201, booking, replayed: false };
        });
      } catch (error) {
        // exclusion_violation: another active booking holds overlapping time.
        if (isExclusionViolation(error)) throw slotUnavailable();
        throw error;
      }
    },
  };
}
