/**
 * Zero-downtime deploys need migrations the running (previous) release survives: during a
 * rolling deploy the old code runs against the new schema (docs/migrations.md). Two checks:
 * (a) every migration since the rule began only expands the schema, unless it says which
 * release stopped using what it removes (`-- contract: <release> …`); (b) the SQL the previous
 * release issues, recorded by scripts/release-queries.ts, still runs against the schema at head.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createPglite, type Database } from '../../src/infra/db/client.js';
import { sqlState } from '../../src/infra/db/errors.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MIGRATIONS = join(ROOT, 'drizzle');
const RELEASES = join(ROOT, 'test', 'fixtures', 'release-queries');

/**
 * The last migration written before the rule: older ones rename and drop in place (0010, 0011)
 * and are history. Every later migration is checked, and so is the last one, whatever it is.
 */
const RULE_BASELINE = '0026_analytics_anonymous_dedupe';

const SEMVER = /^([0-9]+)\.([0-9]+)\.([0-9]+)$/;

/** The releases whose queries were recorded, oldest first. */
function recordedReleases(): string[] {
  const parts = (version: string) => (SEMVER.exec(version) ?? []).slice(1).map(Number);
  return readdirSync(RELEASES)
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -'.json'.length))
    .filter((version) => SEMVER.test(version))
    .sort((a, b) => {
      const [x, y] = [parts(a), parts(b)];
      return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
    });
}

// ---------------------------------------------------------------------------------------------
// (a) The static check.

/** The statements of a migration with comments, string literals and function bodies blanked out. */
function statementsOf(source: string): string[] {
  const code = source
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''") // dollar-quoted bodies: code that runs later, not DDL now
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/--[^\n]*/g, ' ');
  return code
    .split(/;/)
    .map((statement) => statement.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

/** What in `source` would break a release still running on the old schema; empty when nothing would. */
function contractFindings(source: string, releases: readonly string[]): string[] {
  const contract = /^\s*--\s*contract:\s*(\S+)/im.exec(source);
  if (contract) {
    const release = contract[1] as string;
    return releases.includes(release)
      ? []
      : [
          `the contract comment names release ${release}, which has no recorded queries ` +
            `(test/fixtures/release-queries/${release}.json): name the release that stopped using what this removes`,
        ];
  }
  const statements = statementsOf(source);
  const defaulted = new Set(
    statements.flatMap((statement) =>
      [...statement.matchAll(/ALTER COLUMN "?(\w+)"? SET DEFAULT/gi)].map((match) => match[1]?.toLowerCase()),
    ),
  );
  const findings: string[] = [];
  for (const statement of statements) {
    const found = (problem: string) => findings.push(`${problem}: ${statement.slice(0, 160)}`);
    if (/\bDROP (TABLE|VIEW|MATERIALIZED VIEW|SCHEMA|TYPE)\b/i.test(statement)) found('drops a table, view or type');
    if (/\bDROP COLUMN\b/i.test(statement)) found('drops a column');
    if (/\bRENAME\b/i.test(statement)) found('renames');
    if (/\bALTER COLUMN "?\w+"? (SET DATA )?TYPE\b/i.test(statement)) found("changes a column's type");
    for (const match of statement.matchAll(/ALTER COLUMN "?(\w+)"? SET NOT NULL/gi)) {
      if (!defaulted.has(match[1]?.toLowerCase())) found('makes a column NOT NULL without giving it a default');
    }
    for (const match of statement.matchAll(/\bADD COLUMN ([^,]*)/gi)) {
      const column = match[1] ?? '';
      if (/\bNOT NULL\b/i.test(column) && !/\b(DEFAULT|GENERATED)\b/i.test(column)) {
        found('adds a NOT NULL column without a default (the old code inserts rows without it)');
      }
    }
  }
  return findings;
}

describe('migrations only expand the schema, or name the release that stopped using what they remove', () => {
  const releases = ['0.1.0'];

  it('the check refuses what breaks the previous release and lets expanding changes through', () => {
    const refused = {
      dropColumn: 'ALTER TABLE "users" DROP COLUMN "phone";',
      dropTable: 'DROP TABLE "sessions";',
      renameColumn: 'ALTER TABLE "users" RENAME COLUMN "phone" TO "mobile";',
      renameTable: 'ALTER TABLE "users" RENAME TO "accounts";',
      changeType: 'ALTER TABLE "users" ALTER COLUMN "locale" SET DATA TYPE varchar(5);',
      changeTypeShort: 'ALTER TABLE "users" ALTER COLUMN "locale" TYPE varchar(5);',
      setNotNull: 'ALTER TABLE "users" ALTER COLUMN "phone" SET NOT NULL;',
      addNotNull: 'ALTER TABLE "users" ADD COLUMN "tier" text NOT NULL;',
      wrongRelease: '-- contract: 0.0.9 stopped reading users.phone\nALTER TABLE "users" DROP COLUMN "phone";',
    };
    for (const [name, source] of Object.entries(refused)) {
      expect(contractFindings(source, releases), name).not.toEqual([]);
    }
    const accepted = {
      addNullable: 'ALTER TABLE "users" ADD COLUMN "nickname" text;',
      addDefaulted: 'ALTER TABLE "users" ADD COLUMN "tier" text DEFAULT \'basic\' NOT NULL;',
      createTable: 'CREATE TABLE "deployment" ("id" text PRIMARY KEY NOT NULL);',
      index: 'CREATE INDEX "users_name_idx" ON "users" USING btree ("name");',
      notNullWithDefault:
        'ALTER TABLE "users" ALTER COLUMN "tier" SET DEFAULT \'basic\';--> statement-breakpoint\n' +
        'ALTER TABLE "users" ALTER COLUMN "tier" SET NOT NULL;',
      wordsInComments:
        '-- We never DROP COLUMN here, nor RENAME.\nCREATE TABLE "t" ("note" text DEFAULT \'rename me\');',
      functionBody:
        'CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; RETURN NEW; END; $$;',
      contract: '-- contract: 0.1.0 stopped reading users.phone\nALTER TABLE "users" DROP COLUMN "phone";',
    };
    for (const [name, source] of Object.entries(accepted)) {
      expect(contractFindings(source, releases), name).toEqual([]);
    }
  });

  it(`every migration after ${RULE_BASELINE}, and the last one, passes`, () => {
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as {
      entries: { tag: string }[];
    };
    const tags = journal.entries.map((entry) => entry.tag);
    const start = tags.indexOf(RULE_BASELINE);
    expect(start, `${RULE_BASELINE} is in the journal`).toBeGreaterThanOrEqual(0);
    const checked = [...new Set([...tags.slice(start + 1), tags.at(-1) as string])];
    const releases = recordedReleases();
    const findings = checked.flatMap((tag) =>
      contractFindings(readFileSync(join(MIGRATIONS, `${tag}.sql`), 'utf8'), releases).map(
        (finding) => `drizzle/${tag}.sql ${finding}`,
      ),
    );
    expect(findings).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) The previous release's queries against the schema at head.

interface ReleaseQueries {
  release: string;
  statements: { sql: string; params: unknown[] }[];
}

/** scripts/release-queries.ts wrote bytes as { $bytea: base64 }; everything else is as the driver takes it. */
function decodeParam(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeParam);
  if (value && typeof value === 'object' && '$bytea' in value) return Buffer.from(String(value.$bytea), 'base64');
  return value;
}

/** One connection to a fresh database migrated to head (PGlite, or PostgreSQL in services mode). */
async function connectAtHead(): Promise<{
  query(text: string, params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}> {
  if (!servicesMode) {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))], { type: 'application/x-tar' });
    const instance = await createPglite(undefined, template);
    return { query: (text, params) => instance.query(text, params), close: () => instance.close() };
  }
  const database = (await createTestDatabase({ kind: 'postgres', poolMax: 1 })) as Database & { url: string };
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return {
    query: (text, params) => client.query(text, params),
    close: async () => {
      await client.end();
      await database.close();
    },
  };
}

