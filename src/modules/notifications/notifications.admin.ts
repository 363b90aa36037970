import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { AuditService } from '../audit/index.js';
import { enqueueDelivery } from './notifications.queue.js';
import type { NotificationFilters, NotificationSummary, NotificationsRepository } from './notifications.repository.js';
import type {
  Channel,
  ChannelAttempt,
  DeliveryStatus,
  MessagePurpose,
  NotificationRow,
  NotificationStatus,
} from './notifications.tables.js';
import { templateProblem } from './notifications.templates.js';

export interface PublicNotification {
  id: string;
  user_id: string;
  channel: Channel;
  channels: Channel[];
  fallbacks: ChannelAttempt[];
  delivery_status: DeliveryStatus | null;
  delivered_at: string | null;
  segments: number | null;
  encoding: 'GSM-7' | 'UCS-2' | null;
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
    channels: row.channels ?? [row.channel],
    fallbacks: row.fallbacks,
    delivery_status: row.deliveryStatus,
    delivered_at: row.deliveredAt?.toISOString() ?? null,
    segments: row.segments,
    encoding: row.encoding === 'GSM-7' || row.encoding === 'UCS-2' ? row.encoding : null,
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

/** What admins do with notifications: list them (never their template data) and send a failed one again. */
export function createNotificationsAdmin(deps: {
  db: Db;
  repository: NotificationsRepository;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  clock: Clock;
}) {
  const { db, repository, clock } = deps;
  return {
    /** Newest first. */
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
        if (!row) throw notFound('Notification');
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
        const outboxId = await enqueueDelivery(deps.outbox, tx, row.id, now);
        const updated = (await repository.update(tx, row.id, {
          status: 'queued',
          // Every channel gets its chance again, from the first.
          channel: row.channels?.[0] ?? row.channel,
          fallbacks: [],
          cappedAt: null,
          sendingUntil: null,
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
  };
}
