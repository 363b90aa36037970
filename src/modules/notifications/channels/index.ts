import type { Config } from '../../../config.js';
import type { Clock } from '../../../infra/clock.js';
import type { Logger } from '../../../infra/logger.js';
import type { HealthCheck } from '../../../shared/health.js';
import { CHANNELS, type Channel, type DeviceKind } from '../notifications.tables.js';
import type { NotificationChannels } from './channel.js';
import { createFcmClient } from './fcm.client.js';
import { createLogChannel, createUnconfiguredChannel } from './log.channel.js';
import { createN8nChannel } from './n8n.channel.js';
import { createPushChannel, type DeviceBook, logPushTransport, type PushTransport } from './push.channel.js';
import { createSmtpChannel } from './smtp.channel.js';
import { createTwilioSmsChannel } from './twilio.channel.js';
import { createWebPushClient } from './webpush.client.js';

export {
  type ChannelKind,
  ChannelRefused,
  type NotificationChannel,
  type NotificationChannels,
  type OutboundMessage,
  type SendReceipt,
} from './channel.js';
export { n8nSignature } from './n8n.channel.js';
export { smsSegments } from './sms-segments.js';
export { twilioSignature, verifyTwilioSignature } from './twilio.channel.js';

/** What choosing the transports reads: the configuration's own notification settings. */
export type ChannelSettings = Pick<Config, 'isProduction' | 'notifications'>;

/**
 * The one place a channel's transport is chosen: its settings when present; otherwise the log
 * in development and "not configured" in production (the message moves on to its next channel,
 * and is cancelled when none is left; never logged in clear).
 */
export function createChannels(
  settings: ChannelSettings,
  deps: { logger: Logger; clock: Clock; devices: DeviceBook },
): NotificationChannels {
  const { n8n, smtp, twilio, fcm, vapid } = settings.notifications;
  const fallback = (channel: Channel) =>
    settings.isProduction ? createUnconfiguredChannel(channel) : createLogChannel(channel, deps);

  const transports: Partial<Record<DeviceKind, PushTransport>> = {};
  if (fcm) {
    const client = createFcmClient(fcm, deps);
    transports.fcm = (device, message) => client.send(device.token, message);
  }
  if (vapid) {
    const client = createWebPushClient(vapid);
    transports.webpush = (device, message) =>
      client.send({ endpoint: device.token, keys: { p256dh: device.p256dh ?? '', auth: device.auth ?? '' } }, message);
  }
  const anyPush = fcm !== undefined || vapid !== undefined;
  let push = anyPush
    ? createPushChannel({ transports, kind: 'push', devices: deps.devices, clock: deps.clock })
    : undefined;
  if (!push && !settings.isProduction) {
    const log = logPushTransport(deps.logger);
    push = createPushChannel({
      transports: { fcm: log, webpush: log },
      kind: 'log',
      devices: deps.devices,
      clock: deps.clock,
    });
  }
  return {
    whatsapp: n8n ? createN8nChannel(n8n, deps) : fallback('whatsapp'),
    email: smtp ? createSmtpChannel(smtp, deps) : fallback('email'),
    sms: twilio ? createTwilioSmsChannel(twilio, deps) : fallback('sms'),
    push: push ?? createUnconfiguredChannel('push'),
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
