import { sql } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { DeferDelivery, type DeliveryContext, type Outbox } from '../../infra/outbox/outbox.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import { ChannelRefused, errorMessage, type NotificationChannels, type SendReceipt } from './channels/channel.js';
import { isE164 } from './channels/sms-segments.js';
import { type NotificationPreferences, preferencesOf } from './notifications.preferences.js';
import { enqueueDelivery } from './notifications.queue.js';
import { quietUntil } from './notifications.quiet-hours.js';
import type { NotificationsRepository } from './notifications.repository.js';
import { ATTEMPTS_BEFORE_FALLBACK } from './notifications.routing.js';
import {
  type Channel,
  type ChannelAttempt,
  type DeliveryStatus,
  type NotificationRow,
  notifications,
} from './notifications.tables.js';
import { isSensitiveTemplate, renderTemplate } from './notifications.templates.js';

const WEEK_MS = 7 * 86_400_000;
/**
 * How long one worker may take to walk a message's channels (each call is bounded by its
 * timeout) before another may try: longer than any walk, short enough that a crashed worker's
 * message goes out soon after.
 */
export const SENDING_LEASE_MS = 10 * 60_000;
const MAX_ERROR_LENGTH = 1000;

/** Why a channel was passed over, or (the last channel's reason) why a message was cancelled. */
export type CancelReason =
  | 'channel_not_configured'
  | 'recipient_gone'
  | 'no_phone'
  | 'no_device'
  | 'consent_withdrawn'
  | 'channel_disabled'
  | 'weekly_cap';

/** Consents a channel or a message needs at send time. */
export type ConsentPurposeNeeded = 'whatsapp' | 'sms' | 'marketing';

/** What the notifications module needs to know about a person at send time. */
export interface Recipient {
  email: string;
  phone: string | null;
  timeZone: string;
  isActive: boolean;
  name?: string | null;
}

// Template data stays on a cancelled or dead row so an admin can send it again, unless it
// holds a secret (a reset token): that is never kept past the end of the message.
const dataAfterEnd = (row: NotificationRow) => (isSensitiveTemplate(row.template) ? null : row.data);

/**
 * Delivery, the `notification.deliver` outbox handler: decides at send time — recipient, quiet
 * hours, weekly cap — then walks the message's channels in order: a channel that is not
 * configured, not allowed (consent, preferences) or cannot reach the person (no number, no
 * device, a refused number) is passed over at once; one that fails
 * `ATTEMPTS_BEFORE_FALLBACK` times hands the message to the next with a fresh outbox message.
 * The first channel that accepts it ends the message: it goes out once, not once per channel.
 * Receivers de-duplicate on the delivery id, which is the notification id.
 */
