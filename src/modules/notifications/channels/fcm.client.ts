import { importPKCS8, SignJWT } from 'jose';
import type { Clock } from '../../../infra/clock.js';
import { errorMessage } from './channel.js';

/** The fields of a Google service-account key file that the OAuth flow needs. */
export interface ServiceAccount {
  project_id?: string;
  client_email: string;
  private_key: string;
  token_uri?: string;
  private_key_id?: string;
}

export interface FcmOptions {
  projectId: string;
  /** The service-account key file's JSON text. */
  serviceAccountJson: string;
  /** Base URL of the FCM API, default 'https://fcm.googleapis.com'; tests point it at 127.0.0.1. */
  apiUrl: string;
  timeoutMs: number;
}

/**
 * What one push to one device came to. `gone`: the token or subscription is dead and should be
 * forgotten; `retry`: the failure is transient and the same push may work later.
 */
export type PushOutcome = { ok: true; id?: string } | { ok: false; gone: boolean; retry: boolean; error: string };

export interface PushMessage {
  title: string;
  body: string;
  url?: string;
  deliveryId: string;
}

export interface FcmClient {
  send(token: string, message: PushMessage): Promise<PushOutcome>;
}

const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const ASSERTION_LIFETIME_SECONDS = 3600;
/** A token this close to its end is treated as expired, so it cannot run out while a send is in flight. */
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

