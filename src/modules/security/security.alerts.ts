import { sql } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Outbox } from '../../infra/outbox/outbox.js';
import { n8nSignature } from '../notifications/channels/n8n.channel.js';
import type { SecurityRepository } from './security.repository.js';

/** The outbox message that posts one alert digest to SECURITY_ALERT_WEBHOOK_URL. */
export const ALERT_WEBHOOK = 'security.alert_webhook';
const MAX_LINES = 50;

interface Notifier {
  send(
    tx: Db,
    input: {
      userId: string;
      purpose: 'account';
      template: 'security_alert';
      data: Record<string, unknown>;
      urgent: boolean;
    },
  ): Promise<string>;
}

/**
 * Alerts for admins: a row per critical event, block, burst or failed check, then delivered
 * by `deliver` — at once when no alert went out in the last SECURITY_ALERT_DIGEST_MINUTES, else
 * held and sent together as one digest when that time is up, so an attack fills no inbox. One
 * instance delivers at a time (an advisory lock; a second pass waits for it); each admin gets an email through the
 * notifications outbox, and the webhook (when configured) one signed POST per digest.
 */
export function createSecurityAlerts(deps: {
  db: Db;
  repository: SecurityRepository;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  outbox: Pick<Outbox, 'enqueue'>;
  notifications: Notifier;
  adminIds: (db: Db) => Promise<string[]>;
  digestMs: number;
  webhook?: { url: string; secret: string };
  webhookTimeoutMs: number;
}) {
  const { db, repository, clock, ids, logger } = deps;
  let kick: Promise<unknown> | undefined;

  const deliver = async (): Promise<{ sent: number; held: number }> =>
    inTransaction(db, async (tx) => {
      // One pass at a time across instances: a second one waits, then finds the first one's digest.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('security_alerts'))`);
      const pending = await repository.lockPendingAlerts(tx, 500);
      if (pending.length === 0) return { sent: 0, held: 0 };
      const now = clock.now();
      const last = await repository.lastSentAt(tx);
      if (last && now.getTime() - last.getTime() < deps.digestMs) return { sent: 0, held: pending.length };
      const digestId = ids();
      await repository.markSent(
        tx,
        pending.map((alert) => alert.id),
        now,
        digestId,
      );
      const summary =
        pending.length === 1
          ? (pending[0]?.summary as string)
          : `${pending.length} alerts (${[...new Set(pending.map((a) => a.kind))].join(', ')})`;
      const lines = pending
        .slice(0, MAX_LINES)
        .map((alert) => `${alert.createdAt.toISOString()} ${alert.kind}: ${alert.summary}`)
        .concat(pending.length > MAX_LINES ? [`… and ${pending.length - MAX_LINES} more`] : []);
      for (const userId of await deps.adminIds(tx)) {
        await deps.notifications.send(tx, {
          userId,
          purpose: 'account',
          template: 'security_alert',
          data: { summary, lines: lines.join('\n') },
          urgent: true,
        });
      }
      if (deps.webhook) {
        await deps.outbox.enqueue(tx, {
          type: ALERT_WEBHOOK,
          payload: {
            digest_id: digestId,
            sent_at: now.toISOString(),
            summary,
            alerts: pending.map((alert) => ({
              id: alert.id,
              kind: alert.kind,
              summary: alert.summary,
              details: alert.details,
              created_at: alert.createdAt.toISOString(),
            })),
          },
        });
      }
      return { sent: pending.length, held: 0 };
    });

  return {
    /** Stores an alert and tries to deliver at once (held for the digest when one went out recently). */
    async raise(kind: string, summary: string, details: Record<string, unknown>): Promise<void> {
      await repository.insertAlert(db, {
        id: ids(),
        kind,
        summary,
        details,
        createdAt: clock.now(),
        sentAt: null,
        digestId: null,
      });
      // One delivery pass at a time per instance; the periodic job picks up what this one misses.
      kick ??= deliver()
        .catch((error) => logger.error({ err: error }, 'security alerts could not be delivered'))
        .finally(() => {
          kick = undefined;
        });
    },

    deliver,

    /** Resolves once the delivery pass started by `raise` (if any) is done. */
    settled: () => kick ?? Promise.resolve(),

    /** Posts one digest: the same `X-Signature: t=…,v1=…` HMAC as the n8n webhook. */
    async postWebhook(payload: Record<string, unknown>): Promise<void> {
      const webhook = deps.webhook;
      if (!webhook) return;
      const body = JSON.stringify(payload);
      const timestamp = Math.floor(clock.now().getTime() / 1000);
      let response: Response;
      try {
        response = await fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-signature': n8nSignature(webhook.secret, timestamp, body),
            'x-digest-id': String(payload.digest_id),
          },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(deps.webhookTimeoutMs),
        });
      } catch (error) {
        throw new Error(`security alert webhook unreachable: ${(error as Error).message}`);
      }
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new Error(`security alert webhook answered ${response.status}`);
    },
  };
}

export type SecurityAlerts = ReturnType<typeof createSecurityAlerts>;
