import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { NotificationsRepository } from './notifications.repository.js';
import type { Channel } from './notifications.tables.js';

export const DEFAULT_QUIET_HOURS = { start: '21:00', end: '08:00' } as const;
const DEFAULT_CHANNELS: Record<Channel, boolean> = { whatsapp: true, email: true, sms: true, push: true };

export interface NotificationPreferences {
  channels: Record<Channel, boolean>;
  quiet_hours: { start: string; end: string };
  /** null: the account's time zone. */
  time_zone: string | null;
  updated_at: string | null;
}

export interface PreferencesInput {
  channels: { whatsapp: boolean; email: boolean; sms?: boolean; push?: boolean };
  quiet_hours: { start: string; end: string };
  time_zone?: string | null;
}

/** The person's preferences, the defaults filling in whatever was never set. */
export async function preferencesOf(
  repository: NotificationsRepository,
  tx: Db,
  userId: string,
): Promise<NotificationPreferences> {
  const row = await repository.preferences(tx, userId);
  return {
    channels: { ...DEFAULT_CHANNELS, ...row?.channels },
    quiet_hours: row ? { start: row.quietStart, end: row.quietEnd } : { ...DEFAULT_QUIET_HOURS },
    time_zone: row?.timeZone ?? null,
    updated_at: row?.updatedAt.toISOString() ?? null,
  };
}

/** Which channels the person takes messages on, quiet hours, and the time zone they are read in. */
export function createNotificationPreferences(deps: { db: Db; repository: NotificationsRepository; clock: Clock }) {
  const { db, repository, clock } = deps;
  return {
    async getPreferences(actor: Actor): Promise<NotificationPreferences> {
      return preferencesOf(repository, db, actor.id);
    },

    async updatePreferences(actor: Actor, input: PreferencesInput): Promise<NotificationPreferences> {
      if (input.time_zone && !isTimeZone(input.time_zone)) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
          details: [{ field: 'body.time_zone', message: 'is not an IANA time zone' }],
        });
      }
      await repository.savePreferences(db, {
        userId: actor.id,
        channels: {
          whatsapp: input.channels.whatsapp,
          email: input.channels.email,
          sms: input.channels.sms ?? true,
          push: input.channels.push ?? true,
        },
        quietStart: input.quiet_hours.start,
        quietEnd: input.quiet_hours.end,
        timeZone: input.time_zone ?? null,
        updatedAt: clock.now(),
      });
      return preferencesOf(repository, db, actor.id);
    },
  };
}
