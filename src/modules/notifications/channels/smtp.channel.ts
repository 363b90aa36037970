import type { Transporter } from 'nodemailer';
import type { Clock } from '../../../infra/clock.js';
import { createDeliveryHealth, type NotificationChannel } from './channel.js';

export interface SmtpOptions {
  url: string;
  from: string;
}

const TIMEOUT_MS = 10_000;
// A health probe (EHLO/AUTH round trip) at most this often; deliveries in between count instead.
const PROBE_TTL_MS = 5 * 60_000;

/** The domain of the From address, for Message-IDs: `Care <no-reply@care.example>` → care.example. */
export function senderDomain(from: string): string {
  const match = /@([^\s>]+)>?\s*$/.exec(from);
  return match?.[1]?.toLowerCase() ?? 'localhost';
}

/** Email through an SMTP server (nodemailer): one connection per message, bounded timeouts. */
export function createSmtpChannel(options: SmtpOptions, deps: { clock: Clock }): NotificationChannel {
  // nodemailer is loaded by the first message or probe, not by every start of the app.
  let transport: Promise<Transporter> | undefined;
  const transporter = () => {
    transport ??= import('nodemailer').then(({ createTransport }) =>
      createTransport(
        {
          url: options.url,
          connectionTimeout: TIMEOUT_MS,
          greetingTimeout: TIMEOUT_MS,
          socketTimeout: TIMEOUT_MS,
          dnsTimeout: TIMEOUT_MS,
        },
        { from: options.from },
      ),
    );
    return transport;
  };
  const domain = senderDomain(options.from);
  const health = createDeliveryHealth({
    clock: deps.clock,
    probeTtlMs: PROBE_TTL_MS,
    probe: async () => {
      await (await transporter()).verify();
    },
  });

  return {
    channel: 'email',
    kind: 'smtp',
    configured: true,
    async send(message) {
      try {
        await (await transporter()).sendMail({
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
          // The delivery id makes a resend of the same notification recognisable as one message.
          messageId: `<${message.deliveryId}@${domain}>`,
          headers: { 'X-Delivery-Id': message.deliveryId },
        });
        health.succeeded();
        return {};
      } catch (error) {
        health.failed(error);
        throw error;
      }
    },
    check: health.check,
    async close() {
      // A probe still in flight ends by its own timeouts; shutdown does not wait for it.
      if (transport) (await transport).close();
    },
  };
}
