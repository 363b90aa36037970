import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import { DeferDelivery, type DeliveryContext, type HandlerOptions, type Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import type { AuditService } from '../audit/index.js';
import { errorMessage, type NotificationChannels } from './channels/channel.js';
import { notificationsPersonalData } from './notifications.data-map.js';
import { quietUntil } from './notifications.quiet-hours.js';
import type { NotificationFilters, NotificationSummary, NotificationsRepository } from './notifications.repository.js';
import type { Channel, MessagePurpose, NotificationRow, NotificationStatus } from './notifications.tables.js';
import { isSensitiveTemplate, renderTemplate, type TemplateName, templateProblem } from './notifications.templates.js';

/** The outbox message type that delivers one notification. */
export const NOTIFICATION_DELIVER = 'notification.deliver';

/** Waits before retries 1–5 (1 min, 5 min, 30 min, 2 h, 5 h); the 6th failure is final. */
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000] as const;

export const NOTIFICATION_DELIVERY_OPTIONS: Required<HandlerOptions> = {
  maxAttempts: RETRY_DELAYS_MS.length + 1,
  retryDelayMs: (attempt) => RETRY_DELAYS_MS[Math.min(Math.max(attempt, 1), RETRY_DELAYS_MS.length) - 1] as number,
};

export const DEFAULT_QUIET_HOURS = { start: '21:00', end: '08:00' } as const;
const DEFAULT_CHANNELS: Record<Channel, boolean> = { whatsapp: true, email: true };
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const MAX_ERROR_LENGTH = 1000;

export type CancelReason =
  | 'channel_not_configured'
  | 'recipient_gone'
  | 'no_phone'
  | 'consent_withdrawn'
  | 'channel_disabled'
  | 'weekly_cap';

/** What the notifications module needs to know about a person at send time. */
export interface Recipient {
  email: string;
  phone: string | null;
  timeZone: string;
  isActive: boolean;
  name?: string | null;
}

export interface SendInput {
  userId: string;
  channel: Channel;
  purpose: MessagePurpose;
  template: TemplateName;
  data: Record<string, unknown>;
  /** Goes out at once: no quiet hours, no weekly cap (password reset, booking changes). */
  urgent?: boolean;
  /** Something she asked for (e.g. a booking reminder): outside the weekly cap, still waits for quiet hours. */
  priority?: boolean;
  /** Not before this time (e.g. 24 hours before a booking). */
  notBefore?: Date;
}

export interface NotificationPreferences {
  channels: Record<Channel, boolean>;
  quiet_hours: { start: string; end: string };
  /** null: the account's time zone. */
  time_zone: string | null;
  updated_at: string | null;
}

export interface PreferencesInput {
  channels: Record<Channel, boolean>;
  quiet_hours: { start: string; end: string };
  time_zone?: string | null;
}

