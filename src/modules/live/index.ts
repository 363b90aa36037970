import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { type AccessTokens, AUTH_CHANGES_CHANNEL, type SessionState } from '../identity/index.js';
import { createLiveHub } from './live.hub.js';
import { livePersonalData, liveRetentionRules } from './live.privacy.js';
import { CLOSE } from './live.protocol.js';
import { createLiveRepository } from './live.repository.js';
import { liveRoutes } from './live.routes.js';
import { createLiveService, FAN_OUT_CHANNEL, type LiveService } from './live.service.js';
import { createSocketHandler } from './live.socket.js';

export { CLOSE as LIVE_CLOSE_CODES, MAX_CLIENT_MESSAGE_BYTES, RESUME_WINDOW_MS } from './live.protocol.js';
export type { LiveService } from './live.service.js';

/**
 * Live updates: a WebSocket per app (`/api/v1/live`), fed by the `live.message` events other
 * modules publish after their changes commit. Each message is stored for a day (resume) and
 * fanned out through the shared store (Redis pub/sub when REDIS_URL is set), so a socket on any
 * instance gets it.
 */
export function createLiveModule(
  platform: Platform,
  deps: { auth: { tokens: AccessTokens; sessionState: SessionState } },
): ModuleDescriptor<'live', Pick<LiveService, 'isOnline'>> {
  const { config, clock, ids, kv } = platform;
  const logger = platform.logger.child({ component: 'live' });
  const repository = createLiveRepository();
  const hub = createLiveHub({
    maxPerUser: config.live.maxConnectionsPerUser,
    maxBufferedBytes: config.live.maxBufferedBytes,
    heartbeatMs: config.live.heartbeatMs,
    clock,
    logger,
    metrics: platform.metrics,
    sessions: deps.auth.sessionState,
    onHeartbeat: (userIds) => service.markOnline(userIds),
  });
  const service = createLiveService({
    db: platform.db,
    repository,
    kv,
    hub,
    clock,
    ids,
    logger,
    presenceTtlMs: 2 * config.live.heartbeatMs + 5000,
  });
  const onSocket = createSocketHandler({
    hub,
    live: service,
    auth: {
      verify: (token) => deps.auth.tokens.verify(token),
      lookup: (sessionId, userId) => deps.auth.sessionState.lookup(sessionId, userId),
    },
    clock,
    ids,
    logger,
    authTimeoutMs: config.live.authTimeoutMs,
    heartbeatMs: config.live.heartbeatMs,
  });
  platform.events.subscribe('live.message', (message) =>
    service.publish(message.to, message.type, message.data, message.live),
  );
  const unsubscribers: (() => Promise<void>)[] = [];

  return {
    name: 'live',
    service: { isOnline: service.isOnline },
    routes: async (api) => api.register(liveRoutes, { onSocket }),
    dataMap: livePersonalData(repository),
    retention: liveRetentionRules(repository),
    async start() {
      unsubscribers.push(
        await kv.subscribe(FAN_OUT_CHANNEL, (raw) => service.receive(raw)),
        // Sign-outs and access changes on any instance close the sockets they end, at once.
        await kv.subscribe(AUTH_CHANGES_CHANNEL, (raw) => hub.authChanged(raw)),
      );
      hub.start();
    },
    async close() {
      hub.stop(CLOSE.GOING_AWAY, 'server going away');
      await Promise.allSettled(unsubscribers.map((unsubscribe) => unsubscribe()));
    },
  };
}
