/**
 * The `/api/v1/live` protocol. Every server message is JSON `{ type, id, at, data }`; a client
 * sends `{ "type": "auth", "token": "<access token>", "last_event_id"?: "<id>" }` first (and again
 * with a fresh token before the old one expires), and may send `{ "type": "ping" }`.
 */
export const CLOSE = {
  /** The auth message did not come in time, or was not valid. */
  UNAUTHORIZED: 4401,
  /** A new token for another person on an open socket. */
  FORBIDDEN: 4403,
  /** The access token expired (send a fresh one before `expires_at`, or reconnect). */
  TOKEN_EXPIRED: 4001,
  /** The session was revoked or the person's access changed. */
  SESSION_REVOKED: 4002,
  /** The person has the most sockets open that one instance allows. */
  TOO_MANY_CONNECTIONS: 4029,
  /** The client did not answer pings. */
  NO_PONG: 4000,
  /** The server is shutting down: reconnect (to another instance). */
  GOING_AWAY: 1001,
} as const;

/** How far back a reconnecting client's `last_event_id` is honoured. */
export const RESUME_WINDOW_MS = 24 * 3_600_000;
/** At most this many missed messages are sent on resume; more sets `gap` (reload what you show). */
export const RESUME_LIMIT = 500;
/** How often open sockets are checked against their token's expiry (in memory). */
export const AUTH_CHECK_MS = 500;
/**
 * How often open sockets' sessions are looked up in the shared store, in case an announcement of
 * a revocation (pub/sub, which closes them at once) was lost.
 */
export const SESSION_RECHECK_MS = 10_000;
/** The largest client message accepted (an auth message with a token is far smaller). */
export const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;

export interface ServerMessage {
  type: string;
  id: string;
  at: string;
  data: Record<string, unknown>;
}

/** What one instance hears from the others (and itself) for each live message. */
export interface FanOutMessage {
  type: string;
  at: string;
  data: Record<string, unknown>;
  /** Fields for open sockets only (not stored). */
  live?: Record<string, unknown>;
  /** One stored message per recipient: its own id, for resume. */
  recipients: { user_id: string; id: string }[];
}

export const frameOf = (message: ServerMessage): string => JSON.stringify(message);
