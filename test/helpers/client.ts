import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { paths } from './api-types.js';

/**
 * A typed client over `app.inject` for tests: `api(app).as(user).post('/api/v1/bookings', { body })`
 * takes the body the route documents and answers with the data type of its success response,
 * both read from the app's own OpenAPI document (test/helpers/api-types.ts, `npm run api:types`).
 * Path parameters are given by name: `get('/api/v1/bookings/{id}', { params: { id } })`.
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Path = keyof paths;
type Operation<P extends Path, M extends Method> = NonNullable<paths[P][M]>;
/** The paths that have an operation for `M`. */
type PathsFor<M extends Method> = {
  [P in Path]: paths[P][M] extends undefined | never ? never : P;
}[Path];

type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type BodyOf<O> = O extends { requestBody?: infer R } ? Json<NonNullable<R>> : never;
type ParamsOf<O> = O extends { parameters: { path?: infer P } } ? NonNullable<P> : never;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type SuccessOf<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 202 ? Json<R[S]> : never }[keyof R]
  : never;
/** What `data` holds in the success envelope of the operation. */
type DataOf<O> = SuccessOf<O> extends { data: infer D } ? D : SuccessOf<O>;

interface RequestOptions<O> {
  params?: ParamsOf<O>;
  query?: QueryOf<O>;
  body?: BodyOf<O>;
  headers?: Record<string, string>;
}

export interface ErrorBody {
  success: false;
  code: string;
  message: string;
  correlation_id: string;
  details?: { field: string; message: string }[];
}

export interface ApiResponse<T> {
  status: number;
  headers: LightMyRequestResponse['headers'];
  /** The parsed body: the success envelope or the error envelope. */
  body: { success: true; data: T; meta?: { next_cursor?: string | null } } | ErrorBody;
  /** The success data; throws (with the status and body) when the answer is not a success. */
  data: T;
  /** The error envelope; throws when the answer is a success. */
  error: ErrorBody;
  raw: LightMyRequestResponse;
}

function fill(path: string, params: Record<string, unknown> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`api client: ${path} needs the path parameter "${name}"`);
    return encodeURIComponent(String(value));
  });
}

function wrap<T>(raw: LightMyRequestResponse): ApiResponse<T> {
  const body = raw.body ? raw.json() : undefined;
  return {
    status: raw.statusCode,
    headers: raw.headers,
    body,
    raw,
    get data(): T {
      if (!body?.success) throw new Error(`expected a success, got ${raw.statusCode}: ${raw.body}`);
      return body.data as T;
    },
    get error(): ErrorBody {
      if (body?.success !== false) throw new Error(`expected an error, got ${raw.statusCode}: ${raw.body}`);
      return body as ErrorBody;
    },
  };
}

/** Whoever calls: anyone with `headers` (a TestUser, a demo account), or nobody. */
export interface Caller {
  headers: Record<string, string>;
}

export function api(app: FastifyInstance) {
  const as = (caller?: Caller) => {
    const send =
      <M extends Method>(method: M) =>
      async <P extends PathsFor<M>>(
        path: P,
        options: RequestOptions<Operation<P, M>> = {},
      ): Promise<ApiResponse<DataOf<Operation<P, M>>>> => {
        const query = options.query as Record<string, unknown> | undefined;
        const search = query
          ? new URLSearchParams(
              Object.entries(query)
                .filter(([, value]) => value !== undefined)
                .map(([key, value]): [string, string] => [key, String(value)]),
            ).toString()
          : '';
        const raw = await app.inject({
          method: method.toUpperCase() as 'GET',
          url: fill(path, options.params as Record<string, unknown> | undefined) + (search ? `?${search}` : ''),
          headers: { ...caller?.headers, ...options.headers },
          ...(options.body === undefined ? {} : { payload: options.body as object }),
        });
        return wrap(raw);
      };
    return {
      get: send('get'),
      post: send('post'),
      put: send('put'),
      patch: send('patch'),
      delete: send('delete'),
    };
  };
  return { as, anonymous: as() };
}
