/**
 * A TCP proxy on 127.0.0.1 in front of a real server (PostgreSQL, Redis, a gateway), through
 * which the fault tests break the network the way outages do:
 *
 * - `pass()`: forwards both ways (the normal state);
 * - `refuse()`: stops listening, so a new connection gets ECONNREFUSED, as when the server is
 *   stopped; open connections are left alone (`cut()` ends them);
 * - `cut()`: resets every open connection on both sides (a crash, a restart, a failover);
 * - `blackhole()`: accepts new connections and keeps them, but forwards nothing either way on
 *   any connection (a dropped route, a hung server): nothing fails, everything waits; when the
 *   proxy passes again the held bytes flow on, none lost, as after a healed partition.
 *
 * The port stays the same across `refuse()` and `pass()`, so the app's URL keeps working once the
 * proxy passes again.
 */
import { createServer, type Server, Socket } from 'node:net';

export type ProxyMode = 'pass' | 'refused' | 'blackhole';

export interface TcpProxy {
  readonly port: number;
  readonly mode: ProxyMode;
  pass(): Promise<void>;
  refuse(): Promise<void>;
  cut(): void;
  blackhole(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Whether the upstream connection was opened (a connection accepted while black-holing waits). */
  connected: boolean;
}

/** Resets a socket (RST, not FIN): the peer sees ECONNRESET, as from a crashed server. */
function reset(socket: Socket) {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** A proxy to `target` (host and port), passing; `port` 0 picks a free one. */
export async function startTcpProxy(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'pass';

  const connectUpstream = (pair: Pair) => {
    pair.connected = true;
    pair.upstream.connect(target.port, target.host);
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };

  // Black-holing stops reading: bytes wait in the kernel's buffers, as behind a dropped route,
  // and flow again (none lost) when the proxy passes.
  const hold = (pair: Pair) => {
    pair.client.pause();
    pair.upstream.pause();
  };
  const release = (pair: Pair) => {
    if (!pair.connected) connectUpstream(pair);
    pair.client.resume();
    pair.upstream.resume();
  };

  const onConnection = (client: Socket) => {
    const upstream = new Socket();
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, connected: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      reset(client);
      reset(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    // A clean close on one side closes the other the same way (pipe ends it with a FIN).
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => {
      pairs.delete(pair);
      client.destroy();
    });
    if (mode === 'blackhole') hold(pair);
    else connectUpstream(pair);
  };

  let server = createServer(onConnection);
  const boundPort = await listen(server, port);

  // close() stops listening at once; its callback would wait for every open connection to end.
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (server.listening) server.close();
      setImmediate(resolve);
    });

  const startListening = async () => {
    if (server.listening) return;
    server = createServer(onConnection);
    await listen(server, boundPort);
  };

  return {
    port: boundPort,
    get mode() {
      return mode;
    },
    async pass() {
      mode = 'pass';
      for (const pair of pairs) release(pair);
      await startListening();
    },
    async refuse() {
      mode = 'refused';
      await stopListening();
    },
    cut() {
      for (const pair of pairs) {
        reset(pair.client);
        reset(pair.upstream);
      }
      pairs.clear();
    },
    async blackhole() {
      mode = 'blackhole';
      for (const pair of pairs) hold(pair);
      await startListening();
    },
    async close() {
      mode = 'refused';
      const stopped = stopListening();
      for (const pair of pairs) {
        reset(pair.client);
        reset(pair.upstream);
      }
      pairs.clear();
      await stopped;
    },
  };
}
