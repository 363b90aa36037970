/**
 * What the fault scenarios share: a deployment whose instances reach PostgreSQL and Redis through
 * fault-injection proxies, the request mix of the steady load, and the accounting of its results
 * (what failed, what was acknowledged, whether every acknowledged write is in the database).
 */
import { ADMIN_DATABASE_URL, createDeployment, type Deployment, REDIS_URL } from '../support/instance.js';
import type { LoadRequest, LoadResult } from './load.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface FaultDeployment {
  deployment: Deployment;
  postgres: TcpProxy;
  redis: TcpProxy;
  /** DATABASE_URL and REDIS_URL through the proxies, for `deployment.start(name, { env })`. */
  proxiedEnv: Record<string, string>;
  close(): Promise<void>;
}

const hostPort = (url: string, defaultPort: number) => {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : defaultPort };
};

/** A fresh deployment (migrated directly) and a proxy in front of each of its services. */
export async function createFaultDeployment(env: Record<string, string> = {}): Promise<FaultDeployment> {
  const deployment = await createDeployment({ env });
  const postgres = await startTcpProxy(hostPort(ADMIN_DATABASE_URL, 5432));
  const redis = await startTcpProxy(hostPort(REDIS_URL, 6379));
  const databaseUrl = new URL(deployment.databaseUrl);
  databaseUrl.host = `127.0.0.1:${postgres.port}`;
  const redisUrl = new URL(REDIS_URL);
  redisUrl.host = `127.0.0.1:${redis.port}`;
  return {
    deployment,
    postgres,
    redis,
    proxiedEnv: { DATABASE_URL: databaseUrl.toString(), REDIS_URL: redisUrl.toString() },
    async close() {
      // Instances first: they must not see the proxies vanish and log a storm on the way out.
      await deployment.close().finally(() => Promise.all([postgres.close(), redis.close()]));
    },
  };
}

/**
 * The steady mix, one request in three a write: a signed-in read (the session check), an
 * anonymous read of the catalogue, and a support request (a row with an id, counted afterwards).
 */
export function mixedRequest(token: string, client: number, n: number): LoadRequest {
  const auth = { authorization: `Bearer ${token}` };
  switch (n % 3) {
    case 0:
      return {
        method: 'POST',
        path: '/api/v1/me/support-requests',
        headers: auth,
        body: { subject: 'Load', message: `client ${client} request ${n}` },
        write: true,
      };
    case 1:
      return { method: 'GET', path: '/api/v1/me', headers: auth };
    default:
      return { method: 'GET', path: '/api/v1/categories' };
  }
}

export const isSuccess = (result: LoadResult): boolean =>
  result.error === undefined && result.status !== undefined && result.status < 300;

/** The API's error code of an answer, if it has one. */
export const codeOf = (result: LoadResult): string | undefined => (result.body as { code?: string } | undefined)?.code;

/** "201 ×120, 503 SERVICE_UNAVAILABLE ×14, ECONNREFUSED ×3": how a set of requests ended. */
export function outcomes(results: LoadResult[]): string {
  const counts = new Map<string, number>();
  for (const result of results) {
    const key = result.error ?? [result.status, codeOf(result)].filter(Boolean).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ×${n}`)
    .join(', ');
}

/** The ids of the writes the server acknowledged (2xx with `data.id`). */
export function acknowledgedIds(results: LoadResult[]): string[] {
  return results
    .filter((result) => result.write && isSuccess(result))
    .map((result) => (result.body as { data?: { id?: string } }).data?.id)
    .filter((id): id is string => typeof id === 'string');
}

/** How many of `ids` are rows of `table`, asked of PostgreSQL directly (not through the app). */
export async function rowsFound(deployment: Deployment, table: string, ids: string[]): Promise<number> {
  const [row] = await deployment.query<{ found: number }>(
    `select count(*)::int as found from ${table} where id = any($1)`,
    [ids],
  );
  return row?.found ?? 0;
}
