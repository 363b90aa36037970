import type { Logger } from '../../../infra/logger.js';
import type { Channel } from '../notifications.tables.js';
import type { NotificationChannel } from './channel.js';

/**
 * Development stand-in for a channel without settings: the rendered message goes to the log
 * (so a developer can follow a reset link). Never chosen in production.
 */
export function createLogChannel(channel: Channel, deps: { logger: Logger }): NotificationChannel {
  return {
    channel,
    kind: 'log',
    configured: true,
    async send(message) {
      deps.logger.info(
        {
          channel,
          delivery_id: message.deliveryId,
          template: message.template,
          purpose: message.purpose,
          to: message.to,
          subject: message.subject,
          text: message.text,
        },
        `${channel} message (log channel)`,
      );
      return {};
    },
    async check() {},
    async close() {},
  };
}

/** Production without the channel's settings: nothing can be sent; health says not_configured. */
export function createUnconfiguredChannel(channel: Channel): NotificationChannel {
  return {
    channel,
    kind: 'none',
    configured: false,
    async send() {
      throw new Error(`${channel} channel is not configured`);
    },
    async check() {
      throw new Error(`${channel} channel is not configured`);
    },
    async close() {},
  };
}
