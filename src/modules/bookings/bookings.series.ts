import { Type } from '@sinclair/typebox';
import { AppError, type ErrorDetail, invalidField, notFound, type SlotUnavailableReason } from '../../errors.js';
import type { Db } from '../../infra/db/client.js';
import { isExclusionViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Actor } from '../../shared/actor.js';
import { Uuid } from '../../shared/http-schemas.js';
import { type IdempotencyStore, replayOf, requestHashOf, type StoredAnswer } from '../../shared/idempotency.js';
import { wallTime, zonedTimeToUtc } from '../../shared/zoned-time.js';
import type { CatalogService } from '../catalog/index.js';
import { type BookingInsertDeps, createBookingInsert, slotMessage, slotUnavailable } from './bookings.create.js';
import { type PublicBooking, toPublicBooking, toSchedule } from './bookings.dto.js';
import type { KnownOffer } from './bookings.messages.js';
import { lockOffers } from './bookings.repository.js';
import { DEFAULT_MIN_NOTICE_MS, slotUnavailableReason } from './bookings.slots.js';
import type { BookingRow } from './bookings.tables.js';

export const MIN_SERIES_WEEKS = 2;
export const MAX_SERIES_WEEKS = 12;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const SERIES_SCOPE = 'bookings.series';

export const SeriesBody = Type.Object(
  {
    service_id: Uuid,
    starts_at: Type.String({
      format: 'date-time',
      description:
        'the first visit, a time from GET /providers/:id/slots; the others follow weekly at the same local time',
    }),
    weeks: Type.Integer({
      minimum: MIN_SERIES_WEEKS,
      maximum: MAX_SERIES_WEEKS,
      description: 'how many weekly visits, the first included',
    }),
    note: Type.Optional(Type.String({ maxLength: 500, description: 'the same note on every visit' })),
  },
  { additionalProperties: false },
);

export interface SeriesInput {
  service_id: string;
  starts_at: string;
  weeks: number;
  note?: string;
}

/** One occurrence that cannot be booked: which week, when, and why. */
interface Conflict {
  week: number;
  startsAt: Date;
  reason: SlotUnavailableReason;
}

/**
 * The start of each weekly visit: the same wall-clock time in the provider's zone, so a series
 * crossing a DST change stays at 10:00 local. The first is the time asked for, exactly.
 */
export function weeklyStarts(first: Date, weeks: number, timeZone: string): Date[] {
  const wall = wallTime(first.getTime(), timeZone);
  const seconds = first.getTime() % 60_000;
  return Array.from({ length: weeks }, (_, week) =>
    week === 0
      ? first
      : new Date(
          zonedTimeToUtc(
            { year: wall.year, month: wall.month, day: wall.day + 7 * week },
            wall.minutes,
            timeZone,
          ).getTime() + seconds,
        ),
  );
}

/**
 * A weekly series of bookings of one service, booked all or nothing in one transaction: every
 * occurrence passes the checks of a single booking, or nothing is booked and the 409 names each
 * occurrence that failed. Only services paid at the visit: a paid series would need one payment
 * held for weeks, which the gateways' authorisations do not last.
 */
