import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

interface Operation {
  operationId?: string;
  tags?: string[];
  responses?: Record<string, unknown>;
}

describe('API docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('serves OpenAPI 3 where every operation has an operationId, tags and responses per status', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toMatch(/^3\./);
    const operations = Object.entries(spec.paths as Record<string, Record<string, Operation>>).flatMap(
      ([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(4);
    const ids = new Set<string>();
    for (const { path, method, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, where).toMatch(/^[a-z]+\.[a-z][A-Za-z]+$/);
      expect(ids.has(op.operationId as string), `${where} duplicate operationId`).toBe(false);
      ids.add(op.operationId as string);
      expect(op.tags?.length, where).toBeGreaterThan(0);
      const statuses = Object.keys(op.responses ?? {});
      expect(
        statuses.some((status) => status.startsWith('2')),
        `${where} documents a success`,
      ).toBe(true);
      expect(statuses, where).toContain('429');
      expect(statuses, where).toContain('500');
    }
    expect(ids).toContain('health.getHealth');
  });

  it('serves Swagger UI at /docs with a CSP it can run under', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
    expect(res.headers['content-security-policy']).toContain("img-src 'self' data:");
  });
});
