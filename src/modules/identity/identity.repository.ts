import { and, asc, eq, gt, inArray, isNotNull, isNull, like, lt, ne, or, type SQL, sql } from 'drizzle-orm';
import { type Db, firstRow } from '../../infra/db/client.js';
import type { Plan, Role } from '../../shared/actor.js';
import {
  type AccountView,
  formerTrials,
  passwordResetTokens,
  refreshTokens,
  type SessionRow,
  sessions,
  type UserRow,
  users,
} from './identity.tables.js';

export interface UserFilters {
  emailPrefix?: string;
  role?: Role;
  plan?: Plan;
  active?: boolean;
  afterId?: string;
  limit: number;
}

/** The account's plan as an SQL expression on a user id expression (null when there is no such account). */
export const planOfUser = (userId: SQL): SQL<string | null> =>
  sql`(select ${users.plan} from ${users} where ${users.id} = ${userId})`;

/** The account without its password hash, or undefined. */
/** The ids of active admins (who security alerts go to). */
export async function activeAdminIds(db: Db): Promise<string[]> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.isActive, true)));
  return rows.map((row) => row.id);
}

export async function findAccount(db: Db, userId: string): Promise<AccountView | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, userId)).limit(1);
  if (!row) return undefined;
  const { passwordHash: _secret, ...account } = row;
  return account;
}