export interface PublicNotification {
  id: string;
  user_id: string;
  channel: Channel;
  purpose: MessagePurpose;
  template: string;
  urgent: boolean;
  priority: boolean;
  status: NotificationStatus;
  cancel_reason: string | null;
  attempts: number;
  last_error: string | null;
  not_before: string;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

export function toPublicNotification(row: NotificationSummary): PublicNotification {
  return {
    id: row.id,
    user_id: row.userId,
    channel: row.channel,
    purpose: row.purpose,
    template: row.template,
    urgent: row.urgent,
    priority: row.priority,
    status: row.status,
    cancel_reason: row.cancelReason,
    attempts: row.attempts,
    last_error: row.lastError,
    not_before: row.notBefore.toISOString(),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    sent_at: row.sentAt?.toISOString() ?? null,
  };
}

/**
 * Outbound messages. `send` queues one in the caller's transaction (a row plus an outbox
 * message); `deliver`, the outbox handler, decides at send time — recipient, consent,
 * preferences, quiet hours, weekly cap — and hands it to the channel. Receivers de-duplicate
 * on the delivery id, which is the notification id.
 */
export function createNotificationsService(deps: {
  db: Db;
  repository: NotificationsRepository;
  outbox: Pick<Outbox, 'enqueue'>;
  channels: NotificationChannels;
  audit: Pick<AuditService, 'record'>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
  hasConsent: (userId: string, purpose: 'whatsapp' | 'marketing') => Promise<boolean>;
  weeklyCap: number;
  publicAppUrl: string;
}) {
  const { db, repository, clock, logger } = deps;

  const queue = async (tx: Db, input: SendInput, id: string): Promise<string> => {
    const now = clock.now();
    const notBefore = input.notBefore && input.notBefore > now ? input.notBefore : now;
    const outboxId = await deps.outbox.enqueue(tx, {
      type: NOTIFICATION_DELIVER,
      payload: { notification_id: id },
      deliverAfter: notBefore,
      maxAttempts: NOTIFICATION_DELIVERY_OPTIONS.maxAttempts,
    });
    await repository.insert(tx, {
      id,
      userId: input.userId,
      channel: input.channel,
      purpose: input.purpose,
      template: input.template,
      data: input.data,
      urgent: input.urgent ?? false,
      priority: input.priority ?? false,
      status: 'queued',
      outboxId,
      notBefore,
      createdAt: now,
      updatedAt: now,
    });
    return id;
  };

  // Template data stays on a cancelled or dead row so an admin can send it again, unless it
  // holds a secret (a reset token): that is never kept past the end of the message.
  const dataAfterEnd = (row: NotificationRow) => (isSensitiveTemplate(row.template) ? null : row.data);

  const cancel = async (row: NotificationRow, reason: CancelReason) => {
    await repository.updateQueued(db, row.id, {
      status: 'cancelled',
      cancelReason: reason,
      data: dataAfterEnd(row),
      updatedAt: clock.now(),
    });
    const fields = { notification_id: row.id, channel: row.channel, template: row.template, reason };
    if (reason === 'channel_not_configured') {
      logger.error(fields, `notification cancelled: the ${row.channel} channel is not configured`);
    } else {
      logger.info(fields, 'notification cancelled');
    }
  };

  const consentAllows = async (row: NotificationRow) => {
    // WhatsApp always needs her opt-in; promotions need marketing consent on any channel.
    if (row.channel === 'whatsapp' && !(await deps.hasConsent(row.userId, 'whatsapp'))) return false;
    if (row.purpose === 'promotion' && !(await deps.hasConsent(row.userId, 'marketing'))) return false;
    return true;
  };

  const preferencesOf = async (tx: Db, userId: string): Promise<NotificationPreferences> => {
    const row = await repository.preferences(tx, userId);
    return {
      channels: { ...DEFAULT_CHANNELS, ...row?.channels },
      quiet_hours: row ? { start: row.quietStart, end: row.quietEnd } : { ...DEFAULT_QUIET_HOURS },
      time_zone: row?.timeZone ?? null,
      updated_at: row?.updatedAt.toISOString() ?? null,
    };
  };

  /** Everything after "still queued": throws to retry, DeferDelivery to wait, returns when done. */
  const attempt = async (row: NotificationRow, context: DeliveryContext) => {
    const channel = deps.channels[row.channel];
    if (!channel.configured) return cancel(row, 'channel_not_configured');
    const recipient = await deps.getRecipient(row.userId);
    if (!recipient?.isActive) return cancel(row, 'recipient_gone');
    const to = row.channel === 'email' ? recipient.email : recipient.phone;
    if (!to) return cancel(row, 'no_phone');
    if (!(await consentAllows(row))) return cancel(row, 'consent_withdrawn');
    const preferences = await preferencesOf(db, row.userId);
    // Account messages (a password reset) cannot be turned off.
    if (row.purpose !== 'account' && !preferences.channels[row.channel]) return cancel(row, 'channel_disabled');
    const zone = preferences.time_zone ?? recipient.timeZone;
    const timeZone = isTimeZone(zone) ? zone : 'UTC';
    const now = clock.now();
    if (!row.urgent) {
      const until = quietUntil(now, preferences.quiet_hours, timeZone);
      if (until) {
        await repository.updateQueued(db, row.id, { notBefore: until, updatedAt: now });
        throw new DeferDelivery(until, 'quiet hours');
      }
      if (!row.priority) {
        const sent = await repository.countCapped(db, row.userId, new Date(now.getTime() - WEEK_MS));
        if (sent >= deps.weeklyCap) return cancel(row, 'weekly_cap');
      }
    }
    const rendered = renderTemplate(row.template, row.data ?? {}, {
      appUrl: deps.publicAppUrl,
      timeZone,
      name: recipient.name,
      footer: row.purpose !== 'account',
    });
    await channel.send({ deliveryId: row.id, to, purpose: row.purpose, template: row.template, ...rendered });
    await repository.updateQueued(db, row.id, {
      status: 'sent',
      sentAt: clock.now(),
      attempts: context.attempt,
      lastError: null,
      // Delivered: the data (it may hold a reset token) is no longer needed.
      data: null,
      updatedAt: clock.now(),
    });
  };

  return {
    /**
     * Queues a message in the caller's transaction: it exists exactly when the caller's change
     * commits, and is delivered by the outbox worker. Returns the notification id.
     */
    async send(tx: Db, input: SendInput): Promise<string> {
      const problem = templateProblem(input.template, input.data);
      if (problem) throw new Error(`notifications.send: ${problem}`);
      return queue(tx, input, deps.ids());
    },

    /** The `notification.deliver` outbox handler. */
    deliver: async (payload: Record<string, unknown>, context: DeliveryContext): Promise<void> => {
      const id = payload.notification_id;
      if (typeof id !== 'string') return;
      const row = await repository.findById(db, id);
      // Erased, already ended, or queued again with a newer outbox message: nothing to do here.
      if (row?.status !== 'queued' || (row.outboxId !== null && row.outboxId !== context.id)) return;
      try {
        await attempt(row, context);
      } catch (error) {
        if (error instanceof DeferDelivery) throw error;
        const final = context.attempt >= context.maxAttempts;
        const message = errorMessage(error).slice(0, MAX_ERROR_LENGTH);
        await repository.updateQueued(db, row.id, {
          attempts: context.attempt,
          lastError: message,
          updatedAt: clock.now(),
          ...(final ? { status: 'dead' as const, data: dataAfterEnd(row) } : {}),
        });
        if (final) {
          logger.error(
            { notification_id: row.id, channel: row.channel, template: row.template, attempts: context.attempt },
            'notification is dead',
          );
        }
        throw error;
      }
    },

    /**
     * Handler for `email.password_reset` rows queued before identity sent through this service:
     * each becomes a password-reset email (once: the notification takes the outbox row's id).
     */
    relayPasswordReset: async (payload: Record<string, unknown>, context: DeliveryContext): Promise<void> => {
      const userId = payload.user_id;
      if (typeof userId !== 'string' || !(await deps.getRecipient(userId))) return;
      await inTransaction(db, async (tx) => {
        if (await repository.findById(tx, context.id)) return;
        const input: SendInput = {
          userId,
          channel: 'email',
          purpose: 'account',
          template: 'password_reset',
          data: { token: payload.token, expires_at: payload.expires_at },
          urgent: true,
        };
        const problem = templateProblem(input.template, input.data);
        if (problem) throw new Error(`email.password_reset: ${problem}`);
        await queue(tx, input, context.id);
      });
    },

    async getPreferences(actor: Actor): Promise<NotificationPreferences> {
      return preferencesOf(db, actor.id);
    },

    async updatePreferences(actor: Actor, input: PreferencesInput): Promise<NotificationPreferences> {
      if (input.time_zone && !isTimeZone(input.time_zone)) {
        throw new AppError('VALIDATION_ERROR', 'Request validation failed', {
          details: [{ field: 'body.time_zone', message: 'is not an IANA time zone' }],
        });
      }
      await repository.savePreferences(db, {
        userId: actor.id,
        channels: { whatsapp: input.channels.whatsapp, email: input.channels.email },
        quietStart: input.quiet_hours.start,
        quietEnd: input.quiet_hours.end,
        timeZone: input.time_zone ?? null,
        updatedAt: clock.now(),
      });
      return preferencesOf(db, actor.id);
    },

    /** Newest first; never the template data. */
    async adminList(
      _actor: Actor,
      filters: Omit<NotificationFilters, 'beforeId'> & { cursor?: string },
    ): Promise<{ notifications: PublicNotification[]; nextCursor?: string }> {
      const rows = await repository.list(db, {
        status: filters.status,
        channel: filters.channel,
        beforeId: filters.cursor,
        limit: filters.limit + 1,
      });
      const page = rows.slice(0, filters.limit);
      return {
        notifications: page.map(toPublicNotification),
        nextCursor: rows.length > filters.limit ? page.at(-1)?.id : undefined,
      };
    },

    /** Queues a dead or cancelled notification again with a fresh outbox message (audited). */
    async adminRetry(actor: Actor, id: string): Promise<PublicNotification> {
      return inTransaction(db, async (tx) => {
        const row = await repository.findById(tx, id, { forUpdate: true });
        if (!row) throw new AppError('NOT_FOUND', 'Notification not found');
        if (row.status !== 'dead' && row.status !== 'cancelled') {
          throw new AppError(
            'CONFLICT',
            `Only a dead or cancelled notification can be retried; this one is ${row.status}`,
          );
        }
        if (templateProblem(row.template, row.data ?? {})) {
          throw new AppError(
            'CONFLICT',
            'This message cannot be sent again: its content was cleared when it ended (it held a secret)',
          );
        }
        const now = clock.now();
        const outboxId = await deps.outbox.enqueue(tx, {
          type: NOTIFICATION_DELIVER,
          payload: { notification_id: row.id },
          deliverAfter: now,
          maxAttempts: NOTIFICATION_DELIVERY_OPTIONS.maxAttempts,
        });
        const updated = (await repository.update(tx, row.id, {
          status: 'queued',
          cancelReason: null,
          lastError: null,
          attempts: 0,
          outboxId,
          notBefore: now,
          updatedAt: now,
        })) as NotificationRow;
        await deps.audit.record(
          tx,
          { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
          {
            action: 'admin.notification_retried',
            targetType: 'notification',
            targetId: row.id,
            details: {
              user_id: row.userId,
              channel: row.channel,
              template: row.template,
              previous_status: row.status,
              cancel_reason: row.cancelReason,
            },
          },
        );
        return toPublicNotification(updated);
      });
    },

    dataMapEntry(): PersonalDataEntry {
      return notificationsPersonalData(repository);
    },

    /** Finished messages (sent, cancelled, dead) are deleted `finishedDays` after they ended. */
    retentionRules(options: { finishedDays: number }) {
      return [
        {
          name: 'notifications.finished',
          run: (tx: Db, now: Date) =>
            repository.deleteFinishedBefore(tx, new Date(now.getTime() - options.finishedDays * DAY_MS)),
        },
      ];
    },
  };
}

export type NotificationsService = ReturnType<typeof createNotificationsService>;

/** What other modules take to queue messages in their own transactions. */
export type Notify = Pick<NotificationsService, 'send'>;
