import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Keys whose values never reach a log line, at any depth.
const SECRET_KEY =
  /^(authorization|cookie|set-cookie|password|new_password|current_password|passwd|secret|token|access_token|refresh_token|id_token|api_key|apikey|x-api-key|email|phone|phone_number)$/i;
const EMAIL_VALUE = /[^\s@"]+@[^\s@"]+\.[a-z]{2,}/gi;
const REDACTED = '[redacted]';

/** True when `value` holds a secret key or an '@' anywhere: only then is it copied. */
function needsRedaction(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.includes('@');
  if (value === null || typeof value !== 'object' || depth > 8 || value instanceof Error) return false;
  if (Array.isArray(value)) return value.some((item) => needsRedaction(item, depth + 1));
  for (const key in value) {
    if (SECRET_KEY.test(key) || needsRedaction((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/**
 * Secret keys replaced and email addresses inside strings masked, at any depth. Clean values
 * (the common case: the per-request line) are returned as they are, without a copy.
 */
export function redact(value: unknown): unknown {
  return needsRedaction(value, 0) ? redactCopy(value, 0) : value;
}

function redactCopy(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.includes('@') ? value.replace(EMAIL_VALUE, REDACTED) : value;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redactCopy(item, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redactCopy(inner, depth + 1);
  }
  return out;
}

type LogArgs = Parameters<Logger['info']>;

/**
 * A child logger made only when something logs through it. Fastify gives every request its
 * own child (with the correlation id); creating a pino child costs about a quarter of bare
 * Fastify's throughput here, and most requests never log through theirs (the per-request line
 * is written by the root logger with the id in it). One small object per request instead.
 */
class LazyChildLogger {
  #child: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}
  private real(): Logger {
    this.#child ??= this.parent.child(this.bindings);
    return this.#child;
  }
  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }
  isLevelEnabled(level: string): boolean {
    return this.parent.isLevelEnabled(level);
  }
  child(bindings: Record<string, unknown>, options?: Parameters<Logger['child']>[1]): Logger {
    return this.real().child(bindings, options) as unknown as Logger;
  }
  fatal(...args: LogArgs) {
    this.real().fatal(...args);
  }
  error(...args: LogArgs) {
    this.real().error(...args);
  }
  warn(...args: LogArgs) {
    this.real().warn(...args);
  }
  info(...args: LogArgs) {
    this.real().info(...args);
  }
  debug(...args: LogArgs) {
    this.real().debug(...args);
  }
  trace(...args: LogArgs) {
    this.real().trace(...args);
  }
  silent(...args: LogArgs) {
    this.real().silent(...args);
  }
}

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChildLogger(parent, bindings) as unknown as Logger;
}

/** Lines are gathered up to this many characters before one write; a timer flushes what waits longer. */
const BATCH_CHARS = 16 * 1024;
const FLUSH_INTERVAL_MS = 1000;

/** Where a batched destination's chunks go: pino's stdout stream (sonic-boom), which writes them asynchronously. */
export interface ChunkSink {
  write(chunk: string): unknown;
  flush(callback?: (error?: Error) => void): void;
  flushSync(): void;
}

/**
 * Log lines joined in one string and handed to the sink in chunks of at least `batchChars`
 * characters (16 KiB: one write per ~70 request lines), by `flush()` (a timer calls it every
 * second) and by `flushSync()` (at exit). pino's lines and the request lines both come through
 * here, in the order written.
 *
 * The lines wait here rather than in sonic-boom's own buffer: sonic-boom measures the UTF-8 length
 * of its whole pending buffer on every line it takes (flattening it each time), about 3 µs a line,
 * more than the rest of a small request's log line; a chunk at a time costs about 0.4 µs a line.
 */
export class BatchedDestination {
  #pending = '';
  readonly #sink: ChunkSink;
  readonly #batchChars: number;

  constructor(sink: ChunkSink, batchChars = BATCH_CHARS) {
    this.#sink = sink;
    this.#batchChars = batchChars;
  }

  write(line: string): boolean {
    this.#pending += line;
    if (this.#pending.length >= this.#batchChars) this.#handOver();
    return true;
  }

  #handOver(): void {
    if (this.#pending.length === 0) return;
    const chunk = this.#pending;
    this.#pending = '';
    this.#sink.write(chunk);
  }

  /** pino's `logger.flush()`, and the timer's. */
  flush(callback?: (error?: Error) => void): void {
    this.#handOver();
    this.#sink.flush(callback);
  }

  /** At exit: everything still waiting, written before the process ends. */
  flushSync(): void {
    this.#handOver();
    this.#sink.flushSync();
  }
}

// Every default destination, flushed synchronously once when the process exits (one listener for
// all of them: a process that builds many loggers, like the test suite, adds no listener per logger).
const stdoutDestinations = new Set<BatchedDestination>();
let flushAtExit = false;

/** The default destination: stdout, batched, flushed at least once a second and when the process exits. */
function bufferedStdout(): DestinationStream {
  const destination = new BatchedDestination(pino.destination({ dest: 1, sync: false }));
  stdoutDestinations.add(destination);
  if (!flushAtExit) {
    flushAtExit = true;
    process.on('exit', () => {
      for (const each of stdoutDestinations) {
        // flushSync() throws after the stream ended: nothing is left to write then.
        try {
          each.flushSync();
        } catch {}
      }
    });
  }
  const timer = setInterval(() => {
    // flush() throws while the stream is still opening or after it ended; the next tick retries.
    try {
      destination.flush();
    } catch {}
  }, FLUSH_INTERVAL_MS);
  timer.unref();
  return destination;
}

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      // Epoch milliseconds ("time"): the cheapest timestamp; log shippers convert it.
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redact(object) as Record<string, unknown>,
      },
    },
    options.destination ?? bufferedStdout(),
  );
}

/** Escaped method and route texts kept by a request-line writer (the routes of an app are a few hundred). */
const MAX_QUOTED = 4096;

export interface RequestLine {
  correlation_id: string;
  method: string;
  route: string;
  path: string;
  status: number;
  duration_ms: number;
}

/**
 * The per-request line, written straight to the logger's destination in the exact shape pino
 * gives it (level label, epoch time, fields, msg). pino's generic path (per-key stringify plus
 * the redaction walk) costs ~3 µs a line, the largest single cost of a small request here; this
 * one costs a template string. Only the path is caller-controlled: it is JSON-escaped, and a
 * path holding an '@' goes through pino and its redaction instead.
 */
export function createRequestLineWriter(logger: Logger): (line: RequestLine) => void {
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  // Methods and route patterns are few and repeat on every line: each is escaped once.
  const quoted = new Map<string, string>();
  const quote = (text: string) => {
    let json = quoted.get(text);
    if (json === undefined) {
      json = JSON.stringify(text);
      if (quoted.size < MAX_QUOTED) quoted.set(text, json);
    }
    return json;
  };
  return (line) => {
    if (!logger.isLevelEnabled('info')) return;
    if (stream === undefined || line.path.includes('@')) {
      logger.info(line, 'request finished');
      return;
    }
    stream.write(
      `{"level":"info","time":${Date.now()},"correlation_id":${JSON.stringify(line.correlation_id)},"method":${quote(line.method)},"route":${quote(line.route)},"path":${JSON.stringify(line.path)},"status":${line.status},"duration_ms":${line.duration_ms},"msg":"request finished"}\n`,
    );
  };
}
