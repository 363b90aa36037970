import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { ConsentService } from '../consent/index.js';
import type { Notify } from '../notifications/index.js';
import { createIdentityRepository } from './identity.repository.js';
import { identityRoutes } from './identity.routes.js';
import { identitySeeder } from './identity.seed.js';
import { createIdentityService, type IdentityService } from './identity.service.js';
import { createLoginGuard } from './login-guard.js';
import { createSessionState, type SessionState } from './session-state.js';
import { type AccessTokens, createAccessTokens } from './tokens.js';

export type { TokenPair } from './identity.auth.js';
export { findAccount, planOfUser } from './identity.repository.js';
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
export { AUTH_CHANGES_CHANNEL, type SessionState } from './session-state.js';
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
  },
): IdentityModule {
  const { db, config, kv, clock, ids } = platform;
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
    consent: deps.consent,
    kv,
    clock,
    ids,
    accessTokens: tokens,
    loginGuard: createLoginGuard({ kv, clock }),
    sessionState,
    events: platform.events,
    refreshTokenTtlDays: config.auth.refreshTokenTtlDays,
  });
  return {
    name: 'identity',
    service,
    auth: { tokens, sessionState },
    routes: async (api) => api.register(identityRoutes, { identity: service }),
    // Erased after every other module: the account row is pseudonymised once nothing points at it.
    dataMap: { ...service.dataMapEntry(), eraseLast: true },
    retention: service.retentionRules({
      sessionsDays: config.retention.sessionsDays,
      resetTokensDays: config.retention.resetTokensDays,
    }),
    seeders: [identitySeeder],
  };
}
