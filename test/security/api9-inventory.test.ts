/**
 * OWASP API9:2023 Improper Inventory Management. The OpenAPI document is the inventory, and it is
 * complete and exact: every route the server answers (read from Fastify's own route table) is in
 * it unless it is one of the deliberately hidden ones named below (the docs' own pages and the
 * admin dashboard's static files), and everything in it is served; every operation has a unique
 * `<domain>.<verbNoun>` operationId, a summary, tags and a described response per status, with
 * 401/403/400/404 where its guard, parameters or id call for them; every write is under /api/v1,
 * and nothing is unversioned but health, metrics, the docs, the dashboard and the Apple Pay file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
/** `METHOD /path` of every route Fastify serves (HEAD left out: it follows GET). */
let served: Set<string>;
let documented: Map<string, Operation>;

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

/** Served but not documented, on purpose, and why. */
const HIDDEN: Record<string, string> = {
  'GET /docs': 'Swagger UI itself',
  'GET /docs/*': "Swagger UI's static files",
  'GET /docs/json': 'the document itself',
  'GET /docs/yaml': 'the document itself',
  'GET /docs/static/index.html': "Swagger UI's page",
  'GET /docs/static/swagger-initializer.js': "Swagger UI's script",
  'GET /admin': "the admin dashboard's page (it calls the documented /api/v1/admin routes)",
  'GET /admin/api.js': 'admin dashboard asset',
  'GET /admin/app.js': 'admin dashboard asset',
  'GET /admin/app.css': 'admin dashboard asset',
  'GET /admin/charts.js': 'admin dashboard asset',
  'GET /admin/manage.js': 'admin dashboard asset',
  'GET /admin/charts.css': 'admin dashboard asset',
  'GET /admin/icon.svg': 'admin dashboard asset',
};

/** Paths outside /api/v1 that may exist, and why. */
const UNVERSIONED = [
  /^\/api\/health(\/live|\/ready)?$/, // probes: load balancers and orchestrators know these paths
  /^\/metrics$/, // Prometheus' convention
  /^\/docs(\/.*)?$/, // the docs
  /^\/admin(\/[\w.-]+)?$/, // the admin dashboard's page and assets (static)
  /^\/\.well-known\/apple-developer-merchantid-domain-association$/, // Apple fetches exactly this path
];

/**
 * Fastify's route table as `METHOD /path` entries, from `printRoutes` (each line is a node of the
 * radix tree: its segment, appended to its parent's path, and the methods served there).
 */
function routeTable(tree: string): Set<string> {
  const routes = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    stack.length = depth;
    const path = `${stack[depth - 1] ?? ''}${match[2] === '*' ? '/*' : match[2]}`;
    stack[depth] = path;
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') routes.add(`${method} ${path}`);
    }
  }
  return routes;
}

