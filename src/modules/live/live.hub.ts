import type { WebSocket } from 'ws';
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { readAuthChange } from '../identity/index.js';
import { AUTH_CHECK_MS, CLOSE, SESSION_RECHECK_MS } from './live.protocol.js';

/** One open socket and who it belongs to (once authenticated). */
export interface LiveConnection {
  socket: WebSocket;
  userId?: string;
  sessionId?: string;
  /** Issue time of the token (ms): a security change after it closes the socket. */
  issuedAtMs?: number;
  /** When the token runs out (ms). */
  expiresAtMs?: number;
  /** Answered the last ping. */
  alive: boolean;
  /** While missed messages are replayed, live ones wait here (then those already replayed are skipped). */
  pending?: { id: string; frame: string }[];
  /** The newest message id a resume sent: a later fan-out of it (or of an older one) is skipped. */
  replayedUpTo?: string;
}

export interface SessionCheck {
  /** The shared store's view of the session (no database). */
  peek(sessionId: string, userId: string): Promise<{ revoked: boolean; validFrom: number }>;
}

/**
 * The sockets open on this instance, by person: delivery with back-pressure (a client whose
 * unsent bytes pass `maxBufferedBytes` is dropped, never buffered without bound), a cap per
 * person, pings every `heartbeatMs` (no pong by the next one: closed), and a check every half
 * second that each socket's token has not expired and its session was not revoked.
 */
export function createLiveHub(deps: {
  maxPerUser: number;
  maxBufferedBytes: number;
  heartbeatMs: number;
  clock: Clock;
  logger: Logger;
  metrics: Pick<Metrics, 'liveConnections' | 'liveMessages'>;
  sessions: SessionCheck;
  /** Called for each person with a socket here at every heartbeat (presence). */
  onHeartbeat?: (userIds: string[]) => void;
}) {
  const byUser = new Map<string, Set<LiveConnection>>();
  // Every socket, authenticated or not, so shutdown closes them all.
  const open = new Set<LiveConnection>();
  const timers: NodeJS.Timeout[] = [];
  let checking = false;

  const close = (connection: LiveConnection, code: number, reason: string) => {
    deps.metrics.liveMessages.inc({ outcome: `closed_${code}` });
    connection.socket.close(code, reason);
  };

  /** Writes one frame; false when the client is too slow and was dropped. */
  const write = (connection: LiveConnection, frame: string): boolean => {
    const socket = connection.socket;
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount > deps.maxBufferedBytes) {
      deps.metrics.liveMessages.inc({ outcome: 'dropped_slow' });
      deps.logger.info(
        { user_id: connection.userId, buffered: socket.bufferedAmount },
        'live socket too slow: dropped',
      );
      // A close frame would wait behind the unsent bytes: the connection is cut instead.
      socket.terminate();
      return false;
    }
    socket.send(frame);
    deps.metrics.liveMessages.inc({ outcome: 'sent' });
    return true;
  };

  const all = function* () {
    for (const connections of byUser.values()) yield* connections;
  };

  /** Tokens that ran out close their sockets (memory only, every half second). */
  const checkExpiry = () => {
    const now = deps.clock.now().getTime();
    for (const connection of all()) {
      if (connection.expiresAtMs !== undefined && now >= connection.expiresAtMs) {
        close(connection, CLOSE.TOKEN_EXPIRED, 'token expired');
      }
    }
  };

  /** The backstop for a lost announcement: every session looked up once, in parallel batches. */
  const recheckSessions = async () => {
    if (checking) return;
    checking = true;
    try {
      const bySession = new Map<string, LiveConnection[]>();
      for (const connection of all()) {
        if (!connection.sessionId || !connection.userId) continue;
        const key = `${connection.sessionId}:${connection.userId}`;
        bySession.set(key, [...(bySession.get(key) ?? []), connection]);
      }
      const groups = [...bySession.values()];
      for (let start = 0; start < groups.length; start += 200) {
        await Promise.all(
          groups.slice(start, start + 200).map(async (group) => {
            const first = group[0] as LiveConnection;
            const state = await deps.sessions.peek(first.sessionId as string, first.userId as string);
            for (const connection of group) {
              if (state.revoked) close(connection, CLOSE.SESSION_REVOKED, 'session revoked');
              else if ((connection.issuedAtMs ?? 0) < state.validFrom) {
                close(connection, CLOSE.SESSION_REVOKED, 'access changed');
              }
            }
          }),
        );
      }
    } catch (error) {
      // The store is down: sockets stay as they are until it answers (as HTTP fails open on it).
      deps.logger.warn({ err: error }, 'live session check failed');
    } finally {
      checking = false;
    }
  };

  const heartbeat = () => {
    for (const connections of byUser.values()) {
      for (const connection of connections) {
        if (!connection.alive) {
          close(connection, CLOSE.NO_PONG, 'no pong');
          connection.socket.terminate();
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
    }
    deps.onHeartbeat?.([...byUser.keys()]);
  };

  return {
    /** A socket opened (not yet authenticated). */
    attach(connection: LiveConnection): void {
      open.add(connection);
    },

    /** Adds an authenticated socket; false when the person already has the most allowed here. */
    add(connection: LiveConnection): boolean {
      const userId = connection.userId as string;
      const connections = byUser.get(userId) ?? new Set();
      if (connections.size >= deps.maxPerUser) return false;
      connections.add(connection);
      byUser.set(userId, connections);
      deps.metrics.liveConnections.inc();
      return true;
    },

    remove(connection: LiveConnection): void {
      open.delete(connection);
      if (!connection.userId) return;
      const connections = byUser.get(connection.userId);
      if (!connections?.delete(connection)) return;
      deps.metrics.liveConnections.dec();
      if (connections.size === 0) byUser.delete(connection.userId);
    },

    /** Sends `frame` (message `id`) to every socket of `userId` here (or to `only`). */
    deliver(userId: string, id: string, frame: string, only?: LiveConnection): void {
      for (const connection of only ? [only] : (byUser.get(userId) ?? [])) {
        if (connection.pending) connection.pending.push({ id, frame });
        // UUIDv7 ids sort by time: one at or before the replay's last was in the replay.
        else if (!(connection.replayedUpTo && id <= connection.replayedUpTo)) write(connection, frame);
      }
    },

    write,
    close,

    isHere: (userId: string) => byUser.has(userId),
    count: () => [...byUser.values()].reduce((sum, set) => sum + set.size, 0),

    /** A security change announced by any instance: the sockets it ends close now. */
    authChanged(raw: string): void {
      const change = readAuthChange(raw);
      if (!change) return;
      if (change.sessions.size > 0) {
        for (const connection of all()) {
          if (connection.sessionId && change.sessions.has(connection.sessionId))
            close(connection, CLOSE.SESSION_REVOKED, 'session revoked');
        }
      }
      const { user } = change;
      if (user) {
        for (const connection of byUser.get(user.id) ?? []) {
          if ((connection.issuedAtMs ?? 0) < user.validFrom) close(connection, CLOSE.SESSION_REVOKED, 'access changed');
        }
      }
    },

    start(): void {
      timers.push(
        setInterval(heartbeat, deps.heartbeatMs),
        setInterval(checkExpiry, AUTH_CHECK_MS),
        setInterval(() => void recheckSessions(), SESSION_RECHECK_MS),
      );
      for (const timer of timers) timer.unref();
    },

    /** Stops the timers and closes every socket with `code` (1001 on shutdown: reconnect elsewhere). */
    stop(code: number, reason: string): void {
      for (const timer of timers.splice(0)) clearInterval(timer);
      for (const connection of open) close(connection, code, reason);
    },
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
