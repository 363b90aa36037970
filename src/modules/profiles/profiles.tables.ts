import { sql } from 'drizzle-orm';
import { check, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from '../identity/identity.tables.js';

export const GENDERS = ['female', 'male', 'non_binary', 'prefer_not_to_say'] as const;
export const DIET_PREFERENCES = [
  'omnivore',
  'vegetarian',
  'vegan',
  'pescatarian',
  'flexitarian',
  'halal',
  'kosher',
  'gluten_free',
] as const;
export const ACTIVITY_LEVELS = ['sedentary', 'light', 'moderate', 'active'] as const;

export type Gender = (typeof GENDERS)[number];
export type DietPreference = (typeof DIET_PREFERENCES)[number];
export type ActivityLevel = (typeof ACTIVITY_LEVELS)[number];

/**
 * A member's lifestyle profile: who the member is in broad strokes, never anything medical (the
 * schema has no place for it and the API refuses it).
 */
export const wellnessProfiles = pgTable(
  'wellness_profiles',
  {
    userId: uuid('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    age: integer('age'),
    birthYear: integer('birth_year'),
    gender: text('gender').$type<Gender>(),
    // ISO 3166-1 alpha-2.
    country: text('country'),
    region: text('region'),
    dietPreference: text('diet_preference').$type<DietPreference>(),
    activityLevel: text('activity_level').$type<ActivityLevel>(),
    preferredLanguage: text('preferred_language'),
    // Set once, the first time the profile reached 100% (profile_completed fires then).
    completedAt: timestamp('completed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    check('wellness_profiles_age_check', sql`${table.age} is null or ${table.age} between 13 and 120`),
    check(
      'wellness_profiles_birth_year_check',
      sql`${table.birthYear} is null or ${table.birthYear} between 1900 and 2100`,
    ),
  ],
);

export type WellnessProfileRow = typeof wellnessProfiles.$inferSelect;
