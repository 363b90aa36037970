import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isForeignKeyViolation } from '../../infra/db/errors.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { LiveMessageType } from '../../shared/events.js';
import type { LiveHub } from './live.hub.js';
import { type FanOutMessage, frameOf, RESUME_LIMIT, RESUME_WINDOW_MS, type ServerMessage } from './live.protocol.js';
import type { LiveRepository } from './live.repository.js';
import type { LiveEventRow } from './live.tables.js';

/** The store channel every instance listens on. */
export const FAN_OUT_CHANNEL = 'live';
const presenceKey = (userId: string) => `live:online:${userId}`;

const toMessage = (row: Pick<LiveEventRow, 'id' | 'type' | 'data' | 'createdAt'>): ServerMessage => ({
  type: row.type,
  id: row.id,
  at: row.createdAt.toISOString(),
  data: row.data,
});

/**
 * Live messages: each is stored per recipient (for resume, a day), then published through the
 * shared store so every instance — this one included — writes it to the recipient's sockets.
 * Only ever called after the change it reports committed (the event bus runs it then).
 */
export function createLiveService(deps: {
  db: Db;
  repository: LiveRepository;
  kv: KeyValueStore;
  hub: LiveHub;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** How long a person counts as connected after the last heartbeat of one of their sockets. */
  presenceTtlMs: number;
}) {
  const { db, repository, kv, hub, clock, logger } = deps;

  const store = async (rows: LiveEventRow[]) => {
    try {
      await repository.insert(db, rows);
    } catch (error) {
      if (!isForeignKeyViolation(error)) throw error;
      // A recipient was erased meanwhile: store the others one by one.
      for (const row of rows) await repository.insert(db, [row]).catch(() => undefined);
    }
  };

  return {
    /** Stores and fans out one message to each of `to` (duplicates removed); `live` fields are sent, never stored. */
    async publish(
      to: string[],
      type: LiveMessageType,
      data: Record<string, unknown>,
      live?: Record<string, unknown>,
    ): Promise<void> {
      const recipients = [...new Set(to)];
      if (recipients.length === 0) return;
      const createdAt = clock.now();
      const rows = recipients.map((userId) => ({ id: deps.ids(), userId, type, data, createdAt }));
      await store(rows);
      const message: FanOutMessage = {
        type,
        at: createdAt.toISOString(),
        data,
        ...(live ? { live } : {}),
        recipients: rows.map((row) => ({ user_id: row.userId, id: row.id })),
      };
      await kv.publish(FAN_OUT_CHANNEL, JSON.stringify(message));
    },

    /** What every instance does with a published message: write it to the recipients' sockets here. */
    receive(raw: string): void {
      let message: FanOutMessage;
      try {
        message = JSON.parse(raw) as FanOutMessage;
      } catch {
        logger.warn('live: unreadable fan-out message');
        return;
      }
      const data = message.live ? { ...message.data, ...message.live } : message.data;
      for (const recipient of message.recipients ?? []) {
        if (!hub.isHere(recipient.user_id)) continue;
        hub.deliver(
          recipient.user_id,
          recipient.id,
          frameOf({ type: message.type, id: recipient.id, at: message.at, data }),
        );
      }
    },

    /**
     * What the person missed after `lastEventId`, within the last day, oldest first; `gap` when
     * some of it is no longer here (older than a day, or more than RESUME_LIMIT messages).
     */
    async missedSince(userId: string, lastEventId: string): Promise<{ messages: ServerMessage[]; gap: boolean }> {
      const since = new Date(clock.now().getTime() - RESUME_WINDOW_MS);
      const rows = await repository.after(db, userId, lastEventId, since, RESUME_LIMIT + 1);
      // The message they last got is no longer kept (older than a day, or not theirs): some may be gone.
      const gap = rows.length > RESUME_LIMIT || !(await repository.has(db, userId, lastEventId, since));
      return { messages: rows.slice(0, RESUME_LIMIT).map(toMessage), gap };
    },

    /** Whether the person has a socket open on any instance (within one heartbeat). */
    async isOnline(userId: string): Promise<boolean> {
      if (hub.isHere(userId)) return true;
      return (await kv.get(presenceKey(userId)).catch(() => undefined)) !== undefined;
    },

    /** Marks people as connected for one more heartbeat (best effort: presence only tunes notifications). */
    markOnline(userIds: string[]): void {
      for (const userId of userIds) {
        kv.set(presenceKey(userId), '1', deps.presenceTtlMs).catch(() => undefined);
      }
    },
  };
}

export type LiveService = ReturnType<typeof createLiveService>;
