import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnswerChecker, createDocumentValidator, firstError } from './checks.js';
import { createResolver, type JsonSchema, type Operation } from './openapi.js';
import { collectPools, fieldValues, unmappedPathParams } from './pools.js';
import { createFailureLog, type Example, type FailureLog, summaryLine } from './report.js';
import { requestArbitrary } from './requests.js';
import { rolesFor, SESSION_ENDING } from './roles.js';
import { createRunner } from './runner.js';
import { arbitraryFor } from './schema-arbitrary.js';
import { type FuzzApp, replenish, startFuzzApp } from './setup.js';

/**
 * Schema-aware fuzzing of every operation in /docs/json, as every role: valid requests drawn
 * from the schemas and the seeded data, and requests with one hostile change. Every answer
 * must be documented (status, body schema, error envelope), never a 5xx, never a hang.
 *
 * FUZZ_PROFILE=quick (default, part of `npm test`): a few rounds over all operations.
 * FUZZ_PROFILE=full: 100 rounds (100 requests per operation). FUZZ_SEED overrides the seed.
 */
const PROFILE = process.env.FUZZ_PROFILE === 'full' ? 'full' : 'quick';
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_261_130;
const ROUNDS = PROFILE === 'full' ? 100 : 12;
if (!Number.isSafeInteger(SEED)) throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`);
const REPRODUCE = `FUZZ_PROFILE=${PROFILE} FUZZ_SEED=${SEED}`;

/** Destructive operations go last in each round, so the others find the pools still full. */
const isDestructive = (operation: Operation) =>
  operation.method === 'DELETE' || operation.path.endsWith('/erase') || SESSION_ENDING.has(operation.key);

/** A seed per round and operation (FNV-1a), so adding an operation does not reshuffle the others. */
function seedFor(round: number, operation: Operation): number {
  let hash = 0x811c9dc5;
  for (const char of `${SEED}:${round}:${operation.key}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

const withTimeout = <T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve(promise),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/** After the run the app must still be serving: the database answers and readiness says so. */
async function checkStillServing(app: FastifyInstance, failures: FailureLog): Promise<void> {
  const afterRun: Example = { method: 'GET', url: '/api/health/ready', role: 'anonymous', headers: {} };
  const ping = await withTimeout(app.platform.database.ping(), 5_000, 'database ping').then(
    () => undefined,
    (error: Error) => error.message,
  );
  if (ping) failures.record('after the run', 'ping', { reason: 'database ping failed', detail: ping }, afterRun);
  const ready = await withTimeout(app.inject({ method: 'GET', url: '/api/health/ready' }), 5_000, 'readiness').then(
    (answer) => (answer.statusCode === 200 ? undefined : `${answer.statusCode} ${answer.body.slice(0, 200)}`),
    (error: Error) => error.message,
  );
  if (ready) failures.record('after the run', 'ready', { reason: 'not ready', detail: ready }, afterRun);
}

describe(`fuzz (${PROFILE}): every operation of /docs/json, every role`, () => {
  let fuzz: FuzzApp;

  beforeAll(async () => {
    fuzz = await startFuzzApp();
  }, 120_000);

  afterAll(async () => {
    // A hung request may have wedged the database; closing must not hang the suite too.
    await withTimeout(fuzz.t.close(), 10_000, 'closing the app').catch(() => undefined);
  });

  it('maps every path parameter of the document to a pool of real values', () => {
    expect(unmappedPathParams(fuzz.operations), 'add these to PATH_PARAM_POOLS in test/fuzz/pools.ts').toEqual([]);
  });

  it('generates only values the document accepts for valid requests (the generator is sound)', async () => {
    const { t, doc, operations, accounts } = fuzz;
    const validator = createDocumentValidator(doc);
    const pools = await collectPools(t.app.platform.db, accounts.owners());
    const context = { resolve: createResolver(doc), valuesFor: (name: string) => fieldValues(pools, name) };
    const rejected: string[] = [];
    const sampleAll = (what: string, pointer: string, schema: JsonSchema) => {
      const validate = validator(pointer);
      for (const value of fc.sample(arbitraryFor(schema, context), { seed: SEED, numRuns: 25 })) {
        if (!validate(value))
          rejected.push(`${what}: ${JSON.stringify(value).slice(0, 200)} ${firstError(validate.errors)}`);
      }
    };
    for (const operation of operations) {
      if (operation.body) {
        sampleAll(
          `${operation.key} body`,
          `${operation.pointer}/requestBody/content/application~1json/schema`,
          operation.body,
        );
      }
      (operation.spec.parameters ?? []).forEach((parameter, index) => {
        sampleAll(
          `${operation.key} ${parameter.in}.${parameter.name}`,
          `${operation.pointer}/parameters/${index}/schema`,
          parameter.schema,
        );
      });
    }
    expect(rejected).toEqual([]);
  });

  it(
    'answers every generated request as documented: no 5xx, no hang, documented status and body',
    async () => {
      const { t, doc, operations, accounts, logLines } = fuzz;
      const { app } = t;
      const started = performance.now();
      const failures = createFailureLog();
      const runner = createRunner({ app, accounts, check: createAnswerChecker(doc), failures, logLines });
      const resolve = createResolver(doc);
      const ordered = [...operations].sort((a, b) => Number(isDestructive(a)) - Number(isDestructive(b)));
      const used = new Map(operations.map((operation) => [operation.key, new Set<string>()]));
      let hung = false;

      rounds: for (let round = 0; round < ROUNDS; round += 1) {
        // Read again each round: fuzzed requests create and delete what the pools hold.
        let pools = await collectPools(app.platform.db, accounts.owners());
        if (await replenish(app, accounts, pools, round))
          pools = await collectPools(app.platform.db, accounts.owners());
        const context = { resolve, valuesFor: (name: string) => fieldValues(pools, name) };
        for (const operation of ordered) {
          const usedHere = used.get(operation.key) ?? new Set<string>();
          const arbitrary = requestArbitrary(operation, {
            context,
            pools,
            realCursor: runner.realCursors.get(operation.key),
            bodyLimitBytes: app.platform.config.bodyLimitBytes,
            roles: rolesFor(operation, app.guardedRoutes),
            used: usedHere,
          });
          const [request] = fc.sample(arbitrary, { seed: seedFor(round, operation), numRuns: 1 });
          if (!request) continue;
          if (request.mutation) usedHere.add(request.mutation);
          if ((await runner.execute(request)) === 'hang') {
            hung = true;
            break rounds;
          }
        }
      }

      await checkStillServing(app, failures);
      const { stats } = runner;
      // Every operation of the document must have been answered at least once.
      for (const operation of operations.filter((candidate) => !stats.operations.has(candidate.key))) {
        failures.record(
          operation.key,
          'none',
          { reason: 'not covered', detail: 'no request got an answer' },
          { method: operation.method, url: operation.path, role: '-', headers: {} },
        );
      }
      console.log(
        summaryLine({
          profile: PROFILE,
          seed: SEED,
          stats,
          operations: operations.length,
          renewals: accounts.stats().renewals,
          failureClasses: failures.size,
          hung,
          setupSeconds: fuzz.setupSeconds,
          seconds: (performance.now() - started) / 1000,
        }),
      );
      if (failures.size > 0) throw new Error(failures.report(REPRODUCE));
    },
    PROFILE === 'full' ? 3_600_000 : 120_000,
  );
});
