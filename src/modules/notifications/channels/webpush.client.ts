import { createECDH } from 'node:crypto';
import type webpush from 'web-push';
import { errorMessage } from './channel.js';
import type { PushMessage, PushOutcome } from './fcm.client.js';

export interface VapidOptions {
  /** Uncompressed P-256 public key, base64url (65 bytes), as `web-push generate-vapid-keys` prints it. */
  publicKey: string;
  /** The P-256 private scalar, base64url (32 bytes). */
  privateKey: string;
  /** `mailto:` or `https:` contact the push services can reach the sender at (RFC 8292). */
  subject: string;
  timeoutMs: number;
}

/** A browser's `PushSubscription.toJSON()`. */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface WebPushClient {
  send(subscription: WebPushSubscription, message: PushMessage): Promise<PushOutcome>;
}

/** A day: a reminder older than that is no longer worth showing. */
const TTL_SECONDS = 86_400;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** True when both keys decode to a P-256 key pair whose private key yields exactly this public key. */
export function isValidVapidKeys(publicKey: string, privateKey: string): boolean {
  if (!BASE64URL.test(publicKey) || !BASE64URL.test(privateKey)) return false;
  const publicBytes = Buffer.from(publicKey, 'base64url');
  const privateBytes = Buffer.from(privateKey, 'base64url');
  if (publicBytes.length !== 65 || publicBytes[0] !== 0x04 || privateBytes.length !== 32) return false;
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateBytes);
    return ecdh.getPublicKey().equals(publicBytes);
  } catch {
    // Zero or a scalar beyond the curve order.
    return false;
  }
}

function assertSubject(subject: string) {
  let protocol: string;
  try {
    protocol = new URL(subject).protocol;
  } catch {
    throw new Error(`VAPID subject must be a mailto: or https: URL, got "${subject}"`);
  }
  if (protocol !== 'mailto:' && protocol !== 'https:') {
    throw new Error(`VAPID subject must be a mailto: or https: URL, got "${subject}"`);
  }
}

function failed(error: string, flags: { gone?: boolean; retry?: boolean }): PushOutcome {
  return { ok: false, gone: flags.gone ?? false, retry: flags.retry ?? false, error };
}

/**
 * Web Push (RFC 8030) with an aes128gcm-encrypted payload (RFC 8291) and VAPID (RFC 8292).
 * `web-push` builds the request; we send it ourselves so our timeout and redirect rules apply.
 */
export function createWebPushClient(options: VapidOptions): WebPushClient {
  // Bad settings fail at boot, so a send error below is about the subscription, not about us.
  if (!isValidVapidKeys(options.publicKey, options.privateKey)) {
    throw new Error('VAPID keys are not a matching P-256 key pair (base64url public and private key)');
  }
  assertSubject(options.subject);
  const vapidDetails = { subject: options.subject, publicKey: options.publicKey, privateKey: options.privateKey };
  // web-push is loaded by the first send, not by every start of the app.
  let library: Promise<typeof webpush> | undefined;

  return {
    async send(subscription, message) {
      const payload = JSON.stringify({
        title: message.title,
        body: message.body,
        url: message.url,
        delivery_id: message.deliveryId,
      });
      library ??= import('web-push').then((module) => module.default);
      const webPush = await library;
      let request: ReturnType<typeof webpush.generateRequestDetails>;
      try {
        const endpoint = new URL(subscription.endpoint);
        if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
          throw new Error(`endpoint scheme ${endpoint.protocol} is not http(s)`);
        }
        request = webPush.generateRequestDetails(subscription, payload, {
          vapidDetails,
          TTL: TTL_SECONDS,
          contentEncoding: 'aes128gcm',
          urgency: 'normal',
        });
      } catch (error) {
        // Keys of the wrong length or a malformed endpoint: this subscription can never be reached.
        return failed(`Web Push subscription is unusable: ${errorMessage(error)}`, { gone: true });
      }

      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        // fetch sets the length from the body itself.
        if (name.toLowerCase() !== 'content-length') headers[name] = String(value);
      }
      let response: Response;
      try {
        response = await fetch(request.endpoint, {
          method: request.method,
          headers,
          body: request.body ?? undefined,
          // Push services answer, they do not redirect: a redirect would carry the VAPID token elsewhere.
          redirect: 'error',
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        if ((error as { name?: string }).name === 'TimeoutError') {
          return failed(`push service timed out after ${options.timeoutMs} ms`, { retry: true });
        }
        const cause = (error as { cause?: unknown }).cause;
        return failed(`push service unreachable: ${errorMessage(cause ?? error)}`, { retry: true });
      }
      const text = await response.text().catch(() => '');
      const status = response.status;
      if (status === 200 || status === 201 || status === 202) {
        // RFC 8030 names the created push message resource in Location.
        const location = response.headers.get('location');
        return location ? { ok: true, id: location } : { ok: true };
      }
      const detail = text.trim().slice(0, 200);
      const error = `push service answered ${status}${detail ? `: ${detail}` : ''}`;
      if (status === 404 || status === 410) return failed(error, { gone: true });
      if (status === 429 || status >= 500) return failed(error, { retry: true });
      return failed(error, {});
    },
  };
}
