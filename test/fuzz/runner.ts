import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Accounts } from './accounts.js';
import type { Answer, AnswerChecker } from './checks.js';
import type { Example, FailureLog } from './report.js';
import { type Expectation, type FuzzRequest, urlOf } from './requests.js';

/** A request slower than this is a hang; the run stops, as the database may be wedged. */
export const HANG_MS = 10_000;

// Codes after which a role account's token is stale; it is signed in again and the request resent.
const STALE_TOKEN_CODES = new Set(['SESSION_REVOKED', 'TOKEN_INVALID', 'UNAUTHORIZED']);

export interface RunStats {
  requests: number;
  resends: number;
  /** Requests the inject client refused to build (e.g. a header value Node will not send). */
  unsendable: number;
  statuses: Map<number, number>;
  roles: Map<string, number>;
  operations: Set<string>;
}

export interface Runner {
  /** Sends one generated request (twice for an ETag replay) and checks every answer. */
  execute(request: FuzzRequest): Promise<'ok' | 'hang'>;
  stats: RunStats;
  /** Each operation's last `meta.next_cursor`. */
  realCursors: Map<string, string>;
}

const describeLogged = (error: NonNullable<Answer['loggedError']>) =>
  `${error.code ? `[${error.code}] ` : ''}${error.message}${error.where ? ` at ${error.where}` : ''}`;

/** The first stack frame in our own code (the first frame is often inside the database driver). */
function whereThrown(stack: string): string | undefined {
  const frames = [...stack.matchAll(/\n\s+at (.+)/g)].map((match) => match[1] ?? '');
  return frames.find((frame) => frame.includes('/src/')) ?? frames[0];
}

const increment = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

const headerText = (value: string | string[] | number | undefined) =>
  Array.isArray(value) ? value[0] : value === undefined ? undefined : String(value);

