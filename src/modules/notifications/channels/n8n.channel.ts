import { createHmac } from 'node:crypto';
import type { Clock } from '../../../infra/clock.js';
import { createDeliveryHealth, errorMessage, type NotificationChannel, type OutboundMessage } from './channel.js';

export interface N8nOptions {
  url: string;
  secret: string;
  timeoutMs: number;
}

/**
 * `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<raw body>")>`: the receiver recomputes
 * it over the exact bytes it got and may refuse an old `t` (replay).
 */
export function n8nSignature(secret: string, timestampSeconds: number, rawBody: string): string {
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}

/** WhatsApp through an n8n webhook that owns the WhatsApp Business account. */
export function createN8nChannel(options: N8nOptions, deps: { clock: Clock }): NotificationChannel {
  const health = createDeliveryHealth({ clock: deps.clock });

  const post = async (message: OutboundMessage) => {
    const body = JSON.stringify({
      delivery_id: message.deliveryId,
      to: message.to,
      text: message.text,
      template: message.template,
      purpose: message.purpose,
    });
    const timestamp = Math.floor(deps.clock.now().getTime() / 1000);
    let response: Response;
    try {
      response = await fetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-signature': n8nSignature(options.secret, timestamp, body),
          'x-delivery-id': message.deliveryId,
        },
        body,
        // A redirect would turn the POST into a GET somewhere else: treat it as a failure.
        redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'TimeoutError') throw new Error(`n8n webhook timed out after ${options.timeoutMs} ms`);
      const cause = (error as { cause?: unknown }).cause;
      throw new Error(`n8n webhook unreachable: ${errorMessage(cause ?? error)}`);
    }
    // The answer's body is not used; reading it frees the connection.
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`n8n webhook answered ${response.status}`);
  };

  return {
    channel: 'whatsapp',
    kind: 'n8n',
    configured: true,
    async send(message) {
      try {
        await post(message);
        health.succeeded();
        return {};
      } catch (error) {
        health.failed(error);
        throw error;
      }
    },
    check: health.check,
    async close() {},
  };
}
