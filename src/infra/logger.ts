import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Keys whose values never reach a log line, at any depth.
const SECRET_KEY =
  /^(authorization|cookie|set-cookie|password|new_password|current_password|passwd|secret|token|access_token|refresh_token|id_token|api_key|apikey|x-api-key|email|phone|phone_number)$/i;
const EMAIL_VALUE = /[^\s@"]+@[^\s@"]+\.[a-z]{2,}/gi;
const REDACTED = '[redacted]';

/** Deep copy with secret keys replaced and email addresses inside strings masked. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('@') ? value.replace(EMAIL_VALUE, REDACTED) : value;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redact(inner, depth + 1);
  }
  return out;
}

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redact(object) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
