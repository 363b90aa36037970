import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { DeliveryContext, HandlerOptions, Outbox } from '../../infra/outbox/outbox.js';
import type { EventBus } from '../../shared/events.js';
import type { Recipient } from './notifications.delivery.js';
import type { NotificationsRepository } from './notifications.repository.js';
import { channelOrder } from './notifications.routing.js';
import type { Channel, MessagePurpose } from './notifications.tables.js';
import { type TemplateName, templateProblem } from './notifications.templates.js';

/** The outbox message type that delivers one notification. */
export const NOTIFICATION_DELIVER = 'notification.deliver';

/** Waits before retries 1–5 (1 min, 5 min, 30 min, 2 h, 5 h); the 6th failure is final. */
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000] as const;

export const NOTIFICATION_DELIVERY_OPTIONS: Required<HandlerOptions> = {
  maxAttempts: RETRY_DELAYS_MS.length + 1,
  retryDelayMs: (attempt) => RETRY_DELAYS_MS[Math.min(Math.max(attempt, 1), RETRY_DELAYS_MS.length) - 1] as number,
};

/** An outbox type identity no longer writes; rows of it that still wait are relayed by `relayPasswordReset`. */
export const LEGACY_PASSWORD_RESET = 'email.password_reset';

export interface SendInput {
  userId: string;
  /** The channels to try, in order; absent: the template's (notifications.routing.ts). */
  channels?: readonly Channel[];
  purpose: MessagePurpose;
  template: TemplateName;
  data: Record<string, unknown>;
  /** Goes out at once: no quiet hours, no weekly cap (password reset, booking changes). */
  urgent?: boolean;
  /** Something the person asked for (e.g. a booking reminder): outside the weekly cap, still waits for quiet hours. */
  priority?: boolean;
  /** Not before this time (e.g. 24 hours before a booking). */
  notBefore?: Date;
}

/** The outbox message that delivers notification `id`, in the caller's transaction; resolves with its id. */
export const enqueueDelivery = (outbox: Pick<Outbox, 'enqueue'>, tx: Db, id: string, notBefore: Date) =>
  outbox.enqueue(tx, {
    type: NOTIFICATION_DELIVER,
    payload: { notification_id: id },
    deliverAfter: notBefore,
    maxAttempts: NOTIFICATION_DELIVERY_OPTIONS.maxAttempts,
  });

/**
 * Queueing: a notification row plus the outbox message that delivers it, both in the caller's
 * transaction, so the message exists exactly when the caller's change commits.
 */
export function createNotificationQueue(deps: {
  db: Db;
  repository: NotificationsRepository;
  outbox: Pick<Outbox, 'enqueue'>;
  clock: Clock;
  ids: IdGenerator;
  events: Pick<EventBus, 'publish'>;
  getRecipient: (userId: string) => Promise<Recipient | undefined>;
}) {
  const { db, repository, clock } = deps;

  const queue = async (tx: Db, input: SendInput, id: string): Promise<string> => {
    const now = clock.now();
    const notBefore = input.notBefore && input.notBefore > now ? input.notBefore : now;
    const outboxId = await enqueueDelivery(deps.outbox, tx, id, notBefore);
    const channels = channelOrder(input.template, input.channels);
    await repository.insert(tx, {
      id,
      userId: input.userId,
      channel: channels[0] as Channel,
      channels,
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
    // The person's open apps hear of it at once (after commit); the channels take their time.
    await deps.events.publish('live.message', {
      to: [input.userId],
      type: 'notification.created',
      data: { notification_id: id, template: input.template, purpose: input.purpose },
    });
    return id;
  };

  return {
    /** Queues a message in the caller's transaction, delivered by the outbox worker; returns the notification id. */
    async send(tx: Db, input: SendInput): Promise<string> {
      const problem = templateProblem(input.template, input.data);
      if (problem) throw new Error(`notifications.send: ${problem}`);
      return queue(tx, input, deps.ids());
    },

    /** Each `email.password_reset` row becomes a password-reset email (once: the notification takes the row's id). */
    relayPasswordReset: async (payload: Record<string, unknown>, context: DeliveryContext): Promise<void> => {
      const userId = payload.user_id;
      if (typeof userId !== 'string' || !(await deps.getRecipient(userId))) return;
      await inTransaction(db, async (tx) => {
        if (await repository.findById(tx, context.id)) return;
        const input: SendInput = {
          userId,
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
  };
}
