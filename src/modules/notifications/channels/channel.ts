import type { Clock } from '../../../infra/clock.js';
import type { Channel, MessagePurpose } from '../notifications.tables.js';

/** One rendered message on its way out; `deliveryId` (the notification id) lets receivers de-duplicate. */
export interface OutboundMessage {
  deliveryId: string;
  /** Whom it is for (push looks up the person's devices). */
  userId: string;
  /** E.164 phone for WhatsApp and SMS, an address for email, the user id for push. */
  to: string;
  purpose: MessagePurpose;
  template: string;
  subject: string;
  text: string;
  html: string;
  /** One or two sentences and the link, for SMS and push. */
  short: string;
  /** Where the message points in the web app, if anywhere. */
  url?: string;
}

/** What a transport tells of a message it accepted (all optional). */
export interface SendReceipt {
  /** The provider's id of the message (a Twilio message SID): status callbacks name it. */
  providerMessageId?: string;
  /** SMS: how many segments the text is billed as, and in which encoding. */
  segments?: number;
  encoding?: 'GSM-7' | 'UCS-2';
}

/**
 * The channel cannot reach this person with this message, and trying again will not help (no
 * device, every device token dead, a number the carrier refuses): the next channel is tried at once.
 */
export class ChannelRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ChannelRefused';
  }
}

/** How a channel's messages leave: a real transport, the development log, or nothing at all. */
export type ChannelKind = 'n8n' | 'smtp' | 'twilio' | 'push' | 'log' | 'none';

export interface NotificationChannel {
  readonly channel: Channel;
  readonly kind: ChannelKind;
  /** False only in production without the channel's settings: its messages are cancelled. */
  readonly configured: boolean;
  /**
   * Resolves once the receiver accepted the message; throws `ChannelRefused` when this channel
   * cannot reach the person, any other error when it may work later (the outbox retries).
   */
  send(message: OutboundMessage): Promise<SendReceipt>;
  /** Answers at once from what is known (last delivery, cached probe); throws when the channel looks down. */
  check(): Promise<void>;
  close(): Promise<void>;
}

export type NotificationChannels = Record<Channel, NotificationChannel>;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What health reports for a channel, without a network call per health request: the outcome of
 * the last delivery, or of a background probe when nothing was delivered for `probeTtlMs`.
 * No evidence yet counts as up.
 */
export function createDeliveryHealth(deps: { clock: Clock; probe?: () => Promise<void>; probeTtlMs?: number }) {
  const ttl = deps.probeTtlMs ?? 60_000;
  let lastFailure: string | undefined;
  let lastOutcomeAt = Number.NEGATIVE_INFINITY;
  let probing: Promise<void> | undefined;

  const succeeded = () => {
    lastFailure = undefined;
    lastOutcomeAt = deps.clock.now().getTime();
  };
  const failed = (error: unknown) => {
    lastFailure = errorMessage(error);
    lastOutcomeAt = deps.clock.now().getTime();
  };

  return {
    succeeded,
    failed,
    async check(): Promise<void> {
      const probe = deps.probe;
      if (probe && !probing && deps.clock.now().getTime() - lastOutcomeAt > ttl) {
        // Not awaited: the health answer stays fast and the next one sees the result.
        probing = probe()
          .then(succeeded, failed)
          .finally(() => {
            probing = undefined;
          });
      }
      if (lastFailure !== undefined) throw new Error(lastFailure);
    },
  };
}
