import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { ConsentService } from '../consent/index.js';
import type { Notify } from '../notifications/index.js';
import type { SecurityService } from '../security/index.js';
import { PASSWORD_RESET_REQUESTED } from './identity.passwords.js';
import { createIdentityRepository } from './identity.repository.js';
import { identityRoutes } from './identity.routes.js';
import { identitySeeder } from './identity.seed.js';
import { createIdentityService, type IdentityService } from './identity.service.js';
import { createLoginGuard } from './login-guard.js';
import { configurePasswordHashing } from './passwords.js';
import { AUTH_CHANGES_CHANNEL, createSessionState, type SessionState } from './session-state.js';
import { type AccessTokens, createAccessTokens } from './tokens.js';

export type { TokenPair } from './identity.auth.js';
export { activeAdminIds, findAccount, planOfUser } from './identity.repository.js';
export { identitySeeder } from './identity.seed.js';
export type { IdentityService } from './identity.service.js';
export {
  effectivePlan,
  erasedEmail,
  isErased,
  normaliseEmail,
  type PublicUser,
  TRIAL_DAYS,
} from './identity.shared.js';
export type { AccountView } from './identity.tables.js';
export { createLoginGuard } from './login-guard.js';
export { hashPassword } from './passwords.js';
export { AUTH_CHANGES_CHANNEL, readAuthChange, type SessionState } from './session-state.js';
export type { AccessClaims, AccessTokens } from './tokens.js';

export interface IdentityModule extends ModuleDescriptor<'identity', IdentityService> {
  /** What the authentication hook checks each request with. */
  auth: { tokens: AccessTokens; sessionState: SessionState };
}

/** Accounts, sign-up and sign-in, rotating refresh tokens, sessions, passwords and lockout. */
export function createIdentityModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    track: Track;
    notify: Notify;
    consent: Pick<ConsentService, 'recordSignup'>;
    security: Pick<SecurityService, 'loginFailed' | 'signal'>;
  },
): IdentityModule {
  const { db, config, kv, clock, ids } = platform;
  configurePasswordHashing({
    concurrency: config.security.passwordHashConcurrency,
    queue: config.security.passwordHashQueue,
    onQueueChange: (length) => platform.metrics.passwordHashQueue.set(length),
  });
  const repository = createIdentityRepository();
  const tokens = createAccessTokens({
    secret: config.auth.jwtSecret,
    ttlSeconds: config.auth.accessTokenTtlSeconds,
    clock,
    ids,
  });
  const sessionState = createSessionState({
    kv,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    isSessionActive: (sessionId) => repository.isSessionActive(db, sessionId, clock.now()),
  });
  const service = createIdentityService({
    db,
    repository,
    audit: deps.audit,
    track: deps.track,
    notify: deps.notify,
    outbox: platform.outbox,
    consent: deps.consent,
    kv,
    clock,
    ids,
    accessTokens: tokens,
    loginGuard: createLoginGuard({
      kv,
      clock,
      options: {
        delayBaseMs: config.security.loginDelayBaseMs,
        delayMaxMs: config.security.loginDelayMaxMs,
        ipv6PrefixLength: config.security.ipv6PrefixLength,
      },
    }),
    security: deps.security,
    sessionState,
    events: platform.events,
    refreshTokenTtlDays: config.auth.refreshTokenTtlDays,
    business: platform.metrics.business,
    // Its own key: a former-trial hash matches nothing else derived from the secret.
    formerTrialKey: `former-trial:${config.auth.jwtSecret}`,
  });
  let stopHearing: (() => Promise<void>) | undefined;
  return {
    name: 'identity',
    service,
    auth: { tokens, sessionState },
    // Sign-outs and access changes made on other instances apply to this one's memory at once.
    async start() {
      stopHearing = await kv.subscribe(AUTH_CHANGES_CHANNEL, (raw) => sessionState.heard(raw));
    },
    async close() {
      await stopHearing?.();
    },
    routes: async (api) => api.register(identityRoutes, { identity: service }),
    // Erased after every other module: the account row is pseudonymised once nothing points at it.
    dataMap: { ...service.dataMapEntry(), eraseLast: true },
    retention: service.retentionRules({
      sessionsDays: config.retention.sessionsDays,
      resetTokensDays: config.retention.resetTokensDays,
    }),
    // A reset request only queues this; the worker looks the account up (constant-time requests).
    outboxHandlers: [{ type: PASSWORD_RESET_REQUESTED, handle: service.deliverPasswordReset }],
    seeders: [identitySeeder],
  };
}
