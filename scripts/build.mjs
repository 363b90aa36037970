// npm run build: type-checks src/ (tsc, no output), bundles every process entry (src/server.ts,
// src/migrate.ts and the other top-level scripts no source file imports) with esbuild into dist/
// (ES modules, shared code in dist/chunk-*.js, source maps), copies the files that are not
// TypeScript (dashboard assets) beside where the code would sit, makes the migrated PGlite data
// directory a fresh embedded database starts from (dist/infra/db/pglite-template/, see
// src/infra/db/pglite-template.ts), and writes the SBOM of the production dependencies
// (CycloneDX, `npm sbom`) to dist/sbom.cdx.json.
//
// Why a bundle: Node spends most of a start loading ~1,600 module files one by one; one bundle
// loads in a fraction of that (bench/startup.ts measures it).
//
// BUILD_SBOM=false skips the SBOM, BUILD_PGLITE_TEMPLATE=false the PGlite template (an image
// that only ever runs on PostgreSQL does not need it).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const started = performance.now();

/**
 * Packages loaded from node_modules at run time instead of bundled: they find files beside their
 * own code (WebAssembly, native addons, worker scripts, static files, their package.json), or
 * hook into other modules (error tracking, tracing), or are optional and not installed.
 */
const EXTERNAL = [
  '@electric-sql/pglite', // pglite.wasm, pglite.data and the extension archives beside its code
  '@node-rs/argon2', // native addon
  'pino', // transports run as worker threads from its own files
  'thread-stream',
  '@fastify/swagger', // reads its package.json
  '@fastify/swagger-ui', // serves its static files
  '@fastify/static',
  'ioredis', // reads its package.json for the client name it sends
  '@sentry/*', // loaded only when SENTRY_DSN is set; instruments modules through loader hooks
  '@opentelemetry/*', // the SDK shares the API's global registry
  '@googleapis/sheets', // loaded only when GOOGLE_SHEETS_ID is set
  'pg-native', // optional peers, not installed
  'bufferutil',
  'utf-8-validate',
];

// Bundled code that finds files relative to itself would look beside dist/ instead: such a
// package belongs in EXTERNAL, and the build says so rather than shipping a broken bundle.
const FILE_RELATIVE = /\b__dirname\b|\b__filename\b|\bimport\.meta\.(url|dirname|filename)\b|\brequire\.resolve\b/;

// CommonJS code in an ES module bundle still calls require() for Node's own modules and externals.
const BANNER =
  "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);";

// `new URL('./assets/', import.meta.url)` in src/: resolved against the source file's own place.
const FILE_URL = /new URL\(\s*(['"])(\.{1,2}\/[^'"]*)\1\s*,\s*import\.meta\.url\s*\)/g;

function sourceFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Top-level src/*.ts files no other source file imports: the programs `node dist/<name>.js` runs. */
function processEntries(files) {
  const imported = new Set();
  const specifier = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g;
  for (const file of files.filter((path) => path.endsWith('.ts'))) {
    for (const [, path] of readFileSync(file, 'utf8').matchAll(specifier)) {
      imported.add(`${resolve(dirname(file), path)}.ts`);
    }
  }
  return readdirSync(src)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(src, name))
    .filter((file) => !imported.has(file));
}

/**
 * Rewrites each `new URL('<relative>', import.meta.url)` in src/ to point from dist/ (where every
 * bundle and chunk lives) at what it pointed to from the source file's place in dist/, so
 * `../../../drizzle` from src/infra/db/migrate.ts stays the repository's drizzle/ folder and
 * `./assets/` of the dashboard stays dist/modules/admin-dashboard/assets/.
 */
const fileUrlsFromDist = {
  name: 'file-urls-from-dist',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(src + sep)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const placeInDist = join(dist, relative(src, dirname(args.path)));
      const contents = text.replace(FILE_URL, (_match, quote, path) => {
        let target = relative(dist, resolve(placeInDist, path)).split(sep).join('/') || '.';
        if (!target.startsWith('.')) target = `./${target}`;
        if (path.endsWith('/') && !target.endsWith('/')) target += '/';
        return `new URL(${quote}${target}${quote}, import.meta.url)`;
      });
      return { contents, loader: 'ts' };
    });
  },
};

