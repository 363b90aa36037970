import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { Track } from '../analytics/index.js';
import type { ProfilesRepository } from './profiles.repository.js';
import type { ActivityLevel, DietPreference, Gender, WellnessProfileRow } from './profiles.tables.js';

export interface ProfileInput {
  age?: number | null;
  birth_year?: number | null;
  gender?: Gender | null;
  country?: string | null;
  region?: string | null;
  diet_preference?: DietPreference | null;
  activity_level?: ActivityLevel | null;
  preferred_language?: string | null;
}

/** What plans are personalised by: the profile's facts, with age derived from the birth year. */
export interface ProfileFacts {
  age?: number;
  gender?: Gender;
  country?: string;
  region?: string;
  diet_preference?: DietPreference;
  activity_level?: ActivityLevel;
  preferred_language?: string;
}

/** The facts that make a profile complete; age counts once whether given as age or birth year. */
export const COMPLETION_FIELDS = [
  'age',
  'gender',
  'country',
  'region',
  'diet_preference',
  'activity_level',
  'preferred_language',
] as const;

type Stored = Omit<ProfileInput, never>;

const toInput = (row: WellnessProfileRow | undefined): Stored => ({
  age: row?.age ?? null,
  birth_year: row?.birthYear ?? null,
  gender: row?.gender ?? null,
  country: row?.country ?? null,
  region: row?.region ?? null,
  diet_preference: row?.dietPreference ?? null,
  activity_level: row?.activityLevel ?? null,
  preferred_language: row?.preferredLanguage ?? null,
});

const ageOf = (profile: Stored, now: Date): number | undefined => {
  if (profile.age !== null && profile.age !== undefined) return profile.age;
  if (profile.birth_year !== null && profile.birth_year !== undefined) {
    return now.getUTCFullYear() - profile.birth_year;
  }
  return undefined;
};

const missingOf = (profile: Stored, now: Date): string[] =>
  COMPLETION_FIELDS.filter((field) =>
    field === 'age' ? ageOf(profile, now) === undefined : profile[field] === null || profile[field] === undefined,
  );

const completionOf = (profile: Stored, now: Date) =>
  Math.round(((COMPLETION_FIELDS.length - missingOf(profile, now).length) / COMPLETION_FIELDS.length) * 100);

/** The profile as its owner reads it, with how complete it is at `now` (age follows the birth year). */
export const profileToPublic = (row: WellnessProfileRow | undefined, now: Date) => {
  const profile = toInput(row);
  return {
    ...profile,
    completion: completionOf(profile, now),
    missing_fields: missingOf(profile, now),
    completed_at: row?.completedAt?.toISOString() ?? null,
    updated_at: row?.updatedAt.toISOString() ?? null,
  };
};

export function createProfilesService(deps: {
  db: Db;
  repository: ProfilesRepository;
  track: Track;
  clock: Clock;
  events: Pick<EventBus, 'publish'>;
}) {
  const { db, repository, clock } = deps;

  const check = (profile: Stored) => {
    const year = clock.now().getUTCFullYear();
    if (profile.birth_year !== null && profile.birth_year !== undefined) {
      const derived = year - profile.birth_year;
      if (derived < 13 || derived > 120) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
          details: [{ field: 'body.birth_year', message: 'must give an age from 13 to 120' }],
        });
      }
      if (profile.age !== null && profile.age !== undefined && Math.abs(profile.age - derived) > 1) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
          details: [{ field: 'body.age', message: 'does not match birth_year' }],
        });
      }
    }
  };

  const save = async (actor: Actor, build: (current: Stored) => Stored) =>
    inTransaction(db, async (tx) => {
      const current = await repository.find(tx, actor.id, { forUpdate: true });
      const next = build(toInput(current));
      check(next);
      const now = clock.now();
      const reachesFull = completionOf(next, now) === 100 && !current?.completedAt;
      const row = await repository.upsert(tx, {
        userId: actor.id,
        age: next.age ?? null,
        birthYear: next.birth_year ?? null,
        gender: next.gender ?? null,
        country: next.country ?? null,
        region: next.region ?? null,
        dietPreference: next.diet_preference ?? null,
        activityLevel: next.activity_level ?? null,
        preferredLanguage: next.preferred_language ?? null,
        // Once set it stays: profile_completed fires once per person.
        completedAt: current?.completedAt ?? (reachesFull ? now : null),
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
      });
      if (reachesFull) await deps.track(tx, 'profile_completed', actor.id, {});
      return row;
    }).then(async (row) => {
      // Plans cached for the person are stale.
      await deps.events.publish('profile.changed', { userId: actor.id });
      return profileToPublic(row, clock.now());
    });

  return {
    async get(actor: Actor) {
      return profileToPublic(await repository.find(db, actor.id), clock.now());
    },

    /** PUT: the whole profile; fields left out are cleared. */
    async replace(actor: Actor, input: ProfileInput) {
      return save(actor, () => ({ ...toInput(undefined), ...input }));
    },

    /** PATCH: only the fields given; null clears one. */
    async update(actor: Actor, patch: ProfileInput) {
      return save(actor, (current) => ({ ...current, ...patch }));
    },

    async facts(userId: string): Promise<{ facts: ProfileFacts; missing: string[]; completion: number }> {
      const profile = toInput(await repository.find(db, userId));
      const now = clock.now();
      const facts: ProfileFacts = {};
      const age = ageOf(profile, now);
      if (age !== undefined) facts.age = age;
      if (profile.gender) facts.gender = profile.gender;
      if (profile.country) facts.country = profile.country;
      if (profile.region) facts.region = profile.region;
      if (profile.diet_preference) facts.diet_preference = profile.diet_preference;
      if (profile.activity_level) facts.activity_level = profile.activity_level;
      if (profile.preferred_language) facts.preferred_language = profile.preferred_language;
      return { facts, missing: missingOf(profile, now), completion: completionOf(profile, now) };
    },
  };
}

export type ProfilesService = ReturnType<typeof createProfilesService>;