export function createNotificationDelivery(deps: {
  db: Db;
  repository: NotificationsRepository;
  channels: NotificationChannels;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  logger: Logger;
  metrics: Pick<Metrics, 'notificationsSent' | 'notificationsFailed' | 'notificationLatency'>;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
  hasConsent: (userId: string, purpose: ConsentPurposeNeeded) => Promise<boolean>;
  weeklyCap: number;
  publicAppUrl: string;
}) {
  const { db, repository, clock, logger, metrics } = deps;

  const cancel = async (row: NotificationRow, reason: string, fallbacks = row.fallbacks) => {
    await repository.updateQueued(db, row.id, {
      status: 'cancelled',
      channel: row.channel,
      cancelReason: reason,
      fallbacks,
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

  /** Why `channel` may not carry this message to this person now, or undefined when it may. */
  const passOver = async (
    channel: Channel,
    row: NotificationRow,
    recipient: Recipient,
    preferences: NotificationPreferences,
  ): Promise<CancelReason | undefined> => {
    if (!deps.channels[channel].configured) return 'channel_not_configured';
    if ((channel === 'whatsapp' || channel === 'sms') && !(recipient.phone && isE164(recipient.phone))) {
      return 'no_phone';
    }
    // WhatsApp and SMS always need the person's opt-in; promotions need marketing consent on any channel.
    if ((channel === 'whatsapp' || channel === 'sms') && !(await deps.hasConsent(row.userId, channel))) {
      return 'consent_withdrawn';
    }
    if (row.purpose === 'promotion' && !(await deps.hasConsent(row.userId, 'marketing'))) return 'consent_withdrawn';
    // Account messages (a password reset) cannot be turned off.
    if (row.purpose !== 'account' && !preferences.channels[channel]) return 'channel_disabled';
    return undefined;
  };

  const addressOf = (channel: Channel, row: NotificationRow, recipient: Recipient) =>
    channel === 'email' ? recipient.email : channel === 'push' ? row.userId : (recipient.phone as string);

  const markSent = async (
    row: NotificationRow,
    channel: Channel,
    fallbacks: ChannelAttempt[],
    receipt: SendReceipt | undefined,
    context: DeliveryContext,
  ) => {
    const now = clock.now();
    await repository.updateQueued(db, row.id, {
      status: 'sent',
      channel,
      fallbacks,
      sentAt: now,
      attempts: context.attempt,
      lastError: null,
      // Delivered: the data (it may hold a reset token) is no longer needed.
      data: null,
      // A status callback may have come first: what it recorded stays.
      ...(receipt?.providerMessageId
        ? {
            providerMessageId: receipt.providerMessageId,
            deliveryStatus: sql<DeliveryStatus>`coalesce(${notifications.deliveryStatus}, 'accepted')`,
          }
        : {}),
      segments: receipt?.segments ?? null,
      encoding: receipt?.encoding ?? null,
      updatedAt: now,
    });
    metrics.notificationsSent.inc({ channel });
    const since = Math.max(row.createdAt.getTime(), row.notBefore.getTime());
    metrics.notificationLatency.observe({ channel }, Math.max(0, (now.getTime() - since) / 1000));
  };

  /** Everything after "still queued": throws to retry the same channel, DeferDelivery to wait, returns when done. */
  const attempt = async (row: NotificationRow, context: DeliveryContext) => {
    const recipient = await deps.getRecipient(row.userId);
    if (!recipient?.isActive) return cancel(row, 'recipient_gone');
    const preferences = await preferencesOf(repository, db, row.userId);
    const order = row.channels ?? [row.channel];
    const fallbacks = [...row.fallbacks];
    let lastReason = 'channel_not_configured';
    let index = Math.max(order.indexOf(row.channel), 0);
    /** Moves `index` to the first channel from it that may carry the message; false when none is left. */
    const nextUsable = async (): Promise<boolean> => {
      for (; index < order.length; index += 1) {
        const channel = order[index] as Channel;
        const reason = await passOver(channel, row, recipient, preferences);
        if (!reason) return true;
        fallbacks.push({ channel, reason, at: clock.now().toISOString() });
        metrics.notificationsFailed.inc({ channel, outcome: 'skipped' });
        lastReason = reason;
      }
      return false;
    };
    const giveUp = () => cancel({ ...row, channel: order.at(-1) ?? row.channel }, lastReason, fallbacks);
    // Nothing can carry it: cancelled now, not after waiting out quiet hours.
    if (!(await nextUsable())) return giveUp();

    const zone = preferences.time_zone ?? recipient.timeZone;
    const timeZone = isTimeZone(zone) ? zone : 'UTC';
    const now = clock.now();
    if (!row.urgent) {
      const until = quietUntil(now, preferences.quiet_hours, timeZone);
      if (until) {
        await repository.updateQueued(db, row.id, { notBefore: until, updatedAt: now });
        throw new DeferDelivery(until, 'quiet hours');
      }
      if (!row.priority && !row.cappedAt) {
        const since = new Date(now.getTime() - WEEK_MS);
        const placed = await inTransaction(db, (tx) =>
          repository.reserveCapPlace(tx, row.id, row.userId, since, deps.weeklyCap, now),
        );
        if (!placed) return cancel(row, 'weekly_cap', fallbacks);
      }
    }
    const rendered = renderTemplate(row.template, row.data ?? {}, {
      appUrl: deps.publicAppUrl,
      timeZone,
      name: recipient.name,
      footer: row.purpose !== 'account',
    });

    for (;;) {
      const channel = order[index] as Channel;
      // The row names the channel being tried, so a status callback that beats our answer finds it.
      if (channel !== row.channel) await repository.updateQueued(db, row.id, { channel, fallbacks });
      try {
        const receipt = await deps.channels[channel].send({
          deliveryId: row.id,
          userId: row.userId,
          to: addressOf(channel, row, recipient),
          purpose: row.purpose,
          template: row.template,
          ...rendered,
        });
        return markSent(row, channel, fallbacks, receipt, context);
      } catch (error) {
        if (error instanceof ChannelRefused) {
          fallbacks.push({ channel, reason: error.reason.slice(0, MAX_ERROR_LENGTH), at: clock.now().toISOString() });
          metrics.notificationsFailed.inc({ channel, outcome: 'refused' });
          lastReason = error.reason.split(':')[0] as string;
          index += 1;
          if (!(await nextUsable())) return giveUp();
          continue;
        }
        metrics.notificationsFailed.inc({ channel, outcome: 'error' });
        const message = errorMessage(error).slice(0, MAX_ERROR_LENGTH);
        const next = order[index + 1];
        // The attempts this outbox message made on this channel (a hand-over starts a new message).
        if (next && context.attempt >= ATTEMPTS_BEFORE_FALLBACK) {
          fallbacks.push({ channel, reason: `failed: ${message}`, at: clock.now().toISOString() });
          return handOver(row, next, fallbacks, message);
        }
        await repository.updateQueued(db, row.id, {
          channel,
          fallbacks,
          attempts: context.attempt,
          lastError: message,
          updatedAt: clock.now(),
        });
        throw error;
      }
    }
  };

  /** The next channel takes over with its own outbox message (and so its own attempts). */
  const handOver = async (row: NotificationRow, next: Channel, fallbacks: ChannelAttempt[], lastError: string) => {
    await inTransaction(db, async (tx) => {
      const now = clock.now();
      const outboxId = await enqueueDelivery(deps.outbox, tx, row.id, now);
      await repository.updateQueued(tx, row.id, {
        channel: next,
        fallbacks,
        attempts: 0,
        lastError,
        outboxId,
        updatedAt: now,
      });
    });
    logger.warn({ notification_id: row.id, template: row.template, next_channel: next }, 'notification moved on');
  };

  return {
    /** The `notification.deliver` outbox handler. */
    deliver: async (payload: Record<string, unknown>, context: DeliveryContext): Promise<void> => {
      const id = payload.notification_id;
      if (typeof id !== 'string') return;
      const row = await repository.findById(db, id);
      // Erased, already ended, or queued again with a newer outbox message: nothing to do here.
      if (row?.status !== 'queued' || (row.outboxId !== null && row.outboxId !== context.id)) return;
      const now = clock.now();
      if (!(await repository.claimSending(db, row.id, now, new Date(now.getTime() + SENDING_LEASE_MS)))) {
        // Another worker is sending it (this message's lease ran out under it): never twice.
        const until = row.sendingUntil && row.sendingUntil > now ? row.sendingUntil : new Date(now.getTime() + 60_000);
        throw new DeferDelivery(until, 'another worker is sending it');
      }
      try {
        await attempt(row, context);
      } catch (error) {
        if (error instanceof DeferDelivery) throw error;
        if (context.attempt >= context.maxAttempts) {
          await repository.updateQueued(db, row.id, {
            status: 'dead',
            attempts: context.attempt,
            lastError: errorMessage(error).slice(0, MAX_ERROR_LENGTH),
            data: dataAfterEnd(row),
            updatedAt: clock.now(),
          });
          logger.error(
            { notification_id: row.id, channel: row.channel, template: row.template, attempts: context.attempt },
            'notification is dead',
          );
        }
        throw error;
      } finally {
        // Still queued (a retry, a wait, a hand-over): the next worker may send it.
        await repository.updateQueued(db, row.id, { sendingUntil: null });
      }
    },
  };
}
