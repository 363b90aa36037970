import type { WebSocket } from 'ws';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Logger } from '../../infra/logger.js';
import type { LiveConnection, LiveHub } from './live.hub.js';
import { CLOSE, frameOf } from './live.protocol.js';
import type { LiveService } from './live.service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The access-token checks HTTP uses (the identity module's signer and session state). */
export interface LiveAuth {
  verify(token: string): Promise<{ sub: string; sid: string; iat_ms: number; exp: number }>;
  lookup(sessionId: string, userId: string): Promise<{ revoked: boolean; validFrom: number }>;
}

type ClientMessage = { type?: unknown; token?: unknown; last_event_id?: unknown };

/**
 * One socket's life: it must authenticate with its first message within `authTimeoutMs`; then it
 * gets `ready` (and, with `last_event_id`, what it missed), live messages, and may send a fresh
 * token before the old one expires. Errors in client messages are answered with an `error`
 * message; a bad or missing auth closes the socket (4401).
 */
export function createSocketHandler(deps: {
  hub: LiveHub;
  live: LiveService;
  auth: LiveAuth;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  authTimeoutMs: number;
  heartbeatMs: number;
}) {
  const { hub, clock } = deps;

  const message = (type: string, data: Record<string, unknown>) =>
    frameOf({ type, id: deps.ids(), at: clock.now().toISOString(), data });

  const refuse = (connection: LiveConnection, code: number, error: { code: string; message: string }) => {
    hub.write(connection, message('error', error));
    hub.close(connection, code, error.code);
  };

  /** Checks a token as HTTP does; the claims, or the error to answer. */
  const authenticate = async (token: unknown) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      return { error: { code: 'UNAUTHORIZED', message: 'Send {"type":"auth","token":"<access token>"}' } };
    }
    try {
      const claims = await deps.auth.verify(token);
      const state = await deps.auth.lookup(claims.sid, claims.sub);
      if (state.revoked)
        return { error: { code: 'SESSION_REVOKED', message: 'This session has ended; sign in again' } };
      if (claims.iat_ms < state.validFrom) {
        return {
          error: { code: 'TOKEN_INVALID', message: 'Your access changed since this token was issued; refresh it' },
        };
      }
      return { claims };
    } catch (error) {
      if (error instanceof AppError) return { error: { code: error.code, message: error.message } };
      throw error;
    }
  };

  const start = async (connection: LiveConnection, request: ClientMessage) => {
    const result = await authenticate(request.token);
    if (!result.claims) return refuse(connection, CLOSE.UNAUTHORIZED, result.error);
    const { claims } = result;
    const lastEventId = request.last_event_id;
    if (lastEventId !== undefined && (typeof lastEventId !== 'string' || !UUID.test(lastEventId))) {
      return refuse(connection, CLOSE.UNAUTHORIZED, {
        code: 'VALIDATION_ERROR',
        message: 'last_event_id must be the id of a message this socket received',
      });
    }
    Object.assign(connection, {
      userId: claims.sub,
      sessionId: claims.sid,
      issuedAtMs: claims.iat_ms,
      expiresAtMs: claims.exp * 1000,
      // Live messages wait while missed ones are read, so nothing is lost or sent out of order.
      pending: lastEventId ? [] : undefined,
    });
    // The client left while its token was checked: nothing to add.
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    if (!hub.add(connection)) {
      return refuse(connection, CLOSE.TOO_MANY_CONNECTIONS, {
        code: 'TOO_MANY_CONNECTIONS',
        message: 'You have the most live connections allowed open; close one',
      });
    }
    deps.live.markOnline([claims.sub]);
    let missed: Awaited<ReturnType<LiveService['missedSince']>> = { messages: [], gap: false };
    if (lastEventId) missed = await deps.live.missedSince(claims.sub, lastEventId as string);
    hub.write(
      connection,
      message('ready', {
        user_id: claims.sub,
        expires_at: new Date(claims.exp * 1000).toISOString(),
        heartbeat_ms: deps.heartbeatMs,
        resumed: missed.messages.length,
        gap: missed.gap,
      }),
    );
    for (const item of missed.messages) hub.write(connection, frameOf(item));
    // Anything up to the last replayed id was sent already, whenever its fan-out arrives.
    connection.replayedUpTo = missed.messages.at(-1)?.id ?? (lastEventId as string | undefined);
    const waiting = connection.pending ?? [];
    connection.pending = undefined;
    for (const item of waiting) hub.deliver(claims.sub, item.id, item.frame, connection);
  };

  /** A fresh token on an open socket moves its expiry; it must be the same person's. */
  const renew = async (connection: LiveConnection, token: unknown) => {
    const result = await authenticate(token);
    if (!result.claims) return refuse(connection, CLOSE.UNAUTHORIZED, result.error);
    if (result.claims.sub !== connection.userId) {
      return refuse(connection, CLOSE.FORBIDDEN, { code: 'FORBIDDEN', message: 'That token is for someone else' });
    }
    Object.assign(connection, {
      sessionId: result.claims.sid,
      issuedAtMs: result.claims.iat_ms,
      expiresAtMs: result.claims.exp * 1000,
    });
    hub.write(connection, message('renewed', { expires_at: new Date(result.claims.exp * 1000).toISOString() }));
  };

  return (socket: WebSocket) => {
    const connection: LiveConnection = { socket, alive: true };
    hub.attach(connection);
    let state: 'new' | 'authenticating' | 'ready' = 'new';
    const timeout = setTimeout(() => {
      if (state !== 'ready') {
        refuse(connection, CLOSE.UNAUTHORIZED, {
          code: 'UNAUTHORIZED',
          message: 'Send {"type":"auth","token":"<access token>"} first',
        });
      }
    }, deps.authTimeoutMs);
    timeout.unref();

    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('close', () => {
      clearTimeout(timeout);
      hub.remove(connection);
    });
    socket.on('error', (error) => deps.logger.debug({ err: error }, 'live socket error'));
    socket.on('message', (raw, isBinary) => {
      let request: ClientMessage;
      try {
        if (isBinary) throw new Error('binary');
        request = JSON.parse(raw.toString()) as ClientMessage;
        if (request === null || typeof request !== 'object') throw new Error('not an object');
      } catch {
        if (state !== 'ready') {
          return refuse(connection, CLOSE.UNAUTHORIZED, {
            code: 'INVALID_JSON',
            message: 'Messages are JSON objects; send {"type":"auth","token":"<access token>"} first',
          });
        }
        return hub.write(connection, message('error', { code: 'INVALID_JSON', message: 'Messages are JSON objects' }));
      }
      const fail = (error: unknown) => {
        deps.logger.error({ err: error }, 'live message failed');
        refuse(connection, CLOSE.GOING_AWAY, { code: 'INTERNAL_ERROR', message: 'Something went wrong; reconnect' });
      };
      if (state === 'new') {
        if (request.type !== 'auth') {
          return refuse(connection, CLOSE.UNAUTHORIZED, {
            code: 'UNAUTHORIZED',
            message: 'Send {"type":"auth","token":"<access token>"} first',
          });
        }
        state = 'authenticating';
        start(connection, request).then(() => {
          if (connection.userId && socket.readyState === socket.OPEN) state = 'ready';
        }, fail);
        return;
      }
      if (state === 'authenticating') return;
      if (request.type === 'auth') return void renew(connection, request.token).catch(fail);
      if (request.type === 'ping') return hub.write(connection, message('pong', {}));
      hub.write(
        connection,
        message('error', { code: 'VALIDATION_ERROR', message: 'Unknown message type; clients send auth or ping' }),
      );
    });
  };
}