export function createIdentityRepository() {
  return {
    async findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
      const [row] = await db.select().from(users).where(eq(users.email, email)).limit(1);
      return row;
    },

    async findUserById(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<UserRow | undefined> {
      return firstRow(db.select().from(users).where(eq(users.id, id)).limit(1), options);
    },

    /** The new account, or undefined when the email is taken. */
    async insertUser(db: Db, row: typeof users.$inferInsert): Promise<UserRow | undefined> {
      const [created] = await db.insert(users).values(row).onConflictDoNothing({ target: users.email }).returning();
      return created;
    },

    async updateUser(db: Db, id: string, patch: Partial<typeof users.$inferInsert>): Promise<UserRow | undefined> {
      const [row] = await db.update(users).set(patch).where(eq(users.id, id)).returning();
      return row;
    },

    async listUsers(db: Db, filters: UserFilters): Promise<UserRow[]> {
      const conditions: SQL[] = [];
      if (filters.emailPrefix) {
        const escaped = filters.emailPrefix.replace(/[\\%_]/g, (c) => `\\${c}`);
        conditions.push(like(users.email, `${escaped}%`));
      }
      if (filters.role) conditions.push(eq(users.role, filters.role));
      if (filters.plan) conditions.push(eq(users.plan, filters.plan));
      if (filters.active !== undefined) conditions.push(eq(users.isActive, filters.active));
      if (filters.afterId) conditions.push(gt(users.id, filters.afterId));
      return db
        .select()
        .from(users)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(asc(users.id))
        .limit(filters.limit);
    },

    async insertSession(db: Db, row: typeof sessions.$inferInsert): Promise<void> {
      await db.insert(sessions).values(row);
    },

    async findSession(db: Db, id: string): Promise<SessionRow | undefined> {
      const [row] = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1);
      return row;
    },

    async activeSessions(db: Db, userId: string, now: Date): Promise<SessionRow[]> {
      return db
        .select()
        .from(sessions)
        .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
        .orderBy(asc(sessions.createdAt));
    },

    /** Revokes the given sessions (or all of the user's, except `keep`); returns the ids revoked. */
    async revokeSessions(
      db: Db,
      where: { userId: string; sessionIds?: string[]; keep?: string },
      reason: string,
      now: Date,
    ): Promise<string[]> {
      const conditions: SQL[] = [eq(sessions.userId, where.userId), isNull(sessions.revokedAt)];
      if (where.sessionIds) conditions.push(inArray(sessions.id, where.sessionIds));
      if (where.keep) conditions.push(ne(sessions.id, where.keep));
      const rows = await db
        .update(sessions)
        .set({ revokedAt: now, revokedReason: reason })
        .where(and(...conditions))
        .returning({ id: sessions.id });
      return rows.map((row) => row.id);
    },

    /** True while the session is neither revoked nor expired and its user is active. */
    async isSessionActive(db: Db, id: string, now: Date): Promise<boolean> {
      const [row] = await db
        .select({ id: sessions.id })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(
          and(eq(sessions.id, id), isNull(sessions.revokedAt), gt(sessions.expiresAt, now), eq(users.isActive, true)),
        )
        .limit(1);
      return row !== undefined;
    },

    async touchSession(db: Db, id: string, now: Date): Promise<void> {
      await db.update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, id));
    },

    async insertRefreshToken(db: Db, row: typeof refreshTokens.$inferInsert): Promise<void> {
      await db.insert(refreshTokens).values(row);
    },

    /** The token row locked for this transaction, with its session. */
    async lockRefreshToken(db: Db, hash: string) {
      const [row] = await db
        .select({ token: refreshTokens, session: sessions })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(eq(refreshTokens.tokenHash, hash))
        .limit(1)
        .for('update', { of: refreshTokens });
      return row;
    },

    async markRefreshTokenRotated(db: Db, id: string, now: Date): Promise<void> {
      await db.update(refreshTokens).set({ rotatedAt: now }).where(eq(refreshTokens.id, id));
    },

    /** True when the row was written; false when a token with this id already exists. */
    async insertResetTokenOnce(db: Db, row: typeof passwordResetTokens.$inferInsert): Promise<boolean> {
      const inserted = await db
        .insert(passwordResetTokens)
        .values(row)
        .onConflictDoNothing({ target: passwordResetTokens.id })
        .returning({ id: passwordResetTokens.id });
      return inserted.length > 0;
    },

    async lockResetToken(db: Db, hash: string) {
      const [row] = await db
        .select()
        .from(passwordResetTokens)
        .where(eq(passwordResetTokens.tokenHash, hash))
        .limit(1)
        .for('update');
      return row;
    },

    async useResetTokens(db: Db, userId: string, now: Date): Promise<void> {
      // One reset spends every outstanding token of that user.
      await db
        .update(passwordResetTokens)
        .set({ usedAt: now })
        .where(and(eq(passwordResetTokens.userId, userId), isNull(passwordResetTokens.usedAt)));
    },

    async sessionsOf(db: Db, userId: string): Promise<SessionRow[]> {
      return db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(asc(sessions.createdAt));
    },

    /** Deletes the person's sessions (their refresh tokens cascade) and reset tokens; returns the session ids. */
    async deleteCredentials(db: Db, userId: string): Promise<{ sessions: string[]; resetTokens: number }> {
      const deleted = await db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id });
      const tokens = await db
        .delete(passwordResetTokens)
        .where(eq(passwordResetTokens.userId, userId))
        .returning({ id: passwordResetTokens.id });
      return { sessions: deleted.map((row) => row.id), resetTokens: tokens.length };
    },

    /** Remembers that an erased account's email had a trial (the first record for a hash stays). */
    async recordFormerTrial(db: Db, row: typeof formerTrials.$inferInsert): Promise<void> {
      await db.insert(formerTrials).values(row).onConflictDoNothing({ target: formerTrials.emailHash });
    },

    async findFormerTrial(db: Db, emailHash: string): Promise<typeof formerTrials.$inferSelect | undefined> {
      const [row] = await db.select().from(formerTrials).where(eq(formerTrials.emailHash, emailHash)).limit(1);
      return row;
    },

    /** Sessions that ended (expired, or revoked) before `before`; their refresh tokens cascade. */
    async deleteEndedSessions(db: Db, before: Date): Promise<number> {
      const rows = await db
        .delete(sessions)
        .where(or(lt(sessions.expiresAt, before), and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, before))))
        .returning({ id: sessions.id });
      return rows.length;
    },

    /** Reset tokens that expired before `before` (used ones expire too). */
    async deleteEndedResetTokens(db: Db, before: Date): Promise<number> {
      const rows = await db
        .delete(passwordResetTokens)
        .where(lt(passwordResetTokens.expiresAt, before))
        .returning({ id: passwordResetTokens.id });
      return rows.length;
    },
  };
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;
