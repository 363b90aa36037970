import { createHmac } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import type { IdentityRepository } from './identity.repository.js';
import { DAY_MS, erasedEmail, isErased, normaliseEmail, toPublicUser } from './identity.shared.js';

/**
 * The keyed hash `former_trials` holds instead of an email: HMAC-SHA256 of the normalised
 * address. Without the key nobody can test an address against it.
 */
export const formerTrialHash = (key: string, email: string): string =>
  createHmac('sha256', key).update(normaliseEmail(email)).digest('hex');

export interface IdentityPrivacyDeps {
  repository: Pick<
    IdentityRepository,
    | 'findUserById'
    | 'sessionsOf'
    | 'deleteCredentials'
    | 'updateUser'
    | 'deleteEndedSessions'
    | 'deleteEndedResetTokens'
    | 'recordFormerTrial'
    | 'findFormerTrial'
  >;
  clock: Clock;
  /** Keys `formerTrialHash`; derived from the JWT secret, distinct from every other use of it. */
  formerTrialKey: string;
}

/** What identity holds about a person, and how long it keeps what is no longer needed. */
export function createIdentityPrivacy(deps: IdentityPrivacyDeps) {
  const { repository, clock, formerTrialKey } = deps;

  return {
    dataMapEntry(): PersonalDataEntry {
      return {
        module: 'identity',
        description:
          'Your account (email, name, phone, locale, time zone, role, plan, trial dates) and signed-in sessions (device, IP, times); ' +
          'once an account that started a free trial is erased, a keyed hash of its email and the trial start date (no email, no name, no id)',
        purposes: [
          'running your account and signing you in',
          'securing your sessions',
          'preventing a second free trial on the same email after the account is erased',
        ],
        legalBasis:
          'contract (the account you signed up for); legitimate interest (preventing trial abuse) for the former-trial record',
        retention:
          'account: until erased; sessions: until they end plus the session retention period; reset tokens: 30 minutes plus the token retention period; ' +
          'former-trial record (keyed email hash and trial start date): kept after erasure, since it exists only to recognise the email at a later sign-up',
        tables: ['users', 'sessions', 'refresh_tokens', 'password_reset_tokens', 'former_trials'],
        async export(tx, userId) {
          const user = await repository.findUserById(tx, userId);
          if (!user) return null;
          const sessionRows = await repository.sessionsOf(tx, userId);
          // An earlier, erased account on this email that used the free trial.
          const formerTrial = await repository.findFormerTrial(tx, formerTrialHash(formerTrialKey, user.email));
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
            former_trial: formerTrial
              ? {
                  trial_started_at: formerTrial.trialStartedAt.toISOString(),
                  recorded_at: formerTrial.recordedAt.toISOString(),
                }
              : null,
          };
        },
        // The row stays under its id (audit rows and bookings point at it), with nothing that
        // names the person. If the account had a trial, a keyed hash of its email is kept so
        // that signing up again with that email does not start a second one.
        async erase(tx, userId) {
          const user = await repository.findUserById(tx, userId, { forUpdate: true });
          const trialStartedAt = user && !isErased(user) ? user.trialStartedAt : null;
          if (user && trialStartedAt) {
            await repository.recordFormerTrial(tx, {
              emailHash: formerTrialHash(formerTrialKey, user.email),
              trialStartedAt,
              recordedAt: clock.now(),
            });
          }
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
          return {
            action: 'pseudonymised',
            rows: 1 + deleted.sessions.length + deleted.resetTokens,
            ...(trialStartedAt
              ? { note: 'a keyed hash of the email is kept so that the free trial is not granted twice' }
              : {}),
          };
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
