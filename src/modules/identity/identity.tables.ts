import { sql } from 'drizzle-orm';
import { boolean, check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { Plan, Role } from '../../shared/actor.js';

/** Accounts: who someone is (email, name, phone) and what they may do (role, plan). */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    // Stored normalised (trimmed, lower case): unique case-insensitively.
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    name: text('name'),
    phone: text('phone'),
    locale: text('locale').notNull().default('en'),
    timeZone: text('time_zone').notNull().default('UTC'),
    role: text('role').$type<Role>().notNull().default('user'),
    plan: text('plan').$type<Plan>().notNull().default('free'),
    trialStartedAt: timestamp('trial_started_at', { withTimezone: true }),
    trialExpiresAt: timestamp('trial_expires_at', { withTimezone: true }),
    isActive: boolean('is_active').notNull().default(true),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true }).notNull(),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('users_email_unique').on(table.email),
    // Admin search by email prefix.
    index('users_email_prefix_idx').using('btree', sql`${table.email} text_pattern_ops`),
    index('users_role_plan_idx').on(table.role, table.plan),
    check('users_role_check', sql`${table.role} in ('user', 'provider', 'admin')`),
    check('users_plan_check', sql`${table.plan} in ('free', 'trial', 'premium')`),
  ],
);

/** A signed-in device: one refresh-token family. */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    userAgent: text('user_agent'),
    ip: text('ip'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull(),
    // Absolute: rotation never extends a session past this.
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedReason: text('revoked_reason'),
  },
  (table) => [index('sessions_user_id_idx').on(table.userId), index('sessions_expires_at_idx').on(table.expiresAt)],
);

/** Refresh tokens, stored only as SHA-256 hashes; each rotation adds a row to the family. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    rotatedAt: timestamp('rotated_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('refresh_tokens_token_hash_unique').on(table.tokenHash),
    index('refresh_tokens_session_id_idx').on(table.sessionId),
  ],
);

/** Single-use password-reset tokens (hash only), valid 30 minutes. */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('password_reset_tokens_token_hash_unique').on(table.tokenHash),
    index('password_reset_tokens_user_id_idx').on(table.userId),
  ],
);

/**
 * Emails of erased accounts that had started a trial, kept only as an HMAC-SHA256 of the
 * normalised email (key derived from the JWT secret), so that deleting an account and signing
 * up again does not grant a second trial. No plain personal data: without the key the hash
 * cannot be matched to an address.
 */
export const formerTrials = pgTable('former_trials', {
  emailHash: text('email_hash').primaryKey(),
  trialStartedAt: timestamp('trial_started_at', { withTimezone: true }).notNull(),
  recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull(),
});

export type UserRow = typeof users.$inferSelect;
/** An account as other modules see it: everything but the password hash. */
export type AccountView = Omit<UserRow, 'passwordHash'>;
export type SessionRow = typeof sessions.$inferSelect;
