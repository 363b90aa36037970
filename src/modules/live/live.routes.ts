import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import { AppError } from '../../errors.js';
import { errorResponses } from '../../shared/http-schemas.js';

const PROTOCOL = [
  'A WebSocket (connect with `Upgrade: websocket`; a plain GET answers 426). Send `{"type":"auth","token":"<access token>"}` as the first message within 10 s (the token never goes in the URL: URLs are logged);',
  'the server answers `{"type":"ready","id","at","data":{"user_id","expires_at","heartbeat_ms","resumed","gap"}}`.',
  'Add `"last_event_id"` to the auth message to get what you missed in the last 24 hours first (`gap: true`: some of it is gone, reload what you show).',
  'Every server message is `{type, id, at, data}`; types: booking.created, booking.confirmed, booking.cancelled, booking.rescheduled, booking.completed, payment.updated, chat.message, chat.read, notification.created, review.posted (plus ready, renewed, pong, error).',
  'Send a fresh `auth` message before `expires_at` to keep the socket (answered `renewed`); `{"type":"ping"}` is answered `pong`.',
  'Close codes: 4401 not authenticated, 4403 a token for someone else, 4001 token expired, 4002 session revoked or access changed, 1006 dropped for reading too slowly, 4029 too many connections, 4000 no pong, 1001 server going away (reconnect).',
].join(' ');

export const liveRoutes: FastifyPluginAsyncTypebox<{ onSocket: (socket: WebSocket) => void }> = async (
  app,
  { onSocket },
) => {
  app.route({
    method: 'GET',
    url: '/live',
    schema: {
      operationId: 'live.connect',
      tags: ['live'],
      summary: 'Live updates over a WebSocket (bookings, payments, chat, notifications, reviews)',
      description: PROTOCOL,
      response: {
        ...errorResponses('UPGRADE_REQUIRED'),
        101: Type.Null({ description: 'Switching Protocols: the WebSocket is open; send the auth message' }),
      },
    },
    handler: async () => {
      throw new AppError('UPGRADE_REQUIRED', 'Connect with a WebSocket client (Upgrade: websocket) to this URL');
    },
    wsHandler: (socket) => onSocket(socket),
  });
};
