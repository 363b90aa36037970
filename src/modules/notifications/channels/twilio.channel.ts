import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../../infra/clock.js';
import {
  ChannelRefused,
  createDeliveryHealth,
  errorMessage,
  type NotificationChannel,
  type OutboundMessage,
  type SendReceipt,
} from './channel.js';
import { isE164, smsSegments } from './sms-segments.js';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** Exactly one of these two senders. */
  from?: string;
  messagingServiceSid?: string;
  /** Base URL of the API, default 'https://api.twilio.com'; tests point it at 127.0.0.1. */
  apiUrl: string;
  /** Full public URL of our status webhook (…/api/v1/webhooks/twilio/status); sent as StatusCallback when set. */
  statusCallbackUrl?: string;
  timeoutMs: number;
}

/**
 * Twilio error codes saying this number will never take our SMS, whatever we retry:
 * 21211 invalid To, 21214 unreachable, 21408 region not enabled, 21610 recipient sent STOP,
 * 21612 no route, 21614 not a mobile number.
 */
const UNREACHABLE_CODES = new Set([21211, 21214, 21408, 21610, 21612, 21614]);

interface TwilioAnswer {
  sid?: unknown;
  status?: unknown;
  num_segments?: unknown;
  code?: unknown;
  message?: unknown;
}

/** Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the full URL followed by each POST param name+value, names sorted. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  // Default sort: by UTF-16 code unit, case-sensitive, as Twilio sorts the names.
  const data = Object.keys(params)
    .sort()
    .reduce((signed, name) => signed + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * The same URL with the scheme's default port written out if it was left out, or left out if it
 * was written: Twilio signs either form (its own SDK accepts both), so both are tried.
 */
function withDefaultPortToggled(url: string): string | undefined {
  // Userinfo and IPv6 hosts do not match: only the URL as given is tried for those.
  const match = /^(https?):\/\/([^/?#:@[]+)(:\d+)?((?:[/?#].*)?)$/i.exec(url);
  if (!match) return undefined;
  const scheme = match[1] as string;
  const host = match[2] as string;
  const port = match[3];
  const rest = match[4] ?? '';
  const defaultPort = scheme.toLowerCase() === 'https' ? ':443' : ':80';
  if (port === undefined) return `${scheme}://${host}${defaultPort}${rest}`;
  return port === defaultPort ? `${scheme}://${host}${rest}` : undefined;
}

export function verifyTwilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string>,
  signature: string | undefined,
): boolean {
  if (!signature) return false;
  const given = Buffer.from(signature);
  const urls = [url, withDefaultPortToggled(url)].filter((candidate) => candidate !== undefined);
  return urls.some((candidate) => {
    const expected = Buffer.from(twilioSignature(authToken, candidate, params));
    // An HMAC-SHA1 in base64 is always 28 characters: comparing lengths first leaks nothing.
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

async function readAnswer(response: Response): Promise<TwilioAnswer | undefined> {
  const raw = await response.text();
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' ? (parsed as TwilioAnswer) : undefined;
  } catch {
    // A proxy or load balancer in front of Twilio may answer HTML.
    return undefined;
  }
}

/** " (code 21604: A 'To' phone number is required.)" from Twilio's error answer, or nothing. */
function twilioError(answer: TwilioAnswer | undefined): string {
  const parts: string[] = [];
  if (typeof answer?.code === 'number' || typeof answer?.code === 'string') parts.push(`code ${answer.code}`);
  if (typeof answer?.message === 'string') parts.push(answer.message);
  return parts.length > 0 ? ` (${parts.join(': ')})` : '';
}

/** SMS through Twilio's Messages REST API (no SDK: one POST with Basic auth). */
export function createTwilioSmsChannel(options: TwilioOptions, deps: { clock: Clock }): NotificationChannel {
  if (Boolean(options.from) === Boolean(options.messagingServiceSid)) {
    throw new Error('Twilio SMS needs exactly one sender: a From number or a Messaging Service SID');
  }
  const health = createDeliveryHealth({ clock: deps.clock });
  const endpoint = `${options.apiUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const [senderField, sender] = options.messagingServiceSid
    ? ['MessagingServiceSid', options.messagingServiceSid]
    : ['From', options.from ?? ''];
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;

  const post = async (message: OutboundMessage): Promise<SendReceipt> => {
    const form = new URLSearchParams({ To: message.to, [senderField]: sender, Body: message.short });
    // The delivery id in the callback URL (signed by Twilio with it) finds the notification even
    // when the callback arrives before the message SID was recorded.
    if (options.statusCallbackUrl) {
      form.set('StatusCallback', `${options.statusCallbackUrl}?delivery_id=${encodeURIComponent(message.deliveryId)}`);
    }

    let response: Response;
    let answer: TwilioAnswer | undefined;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // The same notification retried after a lost answer carries the same token.
          'i-twilio-idempotency-token': message.deliveryId,
        },
        body: form.toString(),
        // A redirect would turn the POST into a GET somewhere else: treat it as a failure.
        redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      answer = await readAnswer(response);
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'TimeoutError') throw new Error(`Twilio API timed out after ${options.timeoutMs} ms`);
      const cause = (error as { cause?: unknown }).cause;
      throw new Error(`Twilio API unreachable: ${errorMessage(cause ?? error)}`);
    }

    const status = response.status;
    if (response.ok) {
      // Twilio's own num_segments arrives as a string and only after its own encoding choices;
      // the count we record is ours, computed from the text we sent.
      const { segments, encoding } = smsSegments(message.short);
      return {
        // Accepted is accepted: a missing sid must not make the outbox send the SMS again.
        ...(typeof answer?.sid === 'string' ? { providerMessageId: answer.sid } : {}),
        segments,
        encoding,
      };
    }
    if (status === 401 || status === 403) {
      throw new Error(`Twilio refused our credentials: ${status}${twilioError(answer)}`);
    }
    if (status === 429) throw new Error(`Twilio is rate limiting us: 429${twilioError(answer)}`);
    if (status >= 500) throw new Error(`Twilio answered ${status}${twilioError(answer)}`);
    const code = Number(answer?.code);
    if (UNREACHABLE_CODES.has(code)) throw new ChannelRefused(`twilio_${code}`);
    throw new Error(`Twilio answered ${status}${twilioError(answer)}`);
  };

  return {
    channel: 'sms',
    kind: 'twilio',
    configured: true,
    async send(message) {
      // Not a number Twilio could ever take: no request, the next channel is tried.
      if (!isE164(message.to)) throw new ChannelRefused('invalid_phone');
      try {
        const receipt = await post(message);
        health.succeeded();
        return receipt;
      } catch (error) {
        // Twilio answering "this number cannot be reached" shows the channel works.
        if (error instanceof ChannelRefused) health.succeeded();
        else health.failed(error);
        throw error;
      }
    },
    check: health.check,
    async close() {},
  };
}
