import type { ErrorEvent } from '@sentry/node';
import type { Logger } from './logger.js';

export interface ErrorTrackingOptions {
  dsn: string;
  environment: string;
  /** Share of error events sent. */
  sampleRate: number;
  /** The package version: events are grouped by release in Sentry. */
  release: string;
}

/** Where a failed request was: what Sentry tags the event with. */
export interface RequestErrorContext {
  correlationId: string;
  method: string;
  /** The route pattern (`/api/v1/bookings/:id`), never the URL with its ids and query. */
  route: string;
  statusCode: number;
  /** The OpenTelemetry trace of the request, when tracing is on: the event links to it. */
  traceId?: string;
}

export interface ErrorTracker {
  captureRequestError(error: unknown, context: RequestErrorContext): void;
  /** Sends what is queued; resolves false when `timeoutMs` ran out first. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flushes, then stops: nothing is captured afterwards. */
  close(timeoutMs?: number): Promise<void>;
}

const REDACTED = '[redacted]';

// Values under these keys never leave the process, at any depth of an event.
const SECRET_KEY =
  /^(authorization|proxy-authorization|cookie|cookies|set-cookie|x-api-key|api_key|apikey|password|new_password|current_password|secret|client_secret|token|access_token|refresh_token|id_token|reset_token|email|phone|phone_number|ip_address|x-forwarded-for|x-real-ip)$/i;

// Personal data and credentials that may sit inside any text: an error message, a URL, a source line.
const TEXT_SCRUBS: [RegExp, string][] = [
  // A failed query's message lists its parameters (emails, names, password hashes).
  [/\nparams: [\s\S]*$/, `\nparams: ${REDACTED}`],
  // Letters, digits and dots around the @ only: a path such as node_modules/@scope/pkg/x.js is no email.
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, '[email]'],
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[jwt]'],
  [
    /([?&;]|\b)(token|access_token|refresh_token|id_token|reset_token|code|key|api_key|apikey|secret|signature|sig|password|session)=[^&\s#"']*/gi,
    `$1$2=${REDACTED}`,
  ],
  [/\b(sk|rk|whsec)_[A-Za-z0-9_]{8,}/g, REDACTED],
];

function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_SCRUBS) out = out.replace(pattern, replacement);
  return out;
}

// Event parts that are the SDK's own bookkeeping (or module names): nothing of ours is in them.
const SDK_KEYS = new Set(['sdkProcessingMetadata', 'sdk', 'modules', 'debug_meta']);
const MAX_DEPTH = 12;

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (depth === 0 && SDK_KEYS.has(key)) out[key] = inner;
    else out[key] = SECRET_KEY.test(key) ? REDACTED : scrubValue(inner, depth + 1);
  }
  return out;
}

/** A URL without its query string (kept apart in `query_string`, scrubbed there). */
const withoutQuery = (url: string) => url.split('?', 1)[0] ?? url;

/**
 * What leaves for Sentry (its `beforeSend`): no request body, cookies or credential headers, no
 * client address, only the user's pseudonymous id, token-like query parameters, emails, bearer
 * tokens, JWTs and gateway secrets masked in every string, and no breadcrumbs.
 */
export function scrubEvent<E extends ErrorEvent>(event: E): E {
  const scrubbed = scrubValue(event, 0) as E;
  if (event.request) {
    const { method, url, query_string, headers } = event.request;
    scrubbed.request = {
      method,
      ...(url ? { url: scrubText(withoutQuery(url)) } : {}),
      ...(query_string ? { query_string: scrubValue(query_string, 1) as string } : {}),
      ...(headers ? { headers: scrubValue(headers, 1) as Record<string, string> } : {}),
    };
  }
  if (event.user) scrubbed.user = event.user.id === undefined ? {} : { id: event.user.id };
  delete scrubbed.breadcrumbs;
  return scrubbed;
}

/**
 * Error tracking with Sentry (SENTRY_DSN): 5xx answers and unhandled errors, tagged with the
 * correlation id and the route, scrubbed before they leave (`scrubEvent`). The SDK is imported
 * here, only when a DSN is set. It registers no OpenTelemetry provider (ours, src/infra/telemetry.ts,
 * stays the only one) and records no performance data: errors only.
 */
export async function startErrorTracking(options: ErrorTrackingOptions, logger: Logger): Promise<ErrorTracker> {
  const Sentry = await import('@sentry/node');
  // The SDK's process handlers outlive its client: they are taken off again on close.
  const before = {
    exception: process.listeners('uncaughtException'),
    rejection: process.listeners('unhandledRejection'),
  };
  Sentry.init({
    dsn: options.dsn,
    environment: options.environment,
    release: options.release,
    sampleRate: options.sampleRate,
    // No user details, cookies, headers, bodies, query strings, query parameters or local variables.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      databaseQueryData: false,
      queues: false,
      stackFrameVariables: false,
    },
    enableOpenTelemetrySetup: false,
    // Its load-time module hooks serve framework integrations we do not use.
    enableRuntimeChannelInjection: false,
    // Only what is safe and useful: no request data, console or HTTP breadcrumbs, local
    // variables or module lists. Unhandled rejections crash the process as they do without
    // Sentry ("strict"), once reported.
    defaultIntegrations: false,
    integrations: [
      Sentry.eventFiltersIntegration(),
      Sentry.functionToStringIntegration(),
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
      Sentry.nodeContextIntegration(),
      Sentry.contextLinesIntegration(),
      Sentry.onUncaughtExceptionIntegration(),
      Sentry.onUnhandledRejectionIntegration({ mode: 'strict' }),
    ],
    maxBreadcrumbs: 0,
    beforeSend: (event) => scrubEvent(event),
  });
  const added = {
    exception: process.listeners('uncaughtException').filter((listener) => !before.exception.includes(listener)),
    rejection: process.listeners('unhandledRejection').filter((listener) => !before.rejection.includes(listener)),
  };
  logger.info({ environment: options.environment, release: options.release }, 'error tracking (Sentry) on');

  let closed: Promise<void> | undefined;
  return {
    captureRequestError(error, context) {
      Sentry.withScope((scope) => {
        scope.setTags({
          correlation_id: context.correlationId,
          route: context.route,
          method: context.method,
          status_code: context.statusCode,
          ...(context.traceId ? { trace_id: context.traceId } : {}),
        });
        scope.setTransactionName(`${context.method} ${context.route}`);
        Sentry.captureException(error);
      });
    },
    flush: (timeoutMs = 2000) => Sentry.flush(timeoutMs),
    close(timeoutMs = 2000) {
      closed ??= (async () => {
        await Sentry.close(timeoutMs);
        for (const listener of added.exception) process.off('uncaughtException', listener);
        for (const listener of added.rejection) process.off('unhandledRejection', listener);
      })();
      return closed;
    },
  };
}
