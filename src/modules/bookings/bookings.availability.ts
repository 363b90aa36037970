import type { Static } from '@sinclair/typebox';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import type { Track } from '../analytics/index.js';
import type { CatalogService } from '../catalog/index.js';
import { type Availability, toSchedule } from './bookings.dto.js';
import { ownProvider } from './bookings.parties.js';
import type { BookingsRepository } from './bookings.repository.js';
import type { SlotsQuery, SlotsSchema } from './bookings.schemas.js';
import {
  DEFAULT_MIN_NOTICE_MS,
  HORIZON_MS,
  openStartTimes,
  type Schedule,
  scheduleProblems,
  slotBounds,
} from './bookings.slots.js';
import { type SlotsCache, type SlotWindow, startsIn, toRuns } from './bookings.slots-cache.js';

const DAY_MS = 86_400_000;
const DEFAULT_SLOT_RANGE_MS = 7 * DAY_MS;
const MAX_SLOT_RANGE_MS = HORIZON_MS + DAY_MS;

/** A provider's schedule, or undefined while the provider has not set one (no slots). */
export async function scheduleOf(
  repository: Pick<BookingsRepository, 'availability'>,
  db: Db,
  providerId: string,
): Promise<Schedule | undefined> {
  const row = await repository.availability(db, providerId);
  return row ? toSchedule(row) : undefined;
}

/** The provider's weekly hours, breaks and date exceptions, and the free start times they leave. */
export function createAvailability(deps: {
  db: Db;
  repository: BookingsRepository;
  /** Where slot lists are kept (computed on the primary, or on the read replica while the store is down). */
  slotsCache: SlotsCache;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser'>;
  track: Track;
  clock: Clock;
  minNoticeMs?: number;
}) {
  const { db, repository, catalog, clock, slotsCache } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

  /** The service's open start times over `range`, or undefined when it is not this provider's bookable service. */
  const computeWindow = async (
    source: Db,
    providerId: string,
    serviceId: string,
    range: { from: number; to: number },
  ): Promise<SlotWindow | undefined> => {
    const offer = await catalog.bookableService(serviceId, source);
    if (!offer || offer.provider.id !== providerId) return undefined;
    const { service } = offer;
    const blockMs = (service.durationMinutes + service.bufferMinutes) * 60_000;
    const inputs = await repository.slotInputs(
      source,
      providerId,
      new Date(range.from - blockMs),
      new Date(range.to + blockMs),
    );
    const starts = inputs
      ? openStartTimes({
          schedule: toSchedule(inputs),
          ...range,
          durationMinutes: service.durationMinutes,
          bufferMinutes: service.bufferMinutes,
          busy: inputs.busy,
        })
      : [];
    return {
      service_id: service.id,
      time_zone: inputs?.timeZone ?? offer.provider.timeZone,
      duration_minutes: service.durationMinutes,
      runs: toRuns(starts),
    };
  };

  return {
    async getAvailability(actor: Actor): Promise<Availability> {
      const provider = await ownProvider(catalog, actor, db);
      const row = await repository.availability(db, provider.id);
      return {
        ...(row ? toSchedule(row) : { time_zone: provider.timeZone, weekly: [], breaks: [], exceptions: [] }),
        updated_at: row?.updatedAt.toISOString() ?? null,
      };
    },

    async putAvailability(actor: Actor, input: Schedule): Promise<Availability> {
      const problems = scheduleProblems(input);
      if (problems.length > 0) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', { details: problems });
      }
      const provider = await ownProvider(catalog, actor, db);
      const row = await repository.saveAvailability(db, {
        providerId: provider.id,
        timeZone: input.time_zone,
        weekly: input.weekly,
        breaks: input.breaks,
        exceptions: input.exceptions,
        updatedAt: clock.now(),
      });
      await slotsCache.changed(provider.id);
      return { ...toSchedule(row), updated_at: row.updatedAt.toISOString() };
    },

    /**
     * Free start times: the service's open start times over today's window (bookings.slots-cache.ts:
     * from the shared store, or the offer, schedule and busy blocks in two queries), cut to the
     * range asked and to now + notice … now + horizon.
     */
    async slots(
      actorId: string | null,
      providerId: string,
      query: Static<typeof SlotsQuery>,
    ): Promise<Static<typeof SlotsSchema>> {
      const now = clock.now();
      const window = await slotsCache.window(providerId, query.service_id, now, (source, range) =>
        computeWindow(source, providerId, query.service_id, range),
      );
      if (!window) throw notFound('Service');
      const from = query.from ? new Date(query.from) : now;
      const to = query.to ? new Date(query.to) : new Date(from.getTime() + DEFAULT_SLOT_RANGE_MS);
      if (to <= from) throw invalidField('query.to', 'must be after from');
      if (to.getTime() - from.getTime() > MAX_SLOT_RANGE_MS) {
        throw invalidField('query.to', 'at most 60 days after from');
      }
      const { earliest, latest } = slotBounds({ from, to, now, minNoticeMs });
      const slots = startsIn(window, earliest, latest);
      // Stored after the answer, batched (a slot list is read far more often than anything is booked).
      deps.track.later(db, 'slot_viewed', actorId, {
        provider_id: providerId,
        service_id: window.service_id,
        slots: slots.length,
      });
      return {
        provider_id: providerId,
        service_id: window.service_id,
        time_zone: window.time_zone,
        duration_minutes: window.duration_minutes,
        slots,
      };
    },
  };
}
