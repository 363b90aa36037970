import type { Clock } from '../../../infra/clock.js';
import type { Logger } from '../../../infra/logger.js';
import type { DeviceKind, PushDeviceRow } from '../notifications.tables.js';
import { ChannelRefused, createDeliveryHealth, type NotificationChannel } from './channel.js';
import type { PushMessage, PushOutcome } from './fcm.client.js';

/** Sends to one device of its kind (FCM, Web Push, or the development log). */
export type PushTransport = (device: PushDeviceRow, message: PushMessage) => Promise<PushOutcome>;

/** The person's devices, as the notifications repository keeps them. */
export interface DeviceBook {
  list(userId: string): Promise<PushDeviceRow[]>;
  /** The push service said the token or subscription is gone. */
  remove(device: PushDeviceRow, why: string): Promise<void>;
  touch(ids: string[]): Promise<void>;
}

/**
 * Push: the message goes to every device the person registered whose kind has a transport.
 * Delivered when one device took it; a device the service calls gone is removed; no device at
 * all (or only dead ones) hands the message to the next channel; a service that may recover
 * (429, 5xx, timeout) makes the outbox try again.
 */
export function createPushChannel(deps: {
  transports: Partial<Record<DeviceKind, PushTransport>>;
  /** Whether any transport is a real service (false: development's log). */
  kind: 'push' | 'log';
  devices: DeviceBook;
  clock: Clock;
}): NotificationChannel {
  const health = createDeliveryHealth({ clock: deps.clock });
  return {
    channel: 'push',
    kind: deps.kind,
    configured: true,
    async send(message) {
      const devices = (await deps.devices.list(message.userId)).filter((device) => deps.transports[device.kind]);
      if (devices.length === 0) throw new ChannelRefused('no_device');
      const push: PushMessage = {
        title: message.subject,
        body: message.short,
        url: message.url,
        deliveryId: message.deliveryId,
      };
      const outcomes = await Promise.all(
        devices.map(async (device) => {
          try {
            return await (deps.transports[device.kind] as PushTransport)(device, push);
          } catch (error) {
            return { ok: false, gone: false, retry: true, error: String(error) } satisfies PushOutcome;
          }
        }),
      );
      const delivered: string[] = [];
      const errors: string[] = [];
      let retry = false;
      for (const [index, outcome] of outcomes.entries()) {
        const device = devices[index] as PushDeviceRow;
        if (outcome.ok) {
          delivered.push(device.id);
          continue;
        }
        errors.push(`${device.kind}: ${outcome.error}`);
        if (outcome.gone) await deps.devices.remove(device, outcome.error);
        else if (outcome.retry) retry = true;
      }
      if (delivered.length > 0) {
        await deps.devices.touch(delivered);
        health.succeeded();
        return {};
      }
      const summary = errors.join('; ').slice(0, 500);
      if (retry) {
        health.failed(summary);
        throw new Error(`push not delivered: ${summary}`);
      }
      throw new ChannelRefused(`push_failed: ${summary}`);
    },
    check: health.check,
    async close() {},
  };
}

/** Development without FCM or VAPID keys: a registered device's message goes to the log. */
export function logPushTransport(logger: Logger): PushTransport {
  return async (device, message) => {
    logger.info(
      { channel: 'push', device_id: device.id, device_kind: device.kind, delivery_id: message.deliveryId, ...message },
      'push message (log channel)',
    );
    return { ok: true };
  };
}