beforeAll(async () => {
  t = await buildTestApp();
  served = routeTable(t.app.printRoutes({ commonPrefix: false }));
  const spec = t.app.swagger() as { paths: Record<string, Record<string, Operation>> };
  documented = new Map(
    Object.entries(spec.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(
        ([method, operation]) =>
          [`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, operation] as [string, Operation],
      ),
    ),
  );
});

afterAll(async () => {
  await t?.close();
});

describe('the route table and the document agree', () => {
  it('reads the route table (the parser sees what it should)', () => {
    expect(served.size).toBeGreaterThan(100);
    for (const route of [
      'GET /api/v1/me',
      'POST /api/v1/auth/logout-all',
      'GET /docs/*',
      'DELETE /api/v1/me/devices/:id',
    ]) {
      expect(served, route).toContain(route);
    }
  });

  it('every served route is documented, unless it is one of the hidden ones named here', () => {
    const undocumented = [...served].filter((route) => !documented.has(route) && !(route in HIDDEN));
    expect(undocumented).toEqual([]);
    // The hidden list names only routes that exist and are really not in the document.
    for (const route of Object.keys(HIDDEN)) {
      expect(served, `${route} is served`).toContain(route);
      expect(documented.has(route), `${route} is hidden`).toBe(false);
    }
  });

  it('every documented operation is served', () => {
    const ghosts = [...documented.keys()].filter((operation) => !served.has(operation));
    expect(ghosts).toEqual([]);
  });
});

describe('every documented operation is described', () => {
  it('has a unique <domain>.<verbNoun> operationId, a summary and tags', () => {
    const ids = new Map<string, string>();
    for (const [operation, doc] of documented) {
      expect.soft(doc.operationId, operation).toMatch(/^[a-z]+\.[a-z][A-Za-z]+$/);
      expect.soft(ids.get(doc.operationId as string), `${operation} reuses an operationId`).toBeUndefined();
      ids.set(doc.operationId as string, operation);
      expect.soft(doc.summary?.trim().length ?? 0, `${operation} summary`).toBeGreaterThan(10);
      expect.soft(doc.tags?.length ?? 0, `${operation} tags`).toBeGreaterThan(0);
    }
  });

  it('describes each response status, a success among them, and errors in the error envelope', () => {
    for (const [operation, doc] of documented) {
      const statuses = Object.keys(doc.responses ?? {});
      expect
        .soft(
          statuses.some((status) => /^(2\d\d|101)$/.test(status)),
          `${operation} documents a success`,
        )
        .toBe(true);
      for (const status of statuses) {
        const response = doc.responses?.[status];
        expect.soft(response?.description?.trim(), `${operation} ${status} description`).toBeTruthy();
        if (Number(status) >= 400) {
          const schema = JSON.stringify(response?.content?.['application/json']?.schema ?? {});
          // Errors are always JSON (the error handler), whatever the success's media type.
          expect
            .soft(schema, `${operation} ${status} documented as the JSON error envelope`)
            .toMatch(/ErrorResponse|"code"/);
        }
      }
    }
  });

  it('documents 401 on guarded operations, 403 where a role or permission is required, 400 with inputs, 404 with an id', () => {
    const rules = new Map(t.app.guardedRoutes.map((route) => [`${route.method} ${route.url}`, route.rule]));
    for (const [operation, doc] of documented) {
      const statuses = Object.keys(doc.responses ?? {});
      const rule = rules.get(operation);
      if (rule) {
        expect.soft(statuses, `${operation} (guarded)`).toContain('401');
        expect.soft(doc.security, `${operation} names its bearer scheme`).toEqual([{ bearerAuth: [] }]);
        if (rule.roles || rule.permission || rule.premium)
          expect.soft(statuses, `${operation} (by role)`).toContain('403');
      }
      if ((doc.parameters?.length ?? 0) > 0 || doc.requestBody) {
        expect.soft(statuses, `${operation} (has inputs)`).toContain('400');
      }
      // An id names one thing: it may not exist (or not be the caller's).
      if (/\/:id(\/|$)/.test(operation) && !operation.startsWith('GET /api/v1/providers/:id/')) {
        expect.soft(statuses, `${operation} (has an id)`).toContain('404');
      }
    }
  });
});

describe('versions', () => {
  it('every write route is under /api/v1', () => {
    const writes = [...served].filter((route) => !route.startsWith('GET '));
    expect(writes.length).toBeGreaterThan(50);
    expect(writes.filter((route) => !route.split(' ')[1]?.startsWith('/api/v1/'))).toEqual([]);
  });

  it('no route is unversioned but health, metrics, the docs, the dashboard and the Apple Pay file; no other version exists', () => {
    const paths = [...new Set([...served].map((route) => route.split(' ')[1] as string))];
    const unversioned = paths.filter((path) => !path.startsWith('/api/v1/'));
    expect(unversioned.filter((path) => !UNVERSIONED.some((allowed) => allowed.test(path)))).toEqual([]);
    expect(paths.filter((path) => /^\/api\/(?!v1\/|health)/.test(path))).toEqual([]);
    // Nothing left over from development or tests.
    expect(paths.filter((path) => /\/(test|debug|internal|dev|tmp)(\/|$)/.test(path))).toEqual([]);
  });
});
