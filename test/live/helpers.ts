import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import WebSocket, { type ClientOptions } from 'ws';

/** A server message on /api/v1/live. */
export interface LiveMessage {
  type: string;
  id: string;
  at: string;
  data: Record<string, unknown>;
}

export interface Closed {
  code: number;
  reason: string;
  /** Date.now() when the client saw the close. */
  at: number;
}

export interface LiveClient {
  socket: WebSocket;
  /** Every message received so far, in order. */
  messages: LiveMessage[];
  /** Settles when the socket has closed (the code is 1006 when the connection was cut). */
  closed: Promise<Closed>;
  isOpen(): boolean;
  send(message: unknown): void;
  /** Sends the auth message and waits for `ready` (or the `error` that refuses it). */
  auth(token: string, lastEventId?: string): Promise<LiveMessage>;
  /** The first message received at or after `from` (an index into `messages`) that matches. */
  waitFor(
    match: (message: LiveMessage) => boolean,
    options?: { from?: number; timeoutMs?: number },
  ): Promise<LiveMessage>;
  /** Waits for the close, failing after `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<Closed>;
  /** A `ping` message answered by `pong`: the server still reads and writes this socket. */
  roundTrip(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it answers something truthy; fails after `timeoutMs`. */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 3000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Rejects after `ms` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts the app on 127.0.0.1 (a free port) once; answers its live URL. */
export async function liveUrl(app: FastifyInstance): Promise<string> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `ws://127.0.0.1:${port}/api/v1/live`;
}

/**
 * Real `ws` clients of one test file: `open` connects one, `closeAll` (in afterEach) cuts any
 * still open so no test leaves a socket behind for the next.
 */
export function liveClients() {
  const opened = new Set<WebSocket>();

  async function open(url: string, options: ClientOptions = {}): Promise<LiveClient> {
    const socket = new WebSocket(url, options);
    opened.add(socket);
    const messages: LiveMessage[] = [];
    socket.on('message', (raw) => messages.push(JSON.parse(raw.toString()) as LiveMessage));
    const closed = new Promise<Closed>((resolve) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
    });
    // A cut connection also reports an error; the close that follows is what tests look at.
    socket.on('error', () => undefined);
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('unexpected-response', (_request, response) =>
          reject(new Error(`upgrade refused: ${response.statusCode}`)),
        );
      }),
      3000,
      'the socket to open',
    );

    const waitFor: LiveClient['waitFor'] = async (match, { from = 0, timeoutMs = 3000 } = {}) =>
      until(() => messages.slice(from).find(match), 'a matching live message', timeoutMs);

    return {
      socket,
      messages,
      closed,
      isOpen: () => socket.readyState === WebSocket.OPEN,
      send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
      async auth(token, lastEventId) {
        const from = messages.length;
        socket.send(JSON.stringify({ type: 'auth', token, ...(lastEventId ? { last_event_id: lastEventId } : {}) }));
        return waitFor((message) => message.type === 'ready' || message.type === 'error', { from });
      },
      waitFor,
      waitClosed: (timeoutMs = 3000) => within(closed, timeoutMs, 'the socket to close'),
      async roundTrip() {
        const from = messages.length;
        socket.send(JSON.stringify({ type: 'ping' }));
        await waitFor((message) => message.type === 'pong', { from });
      },
    };
  }

  /** A client that has authenticated: its `ready` message is `messages[0]`. */
  async function ready(url: string, token: string, options: ClientOptions = {}): Promise<LiveClient> {
    const client = await open(url, options);
    const answer = await client.auth(token);
    if (answer.type !== 'ready') throw new Error(`live auth refused: ${JSON.stringify(answer.data)}`);
    return client;
  }

  return {
    open,
    ready,
    closeAll() {
      for (const socket of opened) socket.terminate();
      opened.clear();
    },
  };
}

/** The raw access token of `Authorization: Bearer …` headers. */
export const tokenOf = (person: { headers: { authorization: string } }): string =>
  person.headers.authorization.slice('Bearer '.length);

/** Signs in again over HTTP: a new session and its access token. */
export async function signIn(app: FastifyInstance, person: { email: string; password: string }): Promise<string> {
  const login = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: person.email, password: person.password },
  });
  if (login.statusCode !== 200) throw new Error(`login: ${login.statusCode} ${login.body}`);
  return login.json().data.access_token as string;
}

/** The `live_connections` gauge of this app: authenticated sockets its hub holds. */
export async function liveConnections(app: FastifyInstance): Promise<number> {
  return (await app.platform.metrics.liveConnections.get()).values[0]?.value ?? 0;
}

/** The `live_messages_total` counter of one outcome (sent, dropped_slow, closed_<code>). */
export async function liveMessagesCounted(app: FastifyInstance, outcome: string): Promise<number> {
  const metric = await app.platform.metrics.liveMessages.get();
  return metric.values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

/** Publishes a live message as a module does after its change commits. */
export const publishLive = (
  app: FastifyInstance,
  to: string[],
  data: Record<string, unknown>,
  type: 'notification.created' | 'chat.message' = 'notification.created',
) => app.platform.events.publish('live.message', { to, type, data });
