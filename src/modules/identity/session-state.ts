import type { KeyValueStore } from '../../infra/kv/kv.js';

/**
 * What every instance must know at once, without a database read per request: sessions
 * revoked since their access tokens were issued, and users whose tokens predate a security
 * change (role, plan, deactivation, password). Entries live as long as an access token can.
 */
export function createSessionState(deps: { kv: KeyValueStore; accessTokenTtlSeconds: number }) {
  const ttlMs = deps.accessTokenTtlSeconds * 1000;
  return {
    async revokeSessions(sessionIds: string[]): Promise<void> {
      await Promise.all(sessionIds.map((id) => deps.kv.set(`auth:revoked:${id}`, '1', ttlMs)));
    },
    async isRevoked(sessionId: string): Promise<boolean> {
      return (await deps.kv.get(`auth:revoked:${sessionId}`)) !== undefined;
    },
    /** Access tokens of this user issued before `atSeconds` are no longer accepted. */
    async invalidateTokensBefore(userId: string, atSeconds: number): Promise<void> {
      await deps.kv.set(`auth:epoch:${userId}`, String(atSeconds), ttlMs);
    },
    async tokensValidFrom(userId: string): Promise<number> {
      return Number((await deps.kv.get(`auth:epoch:${userId}`)) ?? 0);
    },
  };
}

export type SessionState = ReturnType<typeof createSessionState>;
