import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

type Json = Record<string, unknown>;
interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; schema: Json }[];
  requestBody?: { content: Record<string, { schema: Json; example?: unknown }> };
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Json }> }
  >;
}

const CLIENT = fileURLToPath(new URL('../fixtures/openapi-client/client.ts', import.meta.url));
// The client imports the committed generated types; the compiler is handed fresh ones in their place.
const COMMITTED_TYPES = fileURLToPath(new URL('../helpers/api-types.ts', import.meta.url));
// Written beside the client, so its imports resolve as they would in the client's own file.
const EXPECTATIONS = fileURLToPath(new URL('../fixtures/openapi-client/expectations.ts', import.meta.url));

/**
 * Lines that must not compile against the generated types: each `@ts-expect-error` that finds
 * no error is itself an error, so a document that loosens an enum or a required field fails.
 */
const EXPECTATIONS_SOURCE = `
import type { paths } from '../../helpers/api-types.js';
type Profile = NonNullable<NonNullable<paths['/api/v1/me/profile']['patch']>['requestBody']>['content']['application/json'];
type Conflict = NonNullable<paths['/api/v1/bookings']['post']>['responses'][409]['content']['application/json'];
type Search = NonNullable<paths['/api/v1/services/search']['get']>['parameters']['query'];
export const cleared: Profile = { gender: null, country: 'GB' };
// @ts-expect-error gender is an enum, not any string
export const wrongGender: Profile = { gender: 'unknown' };
export const code: Conflict['code'] = 'SLOT_UNAVAILABLE';
// @ts-expect-error the 409 of a booking is one of its own codes
export const wrongCode: Conflict['code'] = 'EMAIL_TAKEN';
export const noLimit: Search = { q: 'massage' };
// @ts-expect-error sort is one of its values
export const wrongSort: Search = { sort: 'cheapest' };
`;

/** Type-checks the client and the expectations with `paths` generated from `document`; the diagnostics, formatted. */
async function compileAgainst(document: Json, dir: string): Promise<string[]> {
  const generated = join(dir, 'api-types.ts');
  writeFileSync(join(dir, 'openapi.json'), JSON.stringify(document));
  writeFileSync(generated, astToString(await openapiTS(document as never, { alphabetize: true, exportType: true })));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const sources: Record<string, string> = { [EXPECTATIONS]: EXPECTATIONS_SOURCE };
  host.readFile = (file) => sources[file] ?? read(file === COMMITTED_TYPES ? generated : file);
  host.fileExists = (file) => file in sources || ts.sys.fileExists(file);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) => {
    const text = sources[file] ?? (file === COMMITTED_TYPES ? ts.sys.readFile(generated) : undefined);
    return text === undefined
      ? getSourceFile(file, language, ...rest)
      : ts.createSourceFile(file, text, language, true);
  };
  const program = ts.createProgram([CLIENT, EXPECTATIONS], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((diagnostic) => ts.formatDiagnostic(diagnostic, { ...host, getNewLine: () => '\n' }));
}

const operationsOf = (document: Json) =>
  Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      where: `${method.toUpperCase()} ${path}`,
      method,
      operation,
    })),
  );

/** Every schema object in the document, anywhere (sub-schemas included). */
function schemasIn(node: unknown, found: Json[] = []): Json[] {
  if (Array.isArray(node)) for (const item of node) schemasIn(item, found);
  else if (node !== null && typeof node === 'object') {
    found.push(node as Json);
    for (const [key, value] of Object.entries(node)) if (key !== 'enum' && key !== 'examples') schemasIn(value, found);
  }
  return found;
}

const singleValue = (schema: Json) =>
  (Array.isArray(schema.enum) && schema.enum.length === 1) || 'const' in schema || schema.type === 'null';

