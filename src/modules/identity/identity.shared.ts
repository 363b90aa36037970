import type { Plan, Role } from '../../shared/actor.js';
import type { UserRow } from './identity.tables.js';

export const DAY_MS = 86_400_000;
export const TRIAL_DAYS = 14;

export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  locale: string;
  time_zone: string;
  role: Role;
  plan: Plan;
  trial_expires_at: string | null;
  is_active: boolean;
  created_at: string;
}

/** What an erased account's email becomes: unique, unroutable, and naming no one. */
export const erasedEmail = (userId: string) => `erased+${userId}@erased.invalid`;

export const isErased = (user: Pick<UserRow, 'id' | 'email'>) => user.email === erasedEmail(user.id);

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The plan that counts now: an expired trial is free from the moment it ends. */
export function effectivePlan(user: Pick<UserRow, 'plan' | 'trialExpiresAt'>, now: Date): Plan {
  if (user.plan === 'trial' && (!user.trialExpiresAt || user.trialExpiresAt <= now)) return 'free';
  return user.plan;
}

/** When a trial started at `now` ends. */
export const trialEndsAt = (now: Date): Date => new Date(now.getTime() + TRIAL_DAYS * DAY_MS);

/** The account as its holder and admins see it, with the plan that counts at `now`. */
export function toPublicUser(user: UserRow, now: Date): PublicUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    phone: user.phone,
    locale: user.locale,
    time_zone: user.timeZone,
    role: user.role,
    plan: effectivePlan(user, now),
    trial_expires_at: user.trialExpiresAt?.toISOString() ?? null,
    is_active: user.isActive,
    created_at: user.createdAt.toISOString(),
  };
}
