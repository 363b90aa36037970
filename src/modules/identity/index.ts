export { createIdentityRepository } from './identity.repository.js';
export { identityRoutes } from './identity.routes.js';
export { identitySeeder } from './identity.seed.js';
export {
  createIdentityService,
  effectivePlan,
  erasedEmail,
  type IdentityService,
  isErased,
  normaliseEmail,
  type PublicUser,
  type TokenPair,
  TRIAL_DAYS,
} from './identity.service.js';
export { createLoginGuard } from './login-guard.js';
export { createSessionState, type SessionState } from './session-state.js';
export { type AccessClaims, type AccessTokens, createAccessTokens } from './tokens.js';
