import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Plan, Role } from '../../shared/actor.js';
import { users } from '../identity/identity.tables.js';

export interface FlagRules {
  plans?: Plan[];
  roles?: Role[];
  /** e.g. { attribute: 'country', op: 'in', values: ['GB', 'IE'] } */
  attributes?: { attribute: string; op: 'in' | 'not_in'; values: string[] }[];
}

export const featureFlags = pgTable(
  'feature_flags',
  {
    key: text('key').primaryKey(),
    description: text('description').notNull().default(''),
    // The kill switch: false turns the flag off for everyone, whatever else says.
    enabled: boolean('enabled').notNull().default(false),
    rolloutPercentage: integer('rollout_percentage').notNull().default(0),
    rules: jsonb('rules').$type<FlagRules>().notNull(),
    enableAt: timestamp('enable_at', { withTimezone: true }),
    disableAt: timestamp('disable_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [check('feature_flags_rollout_check', sql`${table.rolloutPercentage} between 0 and 100`)],
);

/** How often each user used each gated (premium) feature. */
export const premiumFeatureUsage = pgTable(
  'premium_feature_usage',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    featureName: text('feature_name').notNull(),
    usageCount: integer('usage_count').notNull().default(0),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.featureName] }),
    index('premium_feature_usage_feature_idx').on(table.featureName),
  ],
);

export type FlagRow = typeof featureFlags.$inferSelect;
