import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

interface Operation {
  operationId?: string;
  tags?: string[];
  responses?: Record<string, unknown>;
}

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

interface OperationDoc {
  parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { description?: string; content?: unknown }>;
}

describe('API docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('serves OpenAPI 3.1 where every operation has an operationId, tags and responses per status', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toBe('3.1.0');
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
        // A WebSocket's success is 101 Switching Protocols.
        statuses.some((status) => status.startsWith('2') || status === '101'),
        `${where} documents a success`,
      ).toBe(true);
      expect(statuses, where).toContain('429');
      expect(statuses, where).toContain('500');
    }
    expect(ids).toContain('health.getHealth');
  });

  it('bounds every input a client sends, as a generated client needs to know them', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const schemas = spec.components.schemas as Record<string, JsonSchema>;
    const resolve = (schema: JsonSchema): JsonSchema =>
      schema.$ref ? resolve(schemas[schema.$ref.split('/').pop() as string] as JsonSchema) : schema;
    const problems: string[] = [];
    // An anchored pattern without open-ended repetition bounds the length by itself.
    const boundedPattern = (pattern?: string) =>
      pattern?.startsWith('^') === true && pattern.endsWith('$') && !/[+*]|\{\d+,\}/.test(pattern.replace(/\\./g, ''));
    const walk = (raw: JsonSchema, where: string) => {
      const schema = resolve(raw);
      for (const branch of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])])
        walk(branch, where);
      const types = [schema.type].flat();
      if (types.includes('integer') || types.includes('number')) {
        if (schema.minimum === undefined || schema.maximum === undefined)
          problems.push(`${where}: number without bounds`);
      }
      if (
        types.includes('string') &&
        schema.enum === undefined &&
        schema.const === undefined &&
        schema.maxLength === undefined &&
        !['uuid', 'date', 'date-time'].includes(schema.format as string) &&
        !boundedPattern(schema.pattern)
      ) {
        problems.push(`${where}: string without maxLength`);
      }
      if (types.includes('array') && schema.maxItems === undefined) {
        const items = resolve(schema.items ?? {});
        const enumItems =
          items.enum !== undefined ||
          (items.anyOf ?? []).every((item) => item.const !== undefined || item.enum !== undefined);
        if (!(schema.uniqueItems && enumItems)) problems.push(`${where}: array without maxItems`);
      }
      for (const [name, property] of Object.entries(schema.properties ?? {})) walk(property, `${where}.${name}`);
      if (schema.items) walk(schema.items, `${where}[]`);
    };
    for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, OperationDoc>>)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        for (const parameter of op.parameters ?? []) {
          walk(parameter.schema, `${where} ${parameter.in}.${parameter.name}`);
          if (parameter.required && parameter.schema.default !== undefined) {
            problems.push(`${where} ${parameter.name}: has a default but is marked required`);
          }
        }
        const body = op.requestBody?.content?.['application/json']?.schema;
        if (body) walk(body, `${where} body`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the statuses every operation of its kind can answer, each error by its codes', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, OperationDoc>>)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        const responses = op.responses ?? {};
        if (['post', 'put', 'patch', 'delete'].includes(method)) {
          for (const status of ['400', '413', '415']) expect(Object.keys(responses), where).toContain(status);
        }
        if (op.parameters?.length || op.requestBody) expect(Object.keys(responses), where).toContain('400');
        for (const [status, response] of Object.entries(responses)) {
          expect(response.description, `${where} ${status}`).not.toBe('Default Response');
          const schema = (response.content as Record<string, { schema?: JsonSchema }> | undefined)?.['application/json']
            ?.schema;
          // An error envelope narrows `code` to the route's codes, and its description names them.
          const code = schema?.allOf?.find((part) => part.properties?.code)?.properties?.code;
          if (schema?.allOf?.some((part) => part.$ref?.endsWith('/ErrorResponse'))) {
            expect(response.description, `${where} ${status}`).toMatch(/^Error: [A-Z_]+/);
            expect(code?.enum?.length, `${where} ${status}`).toBeGreaterThan(0);
            for (const each of code?.enum ?? []) expect(response.description, `${where} ${status}`).toContain(each);
          }
        }
      }
    }
    const content = spec.paths['/api/v1/content'].get as OperationDoc;
    expect(content.responses?.['304']?.content).toBeUndefined();
    expect(content.parameters?.find((parameter) => parameter.name === 'limit')).toMatchObject({ required: false });
  });

  it('serves Swagger UI at /docs with a CSP it can run under', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
    expect(res.headers['content-security-policy']).toContain("img-src 'self' data:");
  });
});
