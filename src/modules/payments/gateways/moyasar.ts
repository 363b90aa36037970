import { createHash, timingSafeEqual } from 'node:crypto';
import type { PaymentsConfig } from '../../../config.js';
import type { Clock } from '../../../infra/clock.js';
import {
  GatewayDeclinedError,
  type GatewayEvent,
  type GatewayPayment,
  type GatewayRefund,
  GatewayUnavailableError,
  type PaymentGateway,
  WebhookSignatureError,
} from '../payments.gateway.js';
import type { PaymentMethod, PaymentStatus } from '../payments.tables.js';

export type MoyasarSettings = NonNullable<PaymentsConfig['moyasar']>;

export interface MoyasarGatewayDeps {
  clock: Clock;
  /** Per request, in milliseconds. Default 15 s. */
  timeoutMs?: number;
}

/** A payment as Moyasar's REST API describes it (the fields we read). */
interface MoyasarPayment {
  id: string;
  status: string;
  amount: number;
  currency: string;
  refunded?: number;
  captured?: number;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
  source?: {
    type?: string;
    company?: string | null;
    number?: string | null;
    message?: string | null;
    transaction_url?: string | null;
  } | null;
}

/**
 * Moyasar (mada, Apple Pay and STC Pay in SAR) over its documented REST API: Basic auth with the
 * secret key as the user and an empty password, JSON bodies, amounts in halalas. Moyasar has no
 * intent to confirm later: a payment is created with its source (a token from Moyasar's form, an
 * Apple Pay token, an STC Pay mobile number) and comes back `initiated` with a page for 3-D Secure
 * or the STC Pay code, or already `paid` / `failed`.
 */
