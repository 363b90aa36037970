/**
 * Providers' open start times, cached in the shared store until something that changes them
 * happens. What a slot list depends on, and what makes a cached one stale:
 *
 * - the provider's schedule and the active bookings' blocks: every write to them moves the
 *   provider's generation on once it commits (`changed`: a schedule saved; a booking made,
 *   cancelled, released unpaid, completed or marked a no-show);
 * - the service (bookable, duration, buffer) and the provider's profile (verified, time zone):
 *   the catalog's own generation (CATALOG_GENERATION), moved on by every catalog change;
 * - the time now: a cached list holds the open start times of a whole window, from the start of
 *   today (UTC) to past the horizon of any time today, whatever the time now; each request cuts
 *   it to its own [now + notice, now + horizon] (slotBounds), so a cached answer never offers a
 *   time that has passed or lies inside the notice, and the key moves on each day.
 *
 * Both generations are read before the database, and moved on after the commit: a list computed
 * from data older than a change is stored under a generation no request asks for any more. The
 * lists are computed on the primary, so a cached list never freezes a replica's lag. The store
 * is an optimisation: while it cannot be read, lists are computed on the read handle, uncached.
 */

import type { Db } from '../../infra/db/client.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { ReadThroughCache } from '../../infra/kv/cache.js';
import { CATALOG_GENERATION } from '../catalog/index.js';
import { HORIZON_MS, SLOT_GRID_MINUTES } from './bookings.slots.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const GRID_MS = SLOT_GRID_MINUTES * MINUTE_MS;
/** How long a list is kept when nothing changes: a bound on what a lost invalidation can cost. */
export const SLOTS_TTL_MS = 10 * 60_000;
// Outlives every cached list, so a counter that expired and restarted never meets an old list.
const GENERATION_TTL_MS = 365 * DAY_MS;

const generationKey = (providerId: string) => `bookings:slots-gen:${providerId}`;

/** A service's open start times over a window, as cached. */
export interface SlotWindow {
  service_id: string;
  time_zone: string;
  duration_minutes: number;
  /** Open start times, ascending, as runs: [first start in epoch minutes, how many starts a grid step apart]. */
  runs: [number, number][];
}

/** The window a list computed at `now` covers: every start any request today may be offered. */
export function windowAt(now: Date): { from: number; to: number } {
  const from = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  // The latest start offered today is before the end of today + the horizon.
  return { from, to: from + DAY_MS + HORIZON_MS + 1 };
}

/** Start times (epoch ms, ascending) as runs of grid steps: ~3 numbers a day instead of ~30 times. */
export function toRuns(starts: number[]): [number, number][] {
  const runs: [number, number][] = [];
  let last: [number, number] | undefined;
  let next = Number.NaN;
  for (const start of starts) {
    if (last && start === next) last[1] += 1;
    else {
      last = [start / MINUTE_MS, 1];
      runs.push(last);
    }
    next = start + GRID_MS;
  }
  return runs;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** "HH:MM:00.000Z" of each minute of a UTC day, made once. */
let timesOfDay: string[] | undefined;
const timeOfDay = (minute: number) => {
  timesOfDay ??= Array.from({ length: 1440 }, (_, m) => `${pad(Math.floor(m / 60))}:${pad(m % 60)}:00.000Z`);
  return timesOfDay[minute] as string;
};

/**
 * The window's start times in [earliest, latest), as ISO strings (toISOString's form), made from
 * the day ("YYYY-MM-DDT", once a day) and the minute: a 60-day list is ~1,200 of them a request.
 */
export function startsIn(window: SlotWindow, earliest: number, latest: number): string[] {
  const starts: string[] = [];
  const gridMinutes = GRID_MS / MINUTE_MS;
  let day = Number.NaN;
  let prefix = '';
  for (const [firstMinute, count] of window.runs) {
    const first = firstMinute * MINUTE_MS;
    if (first >= latest) break;
    if (first + (count - 1) * GRID_MS < earliest) continue;
    for (let i = Math.max(0, Math.ceil((earliest - first) / GRID_MS)); i < count; i++) {
      const minute = firstMinute + i * gridMinutes;
      if (minute * MINUTE_MS >= latest) break;
      if (!Number.isInteger(minute)) {
        // A zone offset with seconds (none in use today): the slow, general way.
        starts.push(new Date(minute * MINUTE_MS).toISOString());
        continue;
      }
      const minuteDay = Math.floor(minute / 1440);
      if (minuteDay !== day) {
        day = minuteDay;
        prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
      }
      starts.push(prefix + timeOfDay(minute - day * 1440));
    }
  }
  return starts;
}

export function createSlotsCache(deps: { cache: ReadThroughCache; db: Db; readDb: Db }) {
  const { cache, db, readDb } = deps;
  return {
    /**
     * The window of the provider's service that starts today (windowAt), from the store or
     * computed by `compute` on the given handle; undefined when `compute` finds no such offer.
     */
    async window(
      providerId: string,
      serviceId: string,
      now: Date,
      compute: (db: Db, window: { from: number; to: number }) => Promise<SlotWindow | undefined>,
    ): Promise<SlotWindow | undefined> {
      const window = windowAt(now);
      const [own, catalog] = await Promise.all([
        cache.generation(generationKey(providerId)),
        cache.generation(CATALOG_GENERATION),
      ]);
      if (own === undefined || catalog === undefined) return compute(readDb, window);
      const key = `bookings:slots:${providerId}:${serviceId}:${own}.${catalog}:${window.from}`;
      return cache.get(key, SLOTS_TTL_MS, () => compute(db, window));
    },

    /**
     * The provider's schedule or bookings changed in `tx` (or just now, outside a transaction):
     * every cached list of theirs is stale, on every instance, once it commits.
     */
    changed: (providerId: string): Promise<void> =>
      afterCommit(
        () => cache.bump(generationKey(providerId), GENERATION_TTL_MS),
        () => {},
      ),
  };
}

export type SlotsCache = ReturnType<typeof createSlotsCache>;