export function createBookingSeries(
  deps: BookingInsertDeps & {
    catalog: Pick<CatalogService, 'bookableService'>;
    idempotency: IdempotencyStore;
    minNoticeMs?: number;
  },
) {
  const { db, repository, catalog, clock } = deps;
  const insertBooking = createBookingInsert(deps);
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  const offerFor = async (tx: Db, actor: Actor, serviceId: string): Promise<KnownOffer> => {
    const offer = await catalog.bookableService(serviceId, tx);
    if (!offer) throw notFound('Service');
    if (offer.provider.userId === actor.id) throw new AppError('OWN_SERVICE', 'You cannot book your own service');
    if (offer.service.paymentMode === 'required') {
      throw invalidField(
        'body.service_id',
        'is paid at booking, and paid services cannot be booked as a series; book each visit with POST /api/v1/bookings',
      );
    }
    return offer;
  };

  /**
   * The occurrences' start times and those that cannot be booked, by the single-booking rules and
   * the bookings already made, from one read of the schedule and the bookings of those weeks.
   */
  const planOf = async (tx: Db, offer: KnownOffer, input: SeriesInput) => {
    const { service, provider } = offer;
    const blockMs = (service.durationMinutes + service.bufferMinutes) * 60_000;
    const first = new Date(input.starts_at);
    // A day past the last week covers its visit whatever a DST change does to it.
    const until = new Date(first.getTime() + input.weeks * WEEK_MS + DAY_MS);
    // Waits for a waitlist offer being made for this provider; open offers are busy time in slotInputs.
    await lockOffers(tx, provider.id, 'shared');
    const inputs = await repository.slotInputs(tx, provider.id, first, until);
    const schedule = inputs && toSchedule(inputs);
    const starts = weeklyStarts(first, input.weeks, schedule?.time_zone ?? provider.timeZone);
    const busy = inputs?.busy ?? [];
    const now = clock.now();
    const conflicts: Conflict[] = [];
    starts.forEach((startsAt, index) => {
      const from = startsAt.getTime();
      const reason =
        slotUnavailableReason({ schedule, now, ...service, busy: [], minNoticeMs }, startsAt) ??
        (busy.some((block) => block.from < from + blockMs && block.until > from) ? 'taken' : undefined);
      if (reason) conflicts.push({ week: index + 1, startsAt, reason });
    });
    return { starts, conflicts };
  };

  /** 409 SLOT_UNAVAILABLE with one detail per occurrence that cannot be booked. */
  const seriesUnavailable = (conflicts: Conflict[]) => {
    const details: ErrorDetail[] = conflicts.map(({ week, startsAt, reason }) => ({
      field: 'body.starts_at',
      message: `week ${week} (${startsAt.toISOString()}): ${slotMessage(reason, minNoticeMs)}`,
      reason,
    }));
    const weeks = conflicts.map((conflict) => conflict.week).join(', ');
    return new AppError(
      'SLOT_UNAVAILABLE',
      `Nothing was booked: week ${weeks} cannot be booked (see details); pick another start time or fewer weeks`,
      { details },
    );
  };

  /** What a series that lost a race is told: the occurrences taken now, read afresh. */
  const raceRefusal = async (actor: Actor, input: SeriesInput): Promise<AppError> => {
    const offer = await offerFor(db, actor, input.service_id);
    const { conflicts } = await planOf(db, offer, input);
    return conflicts.length > 0 ? seriesUnavailable(conflicts) : slotUnavailable('taken', minNoticeMs);
  };

  /** The bookings of an earlier answer, as they are now (a visit may have been confirmed or cancelled since). */
  const current = async (stored: StoredAnswer, requestHash: string): Promise<PublicBooking[]> => {
    const { response } = replayOf(stored, requestHash);
    const ids = (response as PublicBooking[]).map((booking) => booking.id);
    const rows = await Promise.all(ids.map((id) => repository.find(db, id)));
    return rows.filter((row): row is BookingRow => row !== undefined).map(toPublicBooking);
  };

  return {
    /**
     * POST /bookings/series: the bookings, first visit first. With an Idempotency-Key, a replay
     * answers the same bookings (as they are now) and books nothing; another body with the key 409.
     */
    async bookSeries(
      actor: Actor,
      input: SeriesInput,
      idempotencyKey?: string,
    ): Promise<{ bookings: PublicBooking[]; replayed: boolean }> {
      const requestHash = requestHashOf({
        service_id: input.service_id,
        starts_at: new Date(input.starts_at).toISOString(),
        weeks: input.weeks,
        note: input.note ?? null,
      });
      const keyRef = idempotencyKey ? { userId: actor.id, scope: SERIES_SCOPE, key: idempotencyKey } : undefined;
      try {
        const result = await inTransaction(
          db,
          async (tx): Promise<{ rows: BookingRow[] } | { stored: StoredAnswer }> => {
            if (keyRef && !(await deps.idempotency.claim(tx, keyRef, requestHash))) {
              const stored = await deps.idempotency.find(tx, keyRef);
              if (stored) return { stored };
            }
            const offer = await offerFor(tx, actor, input.service_id);
            const { starts, conflicts } = await planOf(tx, offer, input);
            if (conflicts.length > 0) throw seriesUnavailable(conflicts);
            const rows: BookingRow[] = [];
            for (const startsAt of starts) {
              const single = { service_id: input.service_id, starts_at: startsAt.toISOString(), note: input.note };
              rows.push(await insertBooking(tx, actor, single, offer, { quiet: true }));
            }
            await deps.messages.seriesBooked(tx, rows, offer, clock.now());
            if (keyRef)
              await deps.idempotency.complete(tx, keyRef, { statusCode: 201, response: rows.map(toPublicBooking) });
            return { rows };
          },
        );
        if ('stored' in result) return { bookings: await current(result.stored, requestHash), replayed: true };
        return { bookings: result.rows.map(toPublicBooking), replayed: false };
      } catch (error) {
        // Another booking took one of the times between the check and the inserts: nothing was booked.
        if (isExclusionViolation(error)) throw await raceRefusal(actor, input);
        throw error;
      }
    },
  };
}
