import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import type { IdentityRepository } from './identity.repository.js';
import { DAY_MS, erasedEmail, toPublicUser } from './identity.shared.js';

export interface IdentityPrivacyDeps {
  repository: Pick<
    IdentityRepository,
    | 'findUserById'
    | 'sessionsOf'
    | 'deleteCredentials'
    | 'updateUser'
    | 'deleteEndedSessions'
    | 'deleteEndedResetTokens'
  >;
  clock: Clock;
}

/** What identity holds about a person, and how long it keeps what is no longer needed. */
export function createIdentityPrivacy(deps: IdentityPrivacyDeps) {
  const { repository, clock } = deps;

  return {
    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'identity',
        description:
          'Your account (email, name, phone, locale, time zone, role, plan, trial dates) and signed-in sessions (device, IP, times)',
        purposes: ['running your account and signing you in', 'securing your sessions'],
        legalBasis: 'contract (the account you signed up for)',
        retention:
          'account: until erased; sessions: until they end plus the session retention period; reset tokens: 30 minutes plus the token retention period',
        tables: ['users', 'sessions', 'refresh_tokens', 'password_reset_tokens'],
        async export(tx, userId) {
          const user = await repository.findUserById(tx, userId);
          if (!user) return null;
          const sessionRows = await repository.sessionsOf(tx, userId);
          return {
            account: {
              ...toPublicUser(user, clock.now()),
              last_login_at: user.lastLoginAt?.toISOString() ?? null,
              password_changed_at: user.passwordChangedAt.toISOString(),
              trial_started_at: user.trialStartedAt?.toISOString() ?? null,
            },
            sessions: sessionRows.map((row) => ({
              id: row.id,
              device: row.userAgent,
              ip: row.ip,
              created_at: row.createdAt.toISOString(),
              last_used_at: row.lastUsedAt.toISOString(),
              expires_at: row.expiresAt.toISOString(),
              revoked_at: row.revokedAt?.toISOString() ?? null,
            })),
          };
        },
        // The row stays under its id (audit rows and bookings point at it), with nothing that
        // names the person.
        async erase(tx, userId) {
          const deleted = await repository.deleteCredentials(tx, userId);
          await repository.updateUser(tx, userId, {
            email: erasedEmail(userId),
            name: null,
            phone: null,
            // Not an argon2 hash: no password ever verifies against it.
            passwordHash: '!erased',
            locale: 'en',
            timeZone: 'UTC',
            isActive: false,
            updatedAt: clock.now(),
          });
          return { action: 'pseudonymised', rows: 1 + deleted.sessions.length + deleted.resetTokens };
        },
      };
    },

    /** Expired or revoked sessions and spent reset tokens older than the retention periods. */
    retentionRules(options: { sessionsDays: number; resetTokensDays: number }): RetentionRule[] {
      return [
        {
          name: 'identity.sessions',
          run: (tx: Db, now: Date) =>
            repository.deleteEndedSessions(tx, new Date(now.getTime() - options.sessionsDays * DAY_MS)),
        },
        {
          name: 'identity.password_reset_tokens',
          run: (tx: Db, now: Date) =>
            repository.deleteEndedResetTokens(tx, new Date(now.getTime() - options.resetTokensDays * DAY_MS)),
        },
      ];
    },
  };
}

export type IdentityPrivacy = ReturnType<typeof createIdentityPrivacy>;