describe('the OpenAPI document, as a client generator reads it', () => {
  let t: TestApp;
  let document: Json;
  let operations: ReturnType<typeof operationsOf>;
  const dirs: string[] = [];
  beforeAll(async () => {
    t = await buildTestApp();
    document = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    operations = operationsOf(document);
  });
  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  it('generates types with openapi-typescript that a five-journey client compiles against', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'care-openapi-'));
    dirs.push(dir);
    expect(await compileAgainst(document, dir)).toEqual([]);
  }, 60_000);

  it('is a valid OpenAPI 3.1 document by an independent validator', async () => {
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes and tags every operation, and declares every tag it uses', () => {
    expect(operations.length).toBeGreaterThanOrEqual(138);
    // The route's own words first, then who may call it (added from its access rule).
    const own = (description = '') => !description.startsWith('Who may call:');
    const access = (description = '') => /\n\nWho may call: .+\.$/.test(description);
    const undescribed = operations.filter(
      ({ operation }) => !operation.summary || !own(operation.description) || !access(operation.description),
    );
    expect(undescribed.map(({ where }) => where)).toEqual([]);
    const declared = document.tags as { name: string; description?: string }[];
    expect(declared.filter((tag) => !tag.description)).toEqual([]);
    const used = new Set(operations.flatMap(({ operation }) => operation.tags ?? []));
    expect(used.size).toBeGreaterThan(0);
    expect(declared.map((tag) => tag.name).sort()).toEqual([...used].sort());
  });

  it('writes enums as one enum and nullables the 3.1 way, never as unions of single values', () => {
    const schemas = schemasIn(document);
    const unionsOfValues = schemas.filter((schema) =>
      (['anyOf', 'oneOf'] as const).some(
        (keyword) => Array.isArray(schema[keyword]) && (schema[keyword] as Json[]).every(singleValue),
      ),
    );
    expect(unionsOfValues).toEqual([]);
    expect(schemas.filter((schema) => 'nullable' in schema && typeof schema.nullable === 'boolean')).toEqual([]);
    const profile = (document.paths as Record<string, Record<string, Operation>>)['/api/v1/me/profile']?.patch;
    const gender = profile?.requestBody?.content['application/json']?.schema.properties as Record<string, Json>;
    expect(gender.gender).toMatchObject({
      type: ['string', 'null'],
      enum: ['female', 'male', 'non_binary', 'prefer_not_to_say', null],
    });
  });

  it('marks no parameter with a default as required (every list works without limit)', () => {
    const limits = operations.flatMap(({ operation }) =>
      (operation.parameters ?? []).filter((parameter) => parameter.name === 'limit'),
    );
    expect(limits.length).toBeGreaterThanOrEqual(14);
    expect(limits.filter((parameter) => parameter.required)).toEqual([]);
    const defaulted = operations.flatMap(({ where, operation }) =>
      (operation.parameters ?? [])
        .filter((parameter) => parameter.required && parameter.schema.default !== undefined)
        .map((parameter) => `${where} ${parameter.name}`),
    );
    expect(defaulted).toEqual([]);
  });

  it('describes every response, each error with the codes of its route as an enum', () => {
    let errors = 0;
    const problems: string[] = [];
    for (const { where, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!response.description || response.description === 'Default Response') problems.push(`${where} ${status}`);
        const schema = response.content?.['application/json']?.schema;
        if (Number(status) < 400 || !schema?.allOf) continue;
        errors += 1;
        const code = (schema.allOf as Json[]).map((part) => (part.properties as Json | undefined)?.code).find(Boolean);
        const codes = (code as { enum?: string[] } | undefined)?.enum ?? [];
        if (codes.length === 0 || !codes.every((each) => response.description.includes(each))) {
          problems.push(`${where} ${status}: code enum ${codes.join(',')}`);
        }
      }
    }
    expect(problems).toEqual([]);
    // A route's own error schema (a premium teaser, a health report) may stand instead, but rarely.
    const bare = operations.flatMap(({ where, operation }) =>
      Object.entries(operation.responses)
        .filter(([status, response]) => {
          const schema = response.content?.['application/json']?.schema;
          return Number(status) >= 400 && schema?.$ref === '#/components/schemas/ErrorResponse';
        })
        .map(([status]) => `${where} ${status}`),
    );
    expect(bare).toEqual([]);
    expect(errors).toBeGreaterThan(operations.length * 4);
  });

  it('documents text/csv wherever ?format=csv is accepted', () => {
    const csv = operations.filter(({ operation }) =>
      (operation.parameters ?? []).some(
        (parameter) => parameter.name === 'format' && (parameter.schema.enum as unknown[] | undefined)?.includes('csv'),
      ),
    );
    expect(csv.length).toBe(10);
    expect(csv.filter(({ operation }) => !operation.responses['200']?.content?.['text/csv'])).toEqual([]);
  });

  it('documents the Idempotency-Key, RateLimit-*, Retry-After and ETag headers where they apply', () => {
    const byId = new Map(operations.map((each) => [each.operation.operationId, each.operation]));
    const book = byId.get('bookings.createBooking');
    expect(book?.parameters?.find((parameter) => parameter.name.toLowerCase() === 'idempotency-key')).toMatchObject({
      in: 'header',
    });
    expect(book?.responses['201']?.headers).toHaveProperty('Idempotent-Replayed');

    // Webhooks from gateways are not rate limited (a gateway retrying must never be refused).
    const unlimited = operations.filter(({ operation }) => !operation.responses['429']?.headers?.['RateLimit-Limit']);
    expect(unlimited.map(({ operation }) => operation.operationId).sort()).toEqual(
      ['notifications.twilioStatus', 'payments.moyasarWebhook', 'payments.stripeWebhook'].sort(),
    );
    const limited = operations.filter((each) => !unlimited.includes(each));
    for (const { where, operation } of limited) {
      expect(Object.keys(operation.responses['429']?.headers ?? {}), where).toEqual(
        expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After']),
      );
    }
    const cacheable = operations.filter(({ operation }) => operation.responses['304']);
    expect(cacheable.length).toBeGreaterThan(10);
    for (const { where, operation } of cacheable) {
      expect(operation.responses['200']?.headers, where).toHaveProperty('ETag');
      expect(operation.responses['304']?.headers, where).toHaveProperty('ETag');
    }
    const headers = (document.components as { headers: Record<string, unknown> }).headers;
    expect(Object.keys(headers)).toEqual(expect.arrayContaining(['ETag', 'RateLimit-Limit', 'Retry-After']));
  });

  it('gives examples for the request bodies of the main journeys', () => {
    const journeys = [
      'auth.signup',
      'auth.login',
      'bookings.createBooking',
      'profiles.updateProfile',
      'profiles.replaceProfile',
      'reminders.createReminder',
      'analytics.ingest',
      'bookings.postReview',
    ];
    const byId = new Map(operations.map((each) => [each.operation.operationId, each.operation]));
    // Each example must be a body the document itself accepts (JSON Schema 2020-12, as OpenAPI 3.1 reads it).
    const ajv = new Ajv2020({ strict: false, allErrors: true, formats: fullFormats });
    const problems = journeys.flatMap((id) => {
      const media = byId.get(id)?.requestBody?.content['application/json'];
      const schema = media?.schema;
      // The generator moves a body schema's first example up to the media type, where OpenAPI keeps it.
      const examples = [
        ...(media?.example === undefined ? [] : [media.example]),
        ...((schema?.examples ?? []) as unknown[]),
      ];
      if (!schema || examples.length === 0) return [`${id}: no example`];
      const validate = ajv.compile(schema);
      return examples.filter((example) => !validate(example)).map(() => `${id}: ${ajv.errorsText(validate.errors)}`);
    });
    expect(problems).toEqual([]);
  });

  it('answers the sign-up, login, profile and reminder examples as sent with a success', async () => {
    const exampleOf = (path: string, method: string) =>
      (document.paths as Record<string, Record<string, Operation>>)[path]?.[method]?.requestBody?.content[
        'application/json'
      ]?.example as Record<string, unknown>;
    const signup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: exampleOf('/api/v1/auth/signup', 'post'),
    });
    expect(signup.statusCode, signup.body).toBe(201);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: exampleOf('/api/v1/auth/login', 'post'),
    });
    expect(login.statusCode, login.body).toBe(200);
    const headers = { authorization: `Bearer ${login.json().data.access_token}` };
    for (const [method, url] of [
      ['PUT', '/api/v1/me/profile'],
      ['PATCH', '/api/v1/me/profile'],
      ['POST', '/api/v1/me/reminders'],
    ] as const) {
      const payload = exampleOf(url, method.toLowerCase());
      const res = await t.app.inject({ method, url, headers, payload });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    }
  });
});
