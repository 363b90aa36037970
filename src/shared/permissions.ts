import type { Plan, Role } from './actor.js';

/**
 * The single source of who may do what (the product spec's matrix). Route guards, the
 * entitlements endpoint and the role walk test all read this table.
 */
export const PERMISSIONS = {
  'profile:read': ['user', 'provider', 'admin'],
  'profile:update': ['user', 'provider', 'admin'],
  'recommendations:read': ['user', 'provider', 'admin'],
  'content:create': ['admin'],
  'analytics:read': ['admin'],
  'users:manage': ['admin'],
  'system:health': ['admin'],
  'flags:manage': ['admin'],
  'audit:read': ['admin'],
  'security:manage': ['admin'],
  'consent:manage': ['admin'],
  'notifications:manage': ['admin'],
  'privacy:erase': ['admin'],
  'support:read': ['admin'],
  'catalog:admin': ['admin'],
  'catalog:manage_own': ['provider'],
  'availability:manage_own': ['provider'],
  'bookings:manage_own': ['provider'],
  'bookings:admin': ['admin'],
  'payouts:manage_own': ['provider'],
  'payments:admin': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function can(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

export function permissionsOf(role: Role): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((permission) => can(role, permission));
}

const FREE_FEATURES = ['basic_recommendations', 'content_library', 'reminders_limited', 'marketplace_booking'] as const;
const PREMIUM_FEATURES = [
  'basic_recommendations',
  'content_library',
  'marketplace_booking',
  'premium_content',
  'personalised_insights',
  'advanced_analytics',
  'reminders_unlimited',
  'priority_support',
] as const;

/** What each plan unlocks. A trial is premium for its 14 days; an expired trial is free. */
export const PLAN_FEATURES = {
  free: FREE_FEATURES,
  trial: PREMIUM_FEATURES,
  premium: PREMIUM_FEATURES,
} as const satisfies Record<Plan, readonly string[]>;

export function isPremium(plan: Plan): boolean {
  return plan === 'premium' || plan === 'trial';
}
