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
import { DEFAULT_MIN_NOTICE_MS, freeSlots, HORIZON_MS, type Schedule, scheduleProblems } from './bookings.slots.js';

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
  /**
   * Where free slots are computed (the read replica when there is one). A slot a just-made booking
   * took may show for the replica's lag; booking it is refused on the primary (the exclusion constraint).
   */
  readDb: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'bookableService' | 'providerOfUser'>;
  track: Track;
  clock: Clock;
  minNoticeMs?: number;
}) {
  const { db, readDb, repository, catalog, clock } = deps;
  const minNoticeMs = deps.minNoticeMs ?? DEFAULT_MIN_NOTICE_MS;

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
      return { ...toSchedule(row), updated_at: row.updatedAt.toISOString() };
    },

    /** Free start times: one query for the schedule, one for the range's bookings, the rest in memory. */
    async slots(
      actorId: string | null,
      providerId: string,
      query: Static<typeof SlotsQuery>,
    ): Promise<Static<typeof SlotsSchema>> {
      const offer = await catalog.bookableService(query.service_id, readDb);
      if (!offer || offer.provider.id !== providerId) throw notFound('Service');
      const now = clock.now();
      const from = query.from ? new Date(query.from) : now;
      const to = query.to ? new Date(query.to) : new Date(from.getTime() + DEFAULT_SLOT_RANGE_MS);
      if (to <= from) throw invalidField('query.to', 'must be after from');
      if (to.getTime() - from.getTime() > MAX_SLOT_RANGE_MS) {
        throw invalidField('query.to', 'at most 60 days after from');
      }
      const { service } = offer;
      const blockMs = (service.durationMinutes + service.bufferMinutes) * 60_000;
      const schedule = await scheduleOf(repository, readDb, providerId);
      const busy = schedule
        ? await repository.activeBlocks(
            readDb,
            providerId,
            new Date(from.getTime() - blockMs),
            new Date(to.getTime() + blockMs),
          )
        : [];
      const slots = schedule
        ? freeSlots({
            schedule,
            from,
            to,
            now,
            durationMinutes: service.durationMinutes,
            bufferMinutes: service.bufferMinutes,
            busy: busy.map((block) => ({ from: block.from.getTime(), until: block.until.getTime() })),
            minNoticeMs,
          })
        : [];
      await deps.track(db, 'slot_viewed', actorId, {
        provider_id: providerId,
        service_id: service.id,
        slots: slots.length,
      });
      return {
        provider_id: providerId,
        service_id: service.id,
        time_zone: schedule?.time_zone ?? offer.provider.timeZone,
        duration_minutes: service.durationMinutes,
        slots: slots.map((slot) => slot.toISOString()),
      };
    },
  };
}
