import type { Clock } from '../../../infra/clock.js';
import type { Logger } from '../../../infra/logger.js';
import type { HealthCheck } from '../../../shared/health.js';
import { CHANNELS } from '../notifications.tables.js';
import type { NotificationChannels } from './channel.js';
import { createLogChannel, createUnconfiguredChannel } from './log.channel.js';
import { createN8nChannel } from './n8n.channel.js';
import { createSmtpChannel } from './smtp.channel.js';

export type {
  ChannelKind,
  NotificationChannel,
  NotificationChannels,
  OutboundMessage,
} from './channel.js';
export { n8nSignature } from './n8n.channel.js';

export interface ChannelSettings {
  isProduction: boolean;
  notifications: {
    n8n?: { url: string; secret: string; timeoutMs: number };
    smtp?: { url: string; from: string };
  };
}

/**
 * The one place a channel's transport is chosen: its settings when present; otherwise the log
 * in development and "not configured" in production (messages cancelled, never logged in clear).
 */
export function createChannels(
  settings: ChannelSettings,
  deps: { logger: Logger; clock: Clock },
): NotificationChannels {
  const { n8n, smtp } = settings.notifications;
  const fallback = (channel: 'whatsapp' | 'email') =>
    settings.isProduction ? createUnconfiguredChannel(channel) : createLogChannel(channel, deps);
  return {
    whatsapp: n8n ? createN8nChannel(n8n, deps) : fallback('whatsapp'),
    email: smtp ? createSmtpChannel(smtp, deps) : fallback('email'),
  };
}

/** Health checks for the channels: never required (the API works without them). */
export function channelHealthChecks(channels: NotificationChannels): HealthCheck[] {
  return CHANNELS.map((name) => {
    const channel = channels[name];
    return {
      name,
      kind: channel.kind,
      required: false,
      configured: channel.configured,
      check: () => channel.check(),
    };
  });
}

export async function closeChannels(channels: NotificationChannels): Promise<void> {
  await Promise.allSettled(CHANNELS.map((name) => channels[name].close()));
}