function bodyText(request: FuzzRequest): { payload?: string; contentType?: string } {
  switch (request.body.kind) {
    case 'none':
      return {};
    case 'json':
      // JSON.stringify writes a lone surrogate as the escape `\ud800`, as a hostile client would.
      return { payload: JSON.stringify(request.body.value), contentType: 'application/json' };
    case 'raw':
      return { payload: request.body.payload, contentType: request.body.contentType };
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const field = (value: unknown, key: string): unknown =>
  value !== null && typeof value === 'object' && key in value ? (value as Record<string, unknown>)[key] : undefined;

export function createRunner(deps: {
  app: FastifyInstance;
  accounts: Accounts;
  check: AnswerChecker;
  failures: FailureLog;
  /** The server's error log lines (parsed), drained after every request. */
  logLines: Record<string, unknown>[];
}): Runner {
  const { app, accounts, check, failures, logLines } = deps;
  const stats: RunStats = {
    requests: 0,
    resends: 0,
    unsendable: 0,
    statuses: new Map(),
    roles: new Map(),
    operations: new Set(),
  };
  const realCursors = new Map<string, string>();

  async function send(options: InjectOptions): Promise<LightMyRequestResponse | 'hang' | Error> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), HANG_MS);
    });
    try {
      return await Promise.race([app.inject(options), hang]);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  /** The error the server logged for this request: its message, and where it was thrown. */
  function loggedErrorFor(correlationId: string | undefined): Answer['loggedError'] {
    const line = logLines.find((candidate) => candidate.correlation_id === correlationId && candidate.err);
    logLines.length = 0;
    const error = field(line, 'err');
    if (!error) return undefined;
    const code = field(error, 'code');
    return {
      code: typeof code === 'string' ? code : undefined,
      message: String(field(error, 'message') ?? ''),
      where: whereThrown(String(field(error, 'stack') ?? '')),
    };
  }

  function optionsFor(request: FuzzRequest, extraHeaders: Record<string, string> = {}): InjectOptions {
    const { payload, contentType } = bodyText(request);
    const headers: Record<string, string> = { ...request.headers, ...extraHeaders };
    if (contentType) headers['content-type'] = contentType;
    if (request.role !== 'anonymous') headers.authorization = `Bearer ${accounts.token(request.role)}`;
    return {
      method: request.operation.method,
      url: urlOf(request),
      headers,
      ...(payload !== undefined ? { payload } : {}),
    };
  }

  function exampleOf(request: FuzzRequest, options: InjectOptions, answer?: Answer): Example {
    const { authorization: _token, ...headers } = (options.headers ?? {}) as Record<string, string>;
    const correlationId = answer ? headerText(answer.headers['x-correlation-id']) : undefined;
    return {
      method: request.operation.method,
      url: String(options.url),
      role: request.role,
      headers,
      body: typeof options.payload === 'string' ? options.payload : undefined,
      mutation: request.mutation,
      status: answer?.status,
      answer: answer?.body,
      correlationId,
      loggedError: answer?.loggedError && describeLogged(answer.loggedError),
    };
  }

  /** One request on the wire, resent once if a role account's token had gone stale. */
  async function deliver(request: FuzzRequest, extraHeaders?: Record<string, string>) {
    let options = optionsFor(request, extraHeaders);
    let response = await send(options);
    const role = request.role;
    if (
      typeof response === 'object' &&
      !(response instanceof Error) &&
      response.statusCode === 401 &&
      (role === 'user' || role === 'provider' || role === 'admin') &&
      STALE_TOKEN_CODES.has(String(field(parse(response.body), 'code')))
    ) {
      await accounts.renew(role);
      stats.resends += 1;
      options = optionsFor(request, extraHeaders);
      response = await send(options);
    }
    return { options, response };
  }

  /** Counts, checks and records one answer; undefined when the request never got one. */
  function settle(
    request: FuzzRequest,
    options: InjectOptions,
    response: LightMyRequestResponse | 'hang' | Error,
    expectation: Expectation | undefined,
  ): Answer | 'hang' | undefined {
    const operation = request.operation;
    if (response === 'hang') {
      failures.record(
        operation.key,
        'no answer',
        { reason: 'hang', detail: `no answer within ${HANG_MS / 1000} s` },
        exampleOf(request, options),
      );
      return 'hang';
    }
    if (response instanceof Error) {
      stats.unsendable += 1;
      return undefined;
    }
    stats.requests += 1;
    increment(stats.statuses, response.statusCode);
    increment(stats.roles, request.role);
    stats.operations.add(operation.key);
    const answer: Answer = { status: response.statusCode, headers: response.headers, body: response.body };
    if (answer.status >= 500) answer.loggedError = loggedErrorFor(headerText(response.headers['x-correlation-id']));
    else logLines.length = 0;
    for (const finding of check(operation, answer, expectation)) {
      failures.record(operation.key, answer.status, finding, exampleOf(request, options, answer));
    }
    const cursor = field(field(parse(answer.body), 'meta'), 'next_cursor');
    if (answer.status === 200 && typeof cursor === 'string') realCursors.set(operation.key, cursor);
    return answer;
  }

  return {
    stats,
    realCursors,
    async execute(request) {
      if (request.role === 'throwaway') await accounts.throwaway();
      const first = await deliver(request);
      const answer = settle(request, first.options, first.response, request.expect);
      if (answer === 'hang') return 'hang';
      const etag = answer && headerText(answer.headers.etag);
      if (!request.replayEtag || answer?.status !== 200 || !etag) return 'ok';
      const replay = await deliver(request, { 'if-none-match': etag });
      const changed =
        typeof replay.response === 'object' &&
        !(replay.response instanceof Error) &&
        headerText(replay.response.headers.etag) !== etag;
      // A body that changed in between (a clock, a counter) rightly answers 200 with a new tag.
      const expectation: Expectation | undefined = changed
        ? undefined
        : { status: 304, why: 'If-None-Match named the current ETag' };
      return settle(request, replay.options, replay.response, expectation) === 'hang' ? 'hang' : 'ok';
    },
  };
}
