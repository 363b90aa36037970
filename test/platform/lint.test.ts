import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

/** A copy of the sources and the lint configuration, for one deliberate violation. */
function copyOfProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'care-lint-'));
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  cpSync(join(ROOT, 'biome.json'), join(dir, 'biome.json'));
  return dir;
}

/** Lints the given files of the copy (all of `src` by default); the exit code and what Biome said. */
function lint(dir: string, files: string[] = ['src']): { status: number | null; output: string } {
  const run = spawnSync(BIOME, ['lint', '--max-diagnostics=50', ...files], { cwd: dir, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the linter keeps the module boundaries', () => {
  const copies: string[] = [];
  const project = () => {
    const dir = copyOfProject();
    copies.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('passes on the project as it is', () => {
    const { status, output } = lint(project());
    expect(status, output).toBe(0);
  });

  it("fails on an import of another module's internals", () => {
    const dir = project();
    const file = 'src/modules/bookings/bookings.routes.ts';
    appendFileSync(
      join(dir, file),
      "\nexport { createCatalogRepository as leak } from '../catalog/catalog.repository.js';\n",
    );
    const { status, output } = lint(dir, [file]);
    expect(status).not.toBe(0);
    expect(output).toContain('noRestrictedImports');
    expect(output).toContain('bookings.routes.ts');
  });

  it('fails when infra/ or plugins/ import a module', () => {
    const dir = project();
    const file = 'src/plugins/etag.ts';
    appendFileSync(join(dir, file), "\nexport { createAuditModule } from '../modules/audit/index.js';\n");
    const { status, output } = lint(dir, [file]);
    expect(status).not.toBe(0);
    expect(output).toContain('noRestrictedImports');
    expect(output).toContain('etag.ts');
  });

  it('fails on an import cycle', () => {
    const dir = project();
    // The module's index re-exports the chain helpers; the chain importing the index closes a cycle.
    const file = 'src/modules/audit/audit.chain.ts';
    appendFileSync(join(dir, file), "\nexport { createAuditModule } from './index.js';\n");
    const { status, output } = lint(dir, [file, 'src/modules/audit/index.ts']);
    expect(status).not.toBe(0);
    expect(output).toContain('noImportCycles');
  });
});