export function parseServiceAccount(json: string): ServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`FCM service account is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('FCM service account must be a JSON object (the key file Google issues)');
  }
  const fields = parsed as Record<string, unknown>;
  const required = (name: 'client_email' | 'private_key'): string => {
    const value = fields[name];
    if (typeof value !== 'string' || value.trim() === '') {
      throw new Error(`FCM service account is missing "${name}"`);
    }
    return value;
  };
  const optional = (name: 'project_id' | 'token_uri' | 'private_key_id'): string | undefined => {
    const value = fields[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw new Error(`FCM service account field "${name}" must be a string`);
    return value;
  };
  const account: ServiceAccount = { client_email: required('client_email'), private_key: required('private_key') };
  const projectId = optional('project_id');
  const tokenUri = optional('token_uri');
  const privateKeyId = optional('private_key_id');
  if (projectId !== undefined) account.project_id = projectId;
  if (tokenUri !== undefined) account.token_uri = tokenUri;
  if (privateKeyId !== undefined) account.private_key_id = privateKeyId;
  return account;
}

/** A failure with its outcome already decided (used inside the client only). */
class PushFailure extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

function failed(error: string, flags: { gone?: boolean; retry?: boolean }): PushOutcome {
  return { ok: false, gone: flags.gone ?? false, retry: flags.retry ?? false, error };
}

async function post(url: string, init: { headers: Record<string, string>; body: string }, timeoutMs: number) {
  return fetch(url, {
    method: 'POST',
    headers: init.headers,
    body: init.body,
    // A redirect would send the credentials somewhere else: treat it as a failure.
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
}

function unreachable(what: string, error: unknown, timeoutMs: number): string {
  if ((error as { name?: string }).name === 'TimeoutError') return `${what} timed out after ${timeoutMs} ms`;
  const cause = (error as { cause?: unknown }).cause;
  return `${what} unreachable: ${errorMessage(cause ?? error)}`;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface GoogleError {
  status?: string;
  message?: string;
  errorCodes: string[];
}

/** Google APIs answer errors as `{ error: { code, message, status, details: [{ '@type', errorCode }] } }`. */
function googleError(body: unknown): GoogleError {
  const error = (body as { error?: unknown } | undefined)?.error;
  if (typeof error !== 'object' || error === null) return { errorCodes: [] };
  const { status, message, details } = error as { status?: unknown; message?: unknown; details?: unknown };
  const errorCodes = Array.isArray(details)
    ? details
        .filter((detail) => (detail as { '@type'?: unknown })?.['@type'] === FCM_ERROR_TYPE)
        .map((detail) => (detail as { errorCode?: unknown }).errorCode)
        .filter((code): code is string => typeof code === 'string')
    : [];
  return {
    status: typeof status === 'string' ? status : undefined,
    message: typeof message === 'string' ? message : undefined,
    errorCodes,
  };
}

function describeError(status: number, error: GoogleError): string {
  const code = error.errorCodes[0] ?? error.status;
  const parts = [`FCM answered ${status}`];
  if (code) parts.push(code);
  return error.message ? `${parts.join(' ')}: ${error.message}` : parts.join(' ');
}

/** FCM HTTP v1 (`messages:send`), authorised by a service account through OAuth 2.0's JWT bearer grant. */
export function createFcmClient(options: FcmOptions, deps: { clock: Clock }): FcmClient {
  const account = parseServiceAccount(options.serviceAccountJson);
  const tokenUri = account.token_uri ?? DEFAULT_TOKEN_URI;
  const sendUrl = `${options.apiUrl.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(options.projectId)}/messages:send`;

  let signingKey: ReturnType<typeof importPKCS8> | undefined;
  let cached: { accessToken: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  const key = () => {
    signingKey ??= importPKCS8(account.private_key, 'RS256').catch((error: unknown) => {
      signingKey = undefined;
      throw new PushFailure(`FCM service account private_key is not a PKCS#8 RSA key: ${errorMessage(error)}`, false);
    });
    return signingKey;
  };

  const fetchAccessToken = async (): Promise<{ accessToken: string; expiresAt: number }> => {
    const issuedAt = Math.floor(deps.clock.now().getTime() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        ...(account.private_key_id ? { kid: account.private_key_id } : {}),
      })
      .setIssuer(account.client_email)
      .setSubject(account.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
      .sign(await key());
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
    let response: Response;
    try {
      response = await post(
        tokenUri,
        { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() },
        options.timeoutMs,
      );
    } catch (error) {
      throw new PushFailure(unreachable('FCM token endpoint', error, options.timeoutMs), true);
    }
    const body = (await readJson(response)) as
      | { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown }
      | undefined;
    if (!response.ok) {
      const reason = [body?.error, body?.error_description].filter((part) => typeof part === 'string').join(': ');
      throw new PushFailure(
        `FCM token endpoint answered ${response.status}${reason ? ` (${reason})` : ''}`,
        // The token endpoint may be down for a while; the outbox tries again later.
        true,
      );
    }
    if (typeof body?.access_token !== 'string' || body.access_token === '') {
      throw new PushFailure('FCM token endpoint answered without an access_token', true);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in);
    const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : ASSERTION_LIFETIME_SECONDS) * 1000;
    return {
      accessToken: body.access_token,
      expiresAt: deps.clock.now().getTime() + lifetimeMs - TOKEN_EXPIRY_MARGIN_MS,
    };
  };

  const accessToken = async (): Promise<string> => {
    if (cached && deps.clock.now().getTime() < cached.expiresAt) return cached.accessToken;
    // Concurrent sends wait for the same token request instead of each asking for one.
    pending ??= fetchAccessToken()
      .then((fresh) => {
        cached = fresh;
        return fresh.accessToken;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };

  const forget = (token: string) => {
    // Another send may already have replaced it with a fresh one: keep that.
    if (cached?.accessToken === token) cached = undefined;
  };

  const attempt = async (body: string): Promise<PushOutcome | 'unauthorized'> => {
    let bearer: string;
    try {
      bearer = await accessToken();
    } catch (error) {
      if (error instanceof PushFailure) return failed(error.message, { retry: error.retry });
      return failed(`FCM access token: ${errorMessage(error)}`, { retry: true });
    }
    let response: Response;
    try {
      response = await post(
        sendUrl,
        { headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body },
        options.timeoutMs,
      );
    } catch (error) {
      return failed(unreachable('FCM', error, options.timeoutMs), { retry: true });
    }
    const answer = await readJson(response);
    if (response.ok) {
      const name = (answer as { name?: unknown } | undefined)?.name;
      return typeof name === 'string' ? { ok: true, id: name } : { ok: true };
    }
    if (response.status === 401) {
      forget(bearer);
      return 'unauthorized';
    }
    return outcomeOf(response.status, googleError(answer));
  };

  return {
    async send(token, message) {
      const data: Record<string, string> = { delivery_id: message.deliveryId };
      if (message.url) data.url = message.url;
      const body = JSON.stringify({
        message: {
          token,
          notification: { title: message.title, body: message.body },
          data,
          android: { priority: 'high' },
          ...(message.url ? { webpush: { fcm_options: { link: message.url } } } : {}),
        },
      });
      const first = await attempt(body);
      if (first !== 'unauthorized') return first;
      // The cached token may have been revoked early: one more try with a fresh one.
      const second = await attempt(body);
      if (second !== 'unauthorized') return second;
      return failed('FCM answered 401 with a fresh access token (is the service account allowed to send?)', {});
    },
  };
}

function outcomeOf(status: number, error: GoogleError): PushOutcome {
  const message = describeError(status, error);
  if (status === 404) return failed(message, { gone: true });
  if ((status === 400 || status === 403) && error.errorCodes.includes('UNREGISTERED')) {
    return failed(message, { gone: true });
  }
  if (
    status === 400 &&
    (error.status === 'INVALID_ARGUMENT' || error.errorCodes.includes('INVALID_ARGUMENT')) &&
    /registration token/i.test(error.message ?? '') &&
    /not a valid|invalid/i.test(error.message ?? '')
  ) {
    return failed(message, { gone: true });
  }
  // 502 and 504 pass like 500 and 503 do: a gateway in front of FCM failed, not the message.
  if (status === 429 || status >= 500) return failed(message, { retry: true });
  return failed(message, {});
}
