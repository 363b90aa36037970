import { AppError, invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { isPremium } from '../../shared/permissions.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { Track } from '../analytics/index.js';
import type { ConsentService } from '../consent/index.js';
import { effectivePlan, type IdentityService } from '../identity/index.js';
import type { Notify } from '../notifications/index.js';
import { firstAtOrAfter, occurrence, type Schedule, toLocal } from './recurrence.js';
import type { RemindersRepository } from './reminders.repository.js';
import type { Recurrence, ReminderChannel, ReminderRow } from './reminders.tables.js';

/** The free plan's "limited WhatsApp automation": this many active reminders. */
export const FREE_ACTIVE_REMINDERS = 2;
const DUE_BATCH = 100;

export interface RecurrenceInput {
  kind: Exclude<Recurrence, 'none'>;
  interval_months?: number;
}

export interface ReminderInput {
  title: string;
  starts_at: string;
  time_zone: string;
  recurrence?: RecurrenceInput | null;
  channel: ReminderChannel;
}

const scheduleOf = (row: Pick<ReminderRow, 'localStart' | 'timeZone' | 'recurrence' | 'intervalMonths'>): Schedule => ({
  localStart: row.localStart,
  timeZone: row.timeZone,
  recurrence: row.recurrence,
  intervalMonths: row.intervalMonths,
});

export const reminderToPublic = (row: ReminderRow) => ({
  id: row.id,
  title: row.title,
  starts_at: row.startsAt.toISOString(),
  local_start: row.localStart,
  time_zone: row.timeZone,
  recurrence:
    row.recurrence === 'none'
      ? null
      : { kind: row.recurrence, ...(row.intervalMonths ? { interval_months: row.intervalMonths } : {}) },
  channel: row.channel,
  active: row.active,
  priority: row.priority,
  next_occurrence_at: row.nextOccurrenceAt?.toISOString() ?? null,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

/**
 * Reminders people set for themselves (no health meaning is stored), and the scheduler that turns
 * each due occurrence into exactly one notification, even with several instances running.
 */
export function createRemindersService(deps: {
  db: Db;
  repository: RemindersRepository;
  identity: Pick<IdentityService, 'getAccount'>;
  consent: Pick<ConsentService, 'has'>;
  notify: Notify;
  track: Track;
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, clock } = deps;

  const accountOf = async (actor: Actor) => {
    const account = await deps.identity.getAccount(actor.id);
    if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
    return account;
  };

  /** WhatsApp needs the person's opt-in and a number to send to; read through `reader` (the caller's tx when in one). */
  const checkChannel = async (reader: Db, actor: Actor, channel: ReminderChannel, phone: string | null) => {
    if (channel !== 'whatsapp') return;
    if (!(await deps.consent.has(actor.id, 'whatsapp', reader))) {
      throw new AppError(
        'CONSENT_REQUIRED',
        'WhatsApp reminders need your consent first: PUT /api/v1/me/consents/whatsapp { "granted": true }',
      );
    }
    if (!phone) {
      throw new AppError(
        'PHONE_REQUIRED',
        'Add your phone number (PATCH /api/v1/me { "phone" }) for WhatsApp reminders',
      );
    }
  };

  /** Free plans keep at most two active reminders; checked under a per-person lock. */
  const checkLimit = async (tx: Db, actor: Actor, premium: boolean, exceptId?: string) => {
    if (premium) return;
    await repository.lockOwner(tx, actor.id);
    const active = await repository.countActive(tx, actor.id);
    const current = exceptId ? await repository.find(tx, exceptId) : undefined;
    const others = active - (current?.active ? 1 : 0);
    if (others >= FREE_ACTIVE_REMINDERS) {
      throw new AppError(
        'PREMIUM_REQUIRED',
        `The free plan includes ${FREE_ACTIVE_REMINDERS} active reminders; start a trial or go premium for unlimited ones`,
      );
    }
  };

  const planSchedule = (input: { starts_at: string; time_zone: string; recurrence?: RecurrenceInput | null }) => {
    if (!isTimeZone(input.time_zone)) throw invalidField('body.time_zone', 'is not an IANA time zone');
    const startsAt = new Date(input.starts_at);
    const recurrence: Recurrence = input.recurrence?.kind ?? 'none';
    const intervalMonths = recurrence === 'every_n_months' ? (input.recurrence?.interval_months ?? null) : null;
    if (recurrence === 'every_n_months' && !intervalMonths) {
      throw invalidField('body.recurrence.interval_months', 'is required for every_n_months');
    }
    if (recurrence !== 'every_n_months' && input.recurrence?.interval_months !== undefined) {
      throw invalidField('body.recurrence.interval_months', 'is only for every_n_months');
    }
    const schedule: Schedule = {
      localStart: toLocal(startsAt, input.time_zone),
      timeZone: input.time_zone,
      recurrence,
      intervalMonths,
    };
    const next = firstAtOrAfter(schedule, clock.now());
    if (!next) throw invalidField('body.starts_at', 'is in the past and the reminder does not repeat');
    return { startsAt, schedule, next };
  };

  return {
    async list(actor: Actor) {
      return (await repository.listFor(db, actor.id)).map(reminderToPublic);
    },

    async get(actor: Actor, id: string) {
      const row = await repository.find(db, id);
      if (!row || row.userId !== actor.id) throw new AppError('NOT_FOUND', 'Reminder not found');
      return reminderToPublic(row);
    },

    async create(actor: Actor, input: ReminderInput) {
      const account = await accountOf(actor);
      const premium = isPremium(effectivePlan(account, clock.now()));
      await checkChannel(db, actor, input.channel, account.phone);
      const { startsAt, schedule, next } = planSchedule(input);
      const row = await inTransaction(db, async (tx) => {
        await checkLimit(tx, actor, premium);
        const now = clock.now();
        return repository.insert(tx, {
          id: deps.ids(),
          userId: actor.id,
          title: input.title,
          startsAt,
          localStart: schedule.localStart,
          timeZone: schedule.timeZone,
          recurrence: schedule.recurrence,
          intervalMonths: schedule.intervalMonths,
          channel: input.channel,
          active: true,
          priority: premium,
          nextOccurrenceAt: next.at,
          occurrences: 0,
          createdAt: now,
          updatedAt: now,
        });
      });
      return reminderToPublic(row);
    },

    async update(actor: Actor, id: string, patch: Partial<ReminderInput> & { active?: boolean }) {
      const account = await accountOf(actor);
      const premium = isPremium(effectivePlan(account, clock.now()));
      const row = await inTransaction(db, async (tx) => {
        const current = await repository.find(tx, id, { forUpdate: true });
        if (!current || current.userId !== actor.id) throw new AppError('NOT_FOUND', 'Reminder not found');
        const channel = patch.channel ?? current.channel;
        if (patch.channel !== undefined) await checkChannel(tx, actor, channel, account.phone);
        const active = patch.active ?? current.active;
        if (active && !current.active) await checkLimit(tx, actor, premium, id);
        const timing =
          patch.starts_at !== undefined || patch.time_zone !== undefined || patch.recurrence !== undefined
            ? planSchedule({
                starts_at: patch.starts_at ?? current.startsAt.toISOString(),
                time_zone: patch.time_zone ?? current.timeZone,
                recurrence:
                  patch.recurrence === undefined
                    ? current.recurrence === 'none'
                      ? null
                      : { kind: current.recurrence, interval_months: current.intervalMonths ?? undefined }
                    : patch.recurrence,
              })
            : undefined;
        const reactivated = active && !current.active && !timing;
        const next = timing ? timing.next : reactivated ? firstAtOrAfter(scheduleOf(current), clock.now()) : undefined;
        if (reactivated && !next) throw invalidField('body.active', 'this reminder has no occurrence left');
        return repository.update(tx, id, {
          ...(patch.title !== undefined ? { title: patch.title } : {}),
          channel,
          active,
          priority: premium,
          ...(timing
            ? {
                startsAt: timing.startsAt,
                localStart: timing.schedule.localStart,
                timeZone: timing.schedule.timeZone,
                recurrence: timing.schedule.recurrence,
                intervalMonths: timing.schedule.intervalMonths,
                occurrences: timing.next.index,
              }
            : {}),
          ...(next ? { nextOccurrenceAt: next.at } : {}),
          ...(next && reactivated ? { occurrences: next.index } : {}),
          updatedAt: clock.now(),
        });
      });
      return reminderToPublic(row as ReminderRow);
    },

    async remove(actor: Actor, id: string): Promise<void> {
      await inTransaction(db, async (tx) => {
        const current = await repository.find(tx, id, { forUpdate: true });
        if (!current || current.userId !== actor.id) throw new AppError('NOT_FOUND', 'Reminder not found');
        await repository.delete(tx, id);
      });
    },

    /**
     * One scheduler pass: each due reminder (locked with SKIP LOCKED, so instances share the work)
     * gets its latest due occurrence recorded (the primary key refuses a second time) and sent
     * through notifications in the same transaction; older missed occurrences are not sent late.
     * Resolves with how many occurrences were sent.
     */
    async runDue(): Promise<number> {
      return inTransaction(db, async (tx) => {
        const now = clock.now();
        const due = await repository.claimDue(tx, now, DUE_BATCH);
        let sent = 0;
        for (const row of due) {
          const schedule = scheduleOf(row);
          const upcoming = firstAtOrAfter(schedule, new Date(now.getTime() + 1));
          // The latest occurrence at or before now is the one to send.
          const latestIndex = upcoming ? upcoming.index - 1 : row.recurrence === 'none' ? 0 : undefined;
          const occursAt =
            latestIndex !== undefined && latestIndex >= 0
              ? (occurrence(schedule, latestIndex) as Date)
              : (row.nextOccurrenceAt as Date);
          if (await repository.recordOccurrence(tx, row.id, occursAt, now)) {
            const notificationId = await deps.notify.send(tx, {
              userId: row.userId,
              // WhatsApp falls back to SMS (with its own consent); email stays email.
              channels: row.channel === 'whatsapp' ? ['whatsapp', 'sms'] : [row.channel],
              purpose: 'reminder',
              template: 'wellness_reminder',
              data: { title: row.title, message: `Your reminder: ${row.title}` },
              priority: row.priority,
            });
            await repository.linkNotification(tx, row.id, occursAt, notificationId);
            await deps.track(tx, 'reminder_triggered', row.userId, {
              channel: row.channel,
              recurrence: row.recurrence,
              priority: row.priority,
            });
            sent += 1;
          }
          await repository.update(tx, row.id, {
            nextOccurrenceAt: upcoming?.at ?? null,
            // A one-off that has fired is done, and no longer counts against the free limit.
            active: upcoming !== undefined,
            occurrences: upcoming?.index ?? row.occurrences + 1,
            updatedAt: now,
          });
        }
        return sent;
      });
    },
  };
}

export type RemindersService = ReturnType<typeof createRemindersService>;
