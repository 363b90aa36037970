import type { KeyValueStore } from '../../infra/kv/kv.js';

/**
 * The store channel every instance hears security changes on at once (open WebSockets close on
 * them): `{ "sessions": [ids] }` for revoked sessions, `{ "user": id, "valid_from": ms }` for a
 * change to a person's access.
 */
export const AUTH_CHANGES_CHANNEL = 'auth:changes';

/** One announcement on AUTH_CHANGES_CHANNEL: sessions revoked, or a person's tokens made before a time refused. */
export interface AuthChange {
  sessions: Set<string>;
  user?: { id: string; validFrom: number };
}

/** Reads an announcement; undefined when it is not one (a message from another version, say). */
export function readAuthChange(raw: string): AuthChange | undefined {
  let change: { sessions?: unknown; user?: unknown; valid_from?: unknown };
  try {
    change = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return {
    sessions: new Set(Array.isArray(change.sessions) ? change.sessions.map(String) : []),
    ...(typeof change.user === 'string' && typeof change.valid_from === 'number'
      ? { user: { id: change.user, validFrom: change.valid_from } }
      : {}),
  };
}

// How long an instance trusts its last look-up of a session. Changes made on any instance apply
// at once through AUTH_CHANGES_CHANNEL (`heard`); should an announcement be lost, they reach
// this instance within this time.
const LOCAL_TTL_MS = 1000;
const LOCAL_LIMIT = 50_000;

interface LocalEntry {
  revoked: boolean;
  validFrom: number;
  checkedAt: number;
}

/**
 * What every instance must know about a presented access token: whether its session was revoked
 * and whether it predates a security change for its user (role, plan, deactivation). The shared
 * store announces both at once to every instance; the database confirms that the session is
 * still active (so a lost store write cannot bring a revoked session back). Each instance keeps
 * a one-second memory of its look-ups, so the common request costs a map read.
 */
export function createSessionState(deps: {
  kv: KeyValueStore;
  accessTokenTtlSeconds: number;
  /** The database's word on a session the store has no revocation for (a lost write, a restart). */
  isSessionActive: (sessionId: string) => Promise<boolean>;
  now?: () => number;
}) {
  const ttlMs = deps.accessTokenTtlSeconds * 1000;
  const now = deps.now ?? Date.now;
  const local = new Map<string, LocalEntry>();
  const keyOf = (sessionId: string, userId: string) => `${sessionId}:${userId}`;

  const remember = (key: string, entry: LocalEntry) => {
    if (local.size >= LOCAL_LIMIT) local.clear();
    local.set(key, entry);
  };

  return {
    async revokeSessions(sessionIds: string[]): Promise<void> {
      for (const [key, entry] of local) {
        if (sessionIds.includes(key.slice(0, key.indexOf(':')))) entry.revoked = true;
      }
      await Promise.all(sessionIds.map((id) => deps.kv.set(`auth:revoked:${id}`, '1', ttlMs)));
      // Best effort: the keys above are the record; this only makes open sockets close at once.
      await deps.kv.publish(AUTH_CHANGES_CHANNEL, JSON.stringify({ sessions: sessionIds })).catch(() => undefined);
    },

    /** Access tokens of this user issued before `atMs` (epoch milliseconds) are no longer accepted. */
    async invalidateTokensBefore(userId: string, atMs: number): Promise<void> {
      for (const [key, entry] of local) if (key.endsWith(`:${userId}`)) entry.validFrom = atMs;
      await deps.kv.set(`auth:epoch:${userId}`, String(atMs), ttlMs);
      await deps.kv
        .publish(AUTH_CHANGES_CHANNEL, JSON.stringify({ user: userId, valid_from: atMs }))
        .catch(() => undefined);
    },

    /**
     * Applies a change announced on AUTH_CHANGES_CHANNEL (by any instance, this one included) to
     * this instance's memory, so a revocation or an access change made elsewhere is not served
     * from a look-up that predates it.
     */
    heard(raw: string): void {
      const change = readAuthChange(raw);
      if (!change) return;
      if (change.sessions.size > 0) {
        for (const [key, entry] of local) if (change.sessions.has(key.slice(0, key.indexOf(':')))) entry.revoked = true;
      }
      const { user } = change;
      if (user) {
        for (const [key, entry] of local) {
          if (key.endsWith(`:${user.id}`)) entry.validFrom = Math.max(entry.validFrom, user.validFrom);
        }
      }
    },

    /** The remembered state of a session, when looked up less than a second ago. */
    recent(sessionId: string, userId: string): { revoked: boolean; validFrom: number } | undefined {
      const entry = local.get(keyOf(sessionId, userId));
      return entry && now() - entry.checkedAt < LOCAL_TTL_MS ? entry : undefined;
    },

    /**
     * The shared store's word alone (no database): what an open WebSocket is re-checked with every
     * half second. Revocations made on this instance are known without a round trip.
     */
    async peek(sessionId: string, userId: string): Promise<{ revoked: boolean; validFrom: number }> {
      const known = local.get(keyOf(sessionId, userId));
      if (known?.revoked) return known;
      const [revoked, validFrom] = await Promise.all([
        deps.kv.get(`auth:revoked:${sessionId}`),
        deps.kv.get(`auth:epoch:${userId}`),
      ]);
      return {
        revoked: revoked !== undefined,
        validFrom: Math.max(Number(validFrom ?? 0), known?.validFrom ?? 0),
      };
    },

    async lookup(sessionId: string, userId: string): Promise<{ revoked: boolean; validFrom: number }> {
      const [revoked, validFrom] = await Promise.all([
        deps.kv.get(`auth:revoked:${sessionId}`),
        deps.kv.get(`auth:epoch:${userId}`),
      ]);
      // The store is fast but can lose an entry; the database is the record of revocations.
      const isRevoked = revoked !== undefined || !(await deps.isSessionActive(sessionId));
      const entry = { revoked: isRevoked, validFrom: Number(validFrom ?? 0), checkedAt: now() };
      remember(keyOf(sessionId, userId), entry);
      return entry;
    },
  };
}

export type SessionState = ReturnType<typeof createSessionState>;