/** Fails the build when a bundled package finds files relative to itself (see FILE_RELATIVE). */
function checkBundledPackages(metafile) {
  const offenders = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
    if (name && FILE_RELATIVE.test(readFileSync(resolve(root, input), 'utf8'))) offenders.add(name);
  }
  if (offenders.size > 0) {
    throw new Error(
      `bundled packages find files relative to their own code: ${[...offenders].join(', ')}; add them to EXTERNAL in scripts/build.mjs`,
    );
  }
}

/**
 * Each program's own source must stay in its dist/<name>.js: src/server.ts starts only when its
 * module is the file node was given, which would never be true of a shared chunk.
 */
function checkEntriesStayInPlace(metafile, entries) {
  for (const entry of entries) {
    const name = relative(src, entry).replace(/\.ts$/, '.js');
    const output = metafile.outputs[relative(root, join(dist, name)).split(sep).join('/')];
    const source = relative(root, entry).split(sep).join('/');
    if (!output?.inputs[source]) throw new Error(`${source} was moved out of dist/${name} into a shared chunk`);
  }
}

async function bundle(entries) {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir: dist,
    outbase: src,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    tsconfig: join(root, 'tsconfig.build.json'),
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    // The maps locate src/ lines in stack traces (node --enable-source-maps); the sources
    // themselves stay out of them, and out of the image.
    sourcesContent: false,
    external: EXTERNAL,
    banner: { js: BANNER },
    plugins: [fileUrlsFromDist],
    metafile: true,
    logLevel: 'warning',
  });
  checkBundledPackages(result.metafile);
  checkEntriesStayInPlace(result.metafile, entries);
  return Object.keys(result.metafile.outputs).filter((path) => path.endsWith('.js')).length;
}

async function typecheck() {
  try {
    await run(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
      {
        cwd: root,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  } catch (error) {
    process.stderr.write(error.stdout ?? '');
    throw new Error('type errors in src/ (tsc -p tsconfig.build.json)');
  }
}

function copyAssets(files) {
  const assets = files.filter((file) => !file.endsWith('.ts'));
  for (const file of assets) cpSync(file, join(dist, relative(src, file)));
  return assets.length;
}

/**
 * A data directory migrated by the built `node dist/migrate.js` (the app's own migrator), closed
 * cleanly, copied into dist/ with the PGlite version that wrote it. A first start copies it
 * instead of running initdb and every migration in WebAssembly (src/infra/db/pglite-template.ts).
 */
async function pgliteTemplate() {
  const work = mkdtempSync(join(tmpdir(), 'care-pglite-template-'));
  try {
    const dataDir = join(work, 'data');
    // Only what the migrator needs: no DATABASE_URL or REDIS_URL from the caller's shell.
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'development', LOG_LEVEL: 'warn', DATA_DIR: dataDir };
    await run(process.execPath, [join(dist, 'migrate.js')], { cwd: root, env });
    const target = join(dist, 'infra/db/pglite-template');
    cpSync(dataDir, join(target, 'data'), { recursive: true });
    const { version } = JSON.parse(readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json'), 'utf8'));
    writeFileSync(join(target, 'manifest.json'), `${JSON.stringify({ pglite: version }, null, 2)}\n`);
    return relative(root, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

rmSync(dist, { recursive: true, force: true });
const files = sourceFiles(src);
const entries = processEntries(files);
const [outputs] = await Promise.all([bundle(entries), typecheck()]);
const copied = copyAssets(files);
const lines = [
  `  ${entries.map((entry) => `dist/${relative(src, entry).replace(/\.ts$/, '.js')}`).join(', ')} (+ ${outputs - entries.length} shared chunks)`,
  `  ${copied} asset files copied`,
];

if (process.env.BUILD_PGLITE_TEMPLATE === 'false') {
  lines.push('  PGlite template skipped (BUILD_PGLITE_TEMPLATE=false)');
} else if (!existsSync(join(root, 'drizzle'))) {
  lines.push('  PGlite template skipped: no drizzle/ migrations beside the build');
} else {
  lines.push(`  PGlite template in ${await pgliteTemplate()}`);
}

if (process.env.BUILD_SBOM !== 'false') {
  const { stdout } = await run('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(join(dist, 'sbom.cdx.json'), stdout);
  lines.push('  SBOM in dist/sbom.cdx.json');
}
process.stdout.write(`Built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}\n`);
