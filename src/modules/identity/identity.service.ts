import { type AccountDeps, createAccountUseCases } from './identity.accounts.js';
import { type AdminUserDeps, createAdminUserUseCases } from './identity.admin-users.js';
import { type AuthDeps, createAuthUseCases } from './identity.auth.js';
import { createPasswordUseCases, type PasswordDeps } from './identity.passwords.js';
import { createIdentityPrivacy, type IdentityPrivacyDeps } from './identity.privacy.js';

export type IdentityServiceDeps = AuthDeps & PasswordDeps & AccountDeps & AdminUserDeps & IdentityPrivacyDeps;

/**
 * Identity's use cases as one service, so routes and other modules keep calling `identity.xxx`
 * while each use case lives in its own file and takes only the dependencies it uses.
 */
export function createIdentityService(deps: IdentityServiceDeps) {
  return {
    ...createAuthUseCases(deps),
    ...createPasswordUseCases(deps),
    ...createAccountUseCases(deps),
    ...createAdminUserUseCases(deps),
    ...createIdentityPrivacy(deps),
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
