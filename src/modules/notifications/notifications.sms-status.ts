import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import { verifyTwilioSignature } from './channels/twilio.channel.js';
import type { NotificationsRepository } from './notifications.repository.js';
import type { DeliveryStatus } from './notifications.tables.js';

/** Twilio's MessageStatus values, as we record them (read, receiving and the like are not ours). */
const STATUS_OF: Record<string, DeliveryStatus> = {
  queued: 'accepted',
  accepted: 'accepted',
  scheduled: 'accepted',
  sending: 'accepted',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Callbacks arrive in any order: a status only ever moves forward; the three ends are final.
const RANK: Record<DeliveryStatus, number> = { accepted: 0, sent: 1, delivered: 2, undelivered: 2, failed: 2 };

export interface SmsStatusOutcome {
  recorded: boolean;
  delivery_status: DeliveryStatus | null;
}

/**
 * Twilio's status callbacks (`POST /webhooks/twilio/status`): verified with X-Twilio-Signature over
 * the URL Twilio called (our configured public URL plus the query it carries) and the form
 * fields, then recorded on the notification whose message SID it names.
 */
export function createSmsStatus(deps: {
  db: Db;
  repository: NotificationsRepository;
  clock: Clock;
  logger: Logger;
  metrics: Pick<Metrics, 'notificationsDelivery'>;
  twilio?: { authToken: string; statusCallbackUrl: string };
}) {
  const { db, repository, clock } = deps;
  return {
    async receiveSmsStatus(
      params: Record<string, string>,
      query: string,
      signature: string | undefined,
    ): Promise<SmsStatusOutcome> {
      const twilio = deps.twilio;
      if (!twilio) throw new AppError('NOT_FOUND', 'SMS is not configured on this server (TWILIO_ACCOUNT_SID)');
      const url = query ? `${twilio.statusCallbackUrl}?${query}` : twilio.statusCallbackUrl;
      if (!verifyTwilioSignature(twilio.authToken, url, params, signature)) {
        deps.logger.warn({ has_signature: signature !== undefined }, 'twilio callback refused: bad signature');
        throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'X-Twilio-Signature does not match this URL and body');
      }
      const sid = params.MessageSid ?? params.SmsSid;
      const status = STATUS_OF[params.MessageStatus ?? params.SmsStatus ?? ''];
      if (!sid || !status) return { recorded: false, delivery_status: null };
      return inTransaction(db, async (tx) => {
        const deliveryId = new URLSearchParams(query).get('delivery_id');
        let row = await repository.findByProviderMessageId(tx, sid);
        if (!row && deliveryId && UUID.test(deliveryId)) {
          const byId = await repository.findById(tx, deliveryId, { forUpdate: true });
          if (byId?.channel === 'sms' && (byId.providerMessageId === null || byId.providerMessageId === sid))
            row = byId;
        }
        if (!row) {
          deps.logger.info({ message_sid: sid, status }, 'twilio callback for a message we do not know');
          return { recorded: false, delivery_status: null };
        }
        const current = row.deliveryStatus;
        if (current && RANK[status] <= RANK[current]) return { recorded: false, delivery_status: current };
        const now = clock.now();
        const errorCode = params.ErrorCode;
        await repository.update(tx, row.id, {
          providerMessageId: sid,
          deliveryStatus: status,
          ...(status === 'delivered' ? { deliveredAt: now } : {}),
          ...(status === 'undelivered' || status === 'failed'
            ? { lastError: `twilio: ${status}${errorCode ? ` (error ${errorCode.slice(0, 16)})` : ''}` }
            : {}),
          updatedAt: now,
        });
        deps.metrics.notificationsDelivery.inc({ channel: row.channel, status });
        return { recorded: true, delivery_status: status };
      });
    },
  };
}
