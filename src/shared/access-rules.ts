import type { Role } from './actor.js';
import type { Permission } from './permissions.js';

/**
 * What a route requires of its caller, declared as route config (`config: { access }`) and
 * enforced by the access guard (src/plugins/auth.ts). Any field implies a signed-in caller.
 */
export interface AccessRule {
  auth?: true;
  roles?: Role[];
  permission?: Permission;
  premium?: true;
  /** A feature flag that must be on for this caller (else 404 FEATURE_DISABLED). */
  feature?: string;
}

export const requireAuth = (): AccessRule => ({ auth: true });
export const requireRole = (...roles: Role[]): AccessRule => ({ roles });
export const requirePermission = (permission: Permission): AccessRule => ({ permission });
export const requirePremium = (): AccessRule => ({ premium: true });
export const requireFeature = (feature: string): AccessRule => ({ feature });

/** A route with an access rule, as registered (the docs and the role-walk test read the list). */
export interface GuardedRoute {
  method: string;
  url: string;
  rule: AccessRule;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
  }
}
