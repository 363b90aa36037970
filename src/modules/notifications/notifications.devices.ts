import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { Actor } from '../../shared/actor.js';
import type { DeviceBook } from './channels/push.channel.js';
import type { NotificationsRepository } from './notifications.repository.js';
import type { DeviceKind, DevicePlatform, PushDeviceRow } from './notifications.tables.js';

/** More devices than anyone uses; a client that registers a new token on every start is stopped here. */
export const MAX_DEVICES_PER_USER = 20;

export interface DeviceInput {
  kind: DeviceKind;
  platform?: DevicePlatform;
  token?: string;
  endpoint?: string;
  keys?: { p256dh: string; auth: string };
}

export interface PublicDevice {
  id: string;
  kind: DeviceKind;
  platform: DevicePlatform;
  /** The end of the token or endpoint, enough to tell devices apart. */
  label: string;
  created_at: string;
  last_used_at: string | null;
}

const toPublicDevice = (row: PushDeviceRow): PublicDevice => ({
  id: row.id,
  kind: row.kind,
  platform: row.platform,
  label: `…${row.token.slice(-8)}`,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
});

// Push services are public HTTPS hosts; an endpoint on a private or loopback address would make
// this server call into its own network for whoever registers it.
const PRIVATE_HOST =
  /^(localhost|.*\.localhost|.*\.local|.*\.internal|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|0\.|\[?::1\]?$|\[?f[cd][0-9a-f]{2}:|\[?fe80:)/i;

// The push services browsers subscribe at (Chrome and Edge: FCM; Firefox: Mozilla; Safari: Apple;
// legacy Edge: WNS). In production a Web Push endpoint must be on one of them: this server POSTs
// to the endpoint, so any other host would let whoever registers it aim our requests.
const PUSH_SERVICE_HOST =
  /^(?:fcm\.googleapis\.com|android\.googleapis\.com|updates\.push\.services\.mozilla\.com|(?:[a-z0-9-]+\.)*push\.apple\.com|(?:[a-z0-9-]+\.)*notify\.windows\.com)$/i;

/** A person's push devices: FCM tokens and Web Push subscriptions. */
export function createNotificationDevices(deps: {
  db: Db;
  repository: NotificationsRepository;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Production accepts only https push endpoints on public hosts. */
  isProduction: boolean;
  vapidPublicKey?: string;
}) {
  const { db, repository, clock } = deps;

  const endpointProblem = (endpoint: string): string | undefined => {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return 'is not a URL';
    }
    if (url.protocol !== 'https:' && (deps.isProduction || url.protocol !== 'http:')) return 'must be an https URL';
    if (url.username || url.password) return 'must not carry credentials';
    if (deps.isProduction && PRIVATE_HOST.test(url.hostname)) return 'must be a public push service';
    if (deps.isProduction && !PUSH_SERVICE_HOST.test(url.hostname)) {
      return 'must be a push service (fcm.googleapis.com, updates.push.services.mozilla.com, *.push.apple.com, *.notify.windows.com)';
    }
    return undefined;
  };

  const book: DeviceBook = {
    list: (userId) => repository.devicesOf(db, userId),
    async remove(device, why) {
      await repository.deleteDevice(db, device.id);
      deps.logger.info({ device_id: device.id, device_kind: device.kind, reason: why }, 'push device removed');
    },
    touch: (ids) => repository.touchDevices(db, ids, clock.now()),
  };

  return {
    /** What the push channel sends through. */
    deviceBook: book,

    async listDevices(actor: Actor): Promise<PublicDevice[]> {
      return (await repository.devicesOf(db, actor.id)).map(toPublicDevice);
    },

    /** Registers (or moves to this account) an FCM token or a Web Push subscription. */
    async registerDevice(actor: Actor, input: DeviceInput): Promise<PublicDevice> {
      let row: PushDeviceRow;
      const base = { id: deps.ids(), userId: actor.id, createdAt: clock.now(), lastUsedAt: null };
      if (input.kind === 'fcm') {
        if (!input.token) throw invalidField('body.token', 'is required for an FCM device');
        if (!input.platform) throw invalidField('body.platform', 'is required for an FCM device (android, ios or web)');
        if (input.endpoint || input.keys) throw invalidField('body.endpoint', 'belongs to a webpush device');
        row = { ...base, kind: 'fcm', platform: input.platform, token: input.token, p256dh: null, auth: null };
      } else {
        if (!input.endpoint) throw invalidField('body.endpoint', 'is required for a webpush device');
        if (!input.keys) throw invalidField('body.keys', 'is required for a webpush device (p256dh and auth)');
        if (input.token) throw invalidField('body.token', 'belongs to an FCM device');
        const problem = endpointProblem(input.endpoint);
        if (problem) throw invalidField('body.endpoint', problem);
        row = {
          ...base,
          kind: 'webpush',
          platform: 'web',
          token: input.endpoint,
          p256dh: input.keys.p256dh,
          auth: input.keys.auth,
        };
      }
      if ((await repository.countDevices(db, actor.id)) >= MAX_DEVICES_PER_USER) {
        const existing = (await repository.devicesOf(db, actor.id)).some((device) => device.token === row.token);
        if (!existing) {
          throw new AppError(
            'CONFLICT',
            `You have ${MAX_DEVICES_PER_USER} devices; remove one (DELETE /me/devices/:id) before adding another`,
          );
        }
      }
      return toPublicDevice(await repository.upsertDevice(db, row));
    },

    async removeDevice(actor: Actor, id: string): Promise<void> {
      if (!(await repository.deleteDevice(db, id, actor.id))) throw notFound('Device');
    },

    /** The key a browser subscribes with (`applicationServerKey`). */
    vapidPublicKey(): { public_key: string } {
      if (!deps.vapidPublicKey) {
        throw new AppError('NOT_FOUND', 'Web Push is not configured on this server (VAPID_PUBLIC_KEY)');
      }
      return { public_key: deps.vapidPublicKey };
    },
  };
}
