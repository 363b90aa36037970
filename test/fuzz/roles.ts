import type { AccessRule, GuardedRoute } from '../../src/shared/access-rules.js';
import { ROLES } from '../../src/shared/actor.js';
import { can } from '../../src/shared/permissions.js';
import type { Operation } from './openapi.js';

/** Who sends a request; `throwaway` is a fresh account for routes that end their caller's session. */
export type Role = 'anonymous' | 'user' | 'provider' | 'admin' | 'throwaway';

/**
 * Routes that end the caller's own session or account. They run as a throwaway account so
 * the role accounts survive (and anonymously, for the 401 side).
 */
export const SESSION_ENDING = new Set([
  'DELETE /api/v1/me',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/logout-all',
  'POST /api/v1/auth/password',
  'DELETE /api/v1/auth/sessions/{id}',
]);

const ALLOWED_WEIGHT = 3;
const REFUSED_WEIGHT = 1;

function allows(rule: AccessRule | undefined, role: Role): boolean {
  if (!rule) return true;
  if (role === 'anonymous') return false;
  if (role === 'throwaway') return true;
  if (rule.roles && !rule.roles.includes(role)) return false;
  if (rule.permission && !can(role, rule.permission)) return false;
  return true;
}

/** Each role with its weight for this operation: the roles its access rule lets in weigh more. */
export function rolesFor(operation: Operation, guardedRoutes: GuardedRoute[]): [Role, number][] {
  const rule = guardedRoutes.find(
    (route) => route.method === operation.method && route.url === operation.routeUrl,
  )?.rule;
  const candidates: Role[] = SESSION_ENDING.has(operation.key) ? ['anonymous', 'throwaway'] : ['anonymous', ...ROLES];
  return candidates.map((role) => [role, allows(rule, role) ? ALLOWED_WEIGHT : REFUSED_WEIGHT]);
}