export function createMoyasarGateway(config: MoyasarSettings, deps: MoyasarGatewayDeps): PaymentGateway {
  const base = config.apiUrl.replace(/\/+$/, '');
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const authorization = `Basic ${Buffer.from(`${config.secretKey}:`).toString('base64')}`;

  const request = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        // A redirect would resend the secret key somewhere else.
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if ((error as { name?: string }).name === 'TimeoutError') {
        throw new GatewayUnavailableError(`Moyasar did not answer within ${timeoutMs} ms`);
      }
      const cause = (error as { cause?: unknown }).cause ?? error;
      throw new GatewayUnavailableError(`Moyasar is unreachable: ${messageOf(cause)}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (response.status >= 500 || response.status === 429) {
      throw new GatewayUnavailableError(`Moyasar answered ${response.status}`);
    }
    if (response.status === 401 || response.status === 403 || response.status === 405) {
      // Our key or account, not the customer: payments are down until the configuration is fixed.
      throw new GatewayUnavailableError(`Moyasar refused the API key (${response.status})`);
    }
    if (!response.ok) {
      const error = isRecord(json) ? json : {};
      const message = typeof error.message === 'string' ? error.message : `Moyasar answered ${response.status}`;
      const details = isRecord(error.errors) ? ` (${Object.keys(error.errors).join(', ')})` : '';
      const code = typeof error.type === 'string' ? error.type : `http_${response.status}`;
      throw new GatewayDeclinedError(`${message}${details}`, response.status === 404 ? 'resource_missing' : code);
    }
    if (json === undefined) throw new GatewayUnavailableError('Moyasar answered without a JSON body');
    return json;
  };

  const fetchPayment = async (id: string) => paymentOf(await request('GET', `/v1/payments/${encodeURIComponent(id)}`));

  return {
    name: 'moyasar',
    configured: true,

    async createIntent(input) {
      const givenId = uuidOfKey(`moyasar:payment:${input.idempotencyKey}`);
      const body = {
        // Moyasar's idempotency: the payment takes this id, so a retry cannot make a second one.
        given_id: givenId,
        amount: input.amountMinor,
        currency: input.currency.toUpperCase(),
        description: input.description,
        callback_url: input.returnUrl,
        source: sourceOf(input.method, input.token),
        metadata: input.metadata,
      };
      try {
        return paymentOf(await request('POST', '/v1/payments', body));
      } catch (error) {
        // A retry after a lost answer may be refused because the id is taken: the payment the
        // first attempt made is the answer.
        if (!(error instanceof GatewayDeclinedError)) throw error;
        const existing = await fetchPayment(givenId).catch(() => undefined);
        if (existing && existing.amountMinor === input.amountMinor) return existing;
        throw error;
      }
    },

    retrieveIntent: fetchPayment,

    async cancelIntent(gatewayPaymentId) {
      try {
        return paymentOf(await request('POST', `/v1/payments/${encodeURIComponent(gatewayPaymentId)}/void`));
      } catch (error) {
        // Moyasar voids only authorized or paid payments; an `initiated` one cannot be stopped (it
        // fails by itself if the customer never finishes), a voided one is done. Either way the
        // current state is the answer and the caller decides.
        if (error instanceof GatewayDeclinedError && error.code !== 'resource_missing') {
          return fetchPayment(gatewayPaymentId);
        }
        throw error;
      }
    },

    async refund(input) {
      // Moyasar takes no idempotency key for refunds and keeps no refund objects: the caller must
      // not retry a refund whose outcome is unknown without fetching the payment first (its
      // `refundedMinor` says whether the refund went through).
      const payment = paymentOf(
        await request('POST', `/v1/payments/${encodeURIComponent(input.gatewayPaymentId)}/refund`, {
          amount: input.amountMinor,
        }),
      );
      const refund: GatewayRefund = {
        // Unique per payment and running total, so two partial refunds of the same amount differ.
        id: `${payment.id}:refund:${payment.refundedMinor}`,
        gatewayPaymentId: payment.id,
        amountMinor: input.amountMinor,
        currency: payment.currency,
        status: 'succeeded',
        metadata: { ...input.metadata },
      };
      return refund;
    },

    /**
     * Moyasar does not sign its webhooks: the body carries the `secret_token` set in the
     * dashboard, compared here in constant time. Because that only proves the sender knows the
     * token, the event is a hint, not the truth: the payments service fetches the payment
     * (`retrieveIntent`) before acting on it. This method stays offline (no network call here).
     */
    parseWebhook(rawBody) {
      if (!config.webhookSecret) {
        throw new WebhookSignatureError('MOYASAR_WEBHOOK_SECRET is not set: Moyasar webhooks cannot be verified');
      }
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        throw new WebhookSignatureError('The Moyasar webhook body is not JSON');
      }
      if (!isRecord(body) || typeof body.secret_token !== 'string') {
        throw new WebhookSignatureError('The Moyasar webhook has no secret_token');
      }
      if (!sameSecret(body.secret_token, config.webhookSecret)) {
        throw new WebhookSignatureError('The Moyasar webhook secret_token is wrong');
      }
      if (typeof body.id !== 'string' || typeof body.type !== 'string') {
        throw new WebhookSignatureError('The Moyasar webhook has no id or type');
      }
      const createdAt = typeof body.created_at === 'string' ? new Date(body.created_at) : undefined;
      const base = {
        id: body.id,
        gateway: 'moyasar' as const,
        occurredAt: createdAt && !Number.isNaN(createdAt.getTime()) ? createdAt : deps.clock.now(),
        gatewayType: body.type,
      };
      if (!body.type.startsWith('payment_') || !isPayment(body.data)) return { ...base, kind: 'ignored' };
      // Refunds, voids and failures are all states of the payment at Moyasar (no refund objects).
      return { ...base, kind: 'payment', payment: paymentOf(body.data) } satisfies GatewayEvent;
    },

    async check() {
      await request('GET', '/v1/payments?page=1');
    },
  };
}

/** The payment source from what the client sent: never card numbers, only tokens made by Moyasar or the wallet. */
function sourceOf(method: PaymentMethod | undefined, token: string | undefined): Record<string, unknown> {
  if (!token) throw new GatewayDeclinedError('Payment details are missing', 'source_required');
  if (method === 'apple_pay') return { type: 'applepay', token };
  // STC Pay is identified by the customer's mobile number; Moyasar then sends the one-time code.
  if (method === 'stcpay') return { type: 'stcpay', mobile: token };
  if (method === 'google_pay')
    throw new GatewayDeclinedError('Google Pay is not available for this payment', 'method_unavailable');
  if (!token.startsWith('token_')) throw new GatewayDeclinedError('The card token is not valid', 'invalid_token');
  // A token from Moyasar's form (mada, Visa, Mastercard); 3-D Secure on, as the schemes require.
  return { type: 'token', token, '3ds': true, manual: false };
}

function paymentOf(value: unknown): GatewayPayment {
  if (!isPayment(value)) throw new GatewayUnavailableError('Moyasar answered with something that is not a payment');
  const source = value.source ?? {};
  const refundedMinor = typeof value.refunded === 'number' ? value.refunded : 0;
  const capturedField = typeof value.captured === 'number' ? value.captured : 0;
  let status: PaymentStatus;
  let capturedMinor = 0;
  switch (value.status) {
    case 'initiated':
      status = source.transaction_url ? 'requires_action' : 'requires_payment_method';
      break;
    case 'paid':
    case 'captured':
    case 'refunded':
      // `captured` is only filled for authorize-then-capture payments; a purchase took the amount.
      capturedMinor = capturedField > 0 ? capturedField : value.amount;
      status = refundedMinor <= 0 ? 'succeeded' : refundedMinor >= capturedMinor ? 'refunded' : 'partially_refunded';
      break;
    case 'authorized':
      status = 'processing';
      break;
    case 'failed':
      status = 'failed';
      break;
    case 'voided':
      status = 'canceled';
      break;
    default:
      // An unknown state is not final: the service fetches again later.
      status = 'processing';
  }
  const payment: GatewayPayment = {
    id: value.id,
    status,
    amountMinor: value.amount,
    currency: value.currency.toUpperCase(),
    capturedMinor,
    refundedMinor,
    metadata: stringsOf(value.metadata),
  };
  const method = methodOf(source.type, source.company);
  if (method) payment.method = method;
  if (source.company && source.type !== 'stcpay') payment.cardBrand = brandOf(source.company);
  const last4 = lastFourOf(source.number);
  if (last4) payment.cardLast4 = last4;
  if (status === 'requires_action' && source.transaction_url) payment.nextActionUrl = source.transaction_url;
  if (status === 'failed') payment.failureReason = source.message ?? 'The payment failed';
  return payment;
}

function methodOf(type: string | undefined, company: string | null | undefined): PaymentMethod | undefined {
  if (type === 'applepay') return 'apple_pay';
  if (type === 'stcpay') return 'stcpay';
  if (type === 'creditcard' || type === 'token') return company === 'mada' ? 'mada' : 'card';
  return undefined;
}

/** Moyasar's `master` is everyone else's `mastercard`. */
function brandOf(company: string): string {
  const lower = company.toLowerCase();
  return lower === 'master' ? 'mastercard' : lower;
}

/** The last four digits of Moyasar's masked number ("4111-11XX-XXXX-1111"); nothing else is kept. */
function lastFourOf(masked: string | null | undefined): string | undefined {
  const digits = /([0-9]{4})\s*$/.exec((masked ?? '').replace(/[-\s]/g, ''));
  return digits?.[1];
}

function stringsOf(metadata: Record<string, unknown> | null | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value === 'string') result[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') result[key] = String(value);
  }
  return result;
}

/**
 * A UUID (version 4 layout) derived from our idempotency key: Moyasar's `given_id` must be a UUID,
 * and the same key must give the same id on every retry.
 */
export function uuidOfKey(key: string): string {
  const bytes = createHash('sha256').update(key).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first makes both sides the same length, so the comparison time says nothing about either.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function isPayment(value: unknown): value is MoyasarPayment {
  return (
    isRecord(value) &&
    typeof value.id === 'string' &&
    typeof value.status === 'string' &&
    typeof value.amount === 'number' &&
    typeof value.currency === 'string'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
