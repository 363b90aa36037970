import { createHash } from 'node:crypto';
import type { Plan, Role } from '../../shared/actor.js';
import type { FlagRow } from './access.tables.js';

export interface FlagSubject {
  userId: string | null;
  role: Role | null;
  plan: Plan | null;
  attributes: Record<string, string | null | undefined>;
}

/**
 * 0–9999 from sha256(flag key, user id): the same user lands in the same bucket on every
 * instance and restart, and a user inside 30% is inside 50% too (raising only adds users).
 */
export function bucketOf(flagKey: string, userId: string): number {
  return createHash('sha256').update(`${flagKey}:${userId}`).digest().readUInt32BE(0) % 10_000;
}

export function evaluateFlag(flag: FlagRow, subject: FlagSubject, now: Date): boolean {
  if (!flag.enabled) return false;
  if (flag.enableAt && now < flag.enableAt) return false;
  if (flag.disableAt && now >= flag.disableAt) return false;
  const rules = flag.rules ?? {};
  if (rules.plans?.length && (!subject.plan || !rules.plans.includes(subject.plan))) return false;
  if (rules.roles?.length && (!subject.role || !rules.roles.includes(subject.role))) return false;
  for (const rule of rules.attributes ?? []) {
    const value = subject.attributes[rule.attribute];
    const listed = value !== null && value !== undefined && rule.values.includes(value);
    if (rule.op === 'in' ? !listed : listed) return false;
  }
  if (flag.rolloutPercentage >= 100) return true;
  if (flag.rolloutPercentage <= 0 || !subject.userId) return false;
  return bucketOf(flag.key, subject.userId) < flag.rolloutPercentage * 100;
}