/**
 * Errors that mean the schema no longer fits the statement: class 42 (syntax error or access rule
 * violation: undefined table, column or function, ambiguous names, wrong types) and 0A (feature
 * not supported). Anything else (unique or foreign-key violations, data exceptions) comes from
 * parameters recorded on another database and says nothing about the schema.
 */
const isSchemaError = (code: string | undefined) => code !== undefined && /^(42|0A)/.test(code);

describe("the previous release's queries run against the schema at head", () => {
  const releases = recordedReleases();
  const previous = releases.at(-1) as string;

  it('a release is recorded', () => {
    expect(releases.length).toBeGreaterThan(0);
  });

  it(`every statement release ${previous} issues runs (or fails only on its recorded data)`, async () => {
    const recorded = JSON.parse(readFileSync(join(RELEASES, `${previous}.json`), 'utf8')) as ReleaseQueries;
    expect(recorded.release).toBe(previous);
    // A recording of a few statements would prove nothing.
    expect(recorded.statements.length).toBeGreaterThan(200);
    const connection = await connectAtHead();
    const failures: { sql: string; code: string | undefined; message: string }[] = [];
    try {
      await connection.query('begin', []);
      for (const statement of recorded.statements) {
        await connection.query('savepoint replay', []);
        try {
          await connection.query(statement.sql, statement.params.map(decodeParam));
        } catch (error) {
          const code = sqlState(error);
          if (isSchemaError(code)) failures.push({ sql: statement.sql, code, message: (error as Error).message });
        }
        await connection.query('rollback to savepoint replay', []);
      }
      await connection.query('rollback', []);
    } finally {
      await connection.close();
    }
    expect(failures).toEqual([]);
  });
});
