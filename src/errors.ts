/**
 * Every error code the API answers with, and its HTTP status. Codes are stable strings
 * that clients may switch on; the README lists them. Only the error handler reads the status.
 */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_JSON: 400,
  BAD_REQUEST: 400,
  WEAK_PASSWORD: 400,
  INVALID_RESET_TOKEN: 400,
  MEDICAL_DATA_NOT_COLLECTED: 400,
  WEBHOOK_SIGNATURE_INVALID: 400,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  TOKEN_INVALID: 401,
  SESSION_REVOKED: 401,
  REFRESH_TOKEN_INVALID: 401,
  REFRESH_TOKEN_REUSED: 401,
  PAYMENT_DECLINED: 402,
  FORBIDDEN: 403,
  ACCOUNT_DISABLED: 403,
  IP_BLOCKED: 403,
  REQUEST_REJECTED: 403,
  PREMIUM_REQUIRED: 403,
  OWN_SERVICE: 403,
  NOT_FOUND: 404,
  FEATURE_DISABLED: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  EMAIL_TAKEN: 409,
  TRIAL_ALREADY_USED: 409,
  FLAG_EXISTS: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  CONSENT_REQUIRED: 409,
  PHONE_REQUIRED: 409,
  SLOT_UNAVAILABLE: 409,
  INVALID_STATE: 409,
  CHAT_CLOSED: 409,
  PAYOUTS_NOT_READY: 409,
  REFUND_EXCEEDS_CAPTURE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UPGRADE_REQUIRED: 426,
  ACCOUNT_LOCKED: 423,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
  PAYMENTS_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * Why a time cannot be booked (409 SLOT_UNAVAILABLE), in `details[].reason`: clients switch on
 * it to say what to do (pick a later time, a time on the grid, another slot).
 */
export const SLOT_UNAVAILABLE_REASONS = [
  'past',
  'notice',
  'beyond_horizon',
  'off_grid',
  'outside_hours',
  'taken',
] as const;
export type SlotUnavailableReason = (typeof SLOT_UNAVAILABLE_REASONS)[number];

export interface ErrorDetail {
  field: string;
  message: string;
  /** A machine-readable cause, for the codes that have one (SLOT_UNAVAILABLE_REASONS). */
  reason?: SlotUnavailableReason;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly details?: ErrorDetail[];
  /** Extra response headers, e.g. Retry-After. */
  readonly headers?: Record<string, string>;
  /** Extra fields for the error body (e.g. a premium teaser); documented per route. */
  readonly extra?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      details?: ErrorDetail[];
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
    this.extra = options.extra;
  }

  get statusCode(): number {
    return ERROR_STATUS[this.code];
  }
}

/** 400 VALIDATION_ERROR naming one field as the client sent it (`query.cursor`, `body.starts_at`). */
export const invalidField = (field: string, message: string): AppError =>
  new AppError('VALIDATION_ERROR', 'Request validation failed', { details: [{ field, message }] });

/** 404 NOT_FOUND for `what` ("Booking"), also for another person's object. */
export const notFound = (what: string): AppError => new AppError('NOT_FOUND', `${what} not found`);
