// npm run build: compiles src/ to dist/ (tsc, with source maps), copies the files that are not
// TypeScript (dashboard assets) beside the compiled code, and writes the SBOM of the
// production dependencies (CycloneDX, `npm sbom`) to dist/sbom.cdx.json.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const started = performance.now();

rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
  {
    stdio: 'inherit',
  },
);

let copied = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
  const from = join(entry.parentPath, entry.name);
  cpSync(from, join(dist, relative(src, from)));
  copied += 1;
}

if (process.env.BUILD_SBOM !== 'false') {
  const sbom = execFileSync('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(join(dist, 'sbom.cdx.json'), sbom);
}
process.stdout.write(
  `Built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s (${copied} asset files copied)\n`,
);
