import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Actor } from '../../shared/actor.js';
import {
  declaredProperties,
  EVENT_CATALOGUE,
  type EventName,
  isEventName,
  propertyError,
} from './analytics.catalogue.js';
import type { Tracker } from './analytics.tracker.js';

export const MAX_BATCH = 500;
/** How far back a client's event time may be (offline apps send late), and ahead (clock skew). */
export const CLIENT_TIME_PAST_MS = 7 * 86_400_000;
export const CLIENT_TIME_FUTURE_MS = 10 * 60_000;
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const EVENT_KEYS = new Set(['name', 'time', 'device_id', 'properties']);

export type RejectReason =
  | 'invalid_event'
  | 'unknown_event'
  | 'server_only_event'
  | 'invalid_time'
  | 'time_out_of_range'
  | 'invalid_device_id'
  | 'invalid_properties';

export interface IngestResult {
  /** Valid events taken: those stored plus the anonymous repeats (`duplicates`) already counted. */
  accepted: number;
  /** Of the accepted, anonymous events not stored again (same device, event, item and UTC day). */
  duplicates: number;
  rejected: { index: number; reason: RejectReason; detail: string }[];
  dropped_no_consent: number;
  dropped_properties: number;
}

/**
 * The properties naming the item an event is about, for de-duplicating anonymous events; an
 * event without any (plan views, searches) is about nothing finer than its name.
 */
const ITEM_PROPERTIES: Partial<Record<EventName, readonly string[]>> = {
  content_viewed: ['content_id'],
  slot_viewed: ['provider_id', 'service_id'],
};

/**
 * An anonymous event's de-duplication key: the hex SHA-256 of (device id, event name, item,
 * UTC day), so a device counts once per item and day and the device id itself is never stored.
 * Ids are lower-cased: changing their case does not make a new item.
 */
export function anonymousKey(deviceId: string, name: EventName, properties: Record<string, unknown>, time: Date) {
  const item = (ITEM_PROPERTIES[name] ?? []).map((key) => String(properties[key] ?? '').toLowerCase());
  const day = time.toISOString().slice(0, 10);
  return {
    day,
    key: createHash('sha256')
      .update(JSON.stringify([deviceId, name, item, day]))
      .digest('hex'),
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

type CheckedEvent = {
  name: EventName;
  time: Date;
  properties: Record<string, unknown>;
  dropped: number;
  dedupe: { day: string; key: string };
};

/** Checks one client event: the reason it is refused, or what to store. */
function checkClientEvent(raw: unknown, now: number): { reason: RejectReason; detail: string } | CheckedEvent {
  if (!isRecord(raw)) return { reason: 'invalid_event', detail: 'an event is an object' };
  const unknownKey = Object.keys(raw).find((key) => !EVENT_KEYS.has(key));
  if (unknownKey) return { reason: 'invalid_event', detail: `unknown field ${unknownKey}` };
  const { name, time, device_id: deviceId, properties = {} } = raw;
  if (typeof name !== 'string' || !isEventName(name)) {
    return { reason: 'unknown_event', detail: 'name is not in the event catalogue' };
  }
  if (EVENT_CATALOGUE[name].origin !== 'client') {
    return { reason: 'server_only_event', detail: `${name} is recorded by the server only` };
  }
  const at = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  if (Number.isNaN(at)) return { reason: 'invalid_time', detail: 'time is an ISO 8601 date-time' };
  if (at < now - CLIENT_TIME_PAST_MS || at > now + CLIENT_TIME_FUTURE_MS) {
    return { reason: 'time_out_of_range', detail: 'time is at most 7 days ago and not in the future' };
  }
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) {
    return { reason: 'invalid_device_id', detail: 'device_id is 1-128 letters, digits or . _ : -' };
  }
  if (!isRecord(properties)) return { reason: 'invalid_properties', detail: 'properties is an object' };
  const declared = declaredProperties(name, properties);
  const error = propertyError(name, declared.properties);
  if (error) return { reason: 'invalid_properties', detail: error };
  const when = new Date(at);
  return {
    name,
    time: when,
    properties: declared.properties,
    dropped: declared.dropped,
    dedupe: anonymousKey(deviceId, name, declared.properties, when),
  };
}

/**
 * `POST /events`: a batch of client events. Each is checked on its own; the good ones are
 * stored in one statement. A signed-in person's events are stored only with that person's analytics
 * consent (otherwise dropped and counted). Anonymous events are stored once per device, event,
 * item and UTC day (a repeat is accepted and counted as a duplicate, not stored): anyone can send
 * them, so they must not be able to inflate counts. The device id is checked but never stored
 * (only inside the de-duplication key's hash).
 */
export function createIngest(deps: { db: Db; tracker: Tracker; clock: Clock; metrics: Metrics }) {
  return async (actor: Actor | undefined, events: unknown[]): Promise<IngestResult> => {
    if (events.length > MAX_BATCH) throw new AppError('VALIDATION_ERROR', `At most ${MAX_BATCH} events a batch`);
    const now = deps.clock.now();
    const rejected: IngestResult['rejected'] = [];
    const good: CheckedEvent[] = [];
    let droppedProperties = 0;
    events.forEach((raw, index) => {
      const checked = checkClientEvent(raw, now.getTime());
      if ('reason' in checked) rejected.push({ index, ...checked });
      else {
        good.push(checked);
        droppedProperties += checked.dropped;
      }
    });
    deps.tracker.counted('client', 'rejected', rejected.length);
    if (droppedProperties > 0) deps.metrics.analyticsSanitised.inc({ action: 'undeclared' }, droppedProperties);
    const answer = (accepted: number, droppedNoConsent: number, duplicates = 0): IngestResult => ({
      accepted,
      duplicates,
      rejected,
      dropped_no_consent: droppedNoConsent,
      dropped_properties: droppedProperties,
    });
    if (good.length === 0) return answer(0, 0);
    const outcome = await deps.tracker.store(deps.db, actor?.id, good);
    return 'dropped' in outcome
      ? answer(0, outcome.dropped)
      : answer(outcome.stored + outcome.duplicates, 0, outcome.duplicates);
  };
}
