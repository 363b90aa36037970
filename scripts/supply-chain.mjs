// node scripts/supply-chain.mjs: the supply-chain report CI prints (.ci/run).
//   1. npm audit --omit=dev: advisories of the production dependencies, counted by severity.
//      A report only: advisories never fail the build, and an audit that cannot run (no
//      network, a registry mirror without the audit endpoint) prints "audit unavailable".
//   2. Lockfile integrity: lockfileVersion 3, every package pinned by a sha512 integrity and
//      fetched from https://registry.npmjs.org/ (no git, file or other registry sources), and
//      package.json's dependency ranges equal to the lock's root entry (npm ci refuses a lock
//      that drifted, but only at install time; this says which range drifted).
//   3. The SBOM: dist/sbom.cdx.json from `npm run build`, else `npm sbom` now; its component count.
// Exits 1 only when the lockfile check fails.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const REGISTRY = 'https://registry.npmjs.org/';
const SEVERITIES = ['critical', 'high', 'moderate', 'low', 'info'];
const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

const readJson = (path) => JSON.parse(readFileSync(join(root, path), 'utf8'));

/** npm's output whatever its exit code: audit exits 1 when it finds advisories. */
async function npm(args) {
  try {
    const { stdout } = await run('npm', args, { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
    return stdout;
  } catch (error) {
    return error.stdout ?? '';
  }
}

async function auditReport() {
  const output = await npm(['audit', '--omit=dev', '--json']);
  let report;
  try {
    report = JSON.parse(output);
  } catch {
    report = undefined;
  }
  const counts = report?.metadata?.vulnerabilities;
  if (!counts) {
    const reason = report?.message ?? report?.error?.summary ?? (output.trim().split('\n')[0] || 'no answer');
    return [`npm audit: audit unavailable (${reason}); not counted as a failure`];
  }
  const lines = [
    `npm audit (production dependencies): ${SEVERITIES.map((severity) => `${counts[severity] ?? 0} ${severity}`).join(', ')}`,
  ];
  for (const [name, advisory] of Object.entries(report.vulnerabilities ?? {})) {
    lines.push(
      `  ${advisory.severity} ${name} ${advisory.range ?? ''}${advisory.fixAvailable ? ' (fix available)' : ''}`,
    );
  }
  return lines;
}

/** Which rule each lock entry breaks, if any. */
function entryProblem(path, entry) {
  // Workspace links and packages bundled inside another package's tarball carry no integrity of their own.
  if (entry.link || entry.inBundle) return undefined;
  if (!entry.integrity) return 'no integrity hash';
  if (!entry.integrity.split(' ').every((hash) => hash.startsWith('sha512-'))) {
    return `integrity is not sha512 (${entry.integrity.slice(0, 16)}…)`;
  }
  if (entry.resolved !== undefined && !entry.resolved.startsWith(REGISTRY)) return `resolved from ${entry.resolved}`;
  if (typeof entry.version === 'string' && /^(git|file|https?):|\//.test(entry.version)) {
    return `version is a source, not a registry version (${entry.version})`;
  }
  if (!path.startsWith('node_modules/') && !path.includes('/node_modules/')) return 'outside node_modules';
  return undefined;
}

function lockfileReport(registry) {
  const lock = readJson('package-lock.json');
  const pkg = readJson('package.json');
  const problems = [];
  if (lock.lockfileVersion !== 3) problems.push(`lockfileVersion is ${lock.lockfileVersion}, expected 3`);
  const rootEntry = lock.packages?.[''] ?? {};
  for (const field of DEPENDENCY_FIELDS) {
    const declared = pkg[field] ?? {};
    const locked = rootEntry[field] ?? {};
    for (const name of new Set([...Object.keys(declared), ...Object.keys(locked)])) {
      if (declared[name] !== locked[name]) {
        problems.push(
          `${field}.${name}: package.json says ${declared[name] ?? '(absent)'}, the lock ${locked[name] ?? '(absent)'}`,
        );
      }
    }
  }
  const entries = Object.entries(lock.packages ?? {}).filter(([path]) => path !== '');
  for (const [path, entry] of entries) {
    const problem = entryProblem(path, entry);
    if (problem) problems.push(`${path}: ${problem}`);
  }
  // npm leaves `resolved` out when omit-lockfile-registry-resolved is set: the package then comes
  // from the configured registry by name and version, and the integrity still pins its bytes.
  const withoutResolved = entries.filter(([, entry]) => !entry.link && !entry.inBundle && !entry.resolved).length;
  const lines = [
    problems.length === 0
      ? `Lockfile: ${entries.length} packages, all sha512-pinned and from the npm registry; package.json matches the lock`
      : `Lockfile: ${problems.length} problem(s):`,
    ...problems.slice(0, 50).map((problem) => `  ${problem}`),
  ];
  if (problems.length > 50) lines.push(`  … and ${problems.length - 50} more`);
  if (withoutResolved > 0) {
    lines.push(
      `  ${withoutResolved} entries name no resolved URL (npm's omit-lockfile-registry-resolved): they install ` +
        `from the configured registry (${registry}), pinned by their integrity`,
    );
  }
  return { ok: problems.length === 0, lines };
}

async function sbomReport() {
  const built = join(root, 'dist', 'sbom.cdx.json');
  const fromBuild = existsSync(built);
  const source = fromBuild
    ? 'dist/sbom.cdx.json (npm run build)'
    : 'npm sbom --sbom-format cyclonedx --omit dev (no build yet)';
  const text = fromBuild
    ? readFileSync(built, 'utf8')
    : await npm(['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev']);
  let sbom;
  try {
    sbom = JSON.parse(text);
  } catch {
    return [`SBOM: ${source} gave no CycloneDX document`];
  }
  const components = sbom.components ?? [];
  const licensed = components.filter((component) => (component.licenses ?? []).length > 0).length;
  return [
    `SBOM: ${source}, CycloneDX ${sbom.specVersion}, ${components.length} components ` +
      `(${licensed} with a license, ${components.length - licensed} without)`,
  ];
}

const [audit, sbom, registry] = await Promise.all([auditReport(), sbomReport(), npm(['config', 'get', 'registry'])]);
const lockfile = lockfileReport(registry.trim() || 'unknown');
process.stdout.write(`${[...audit, ...lockfile.lines, ...sbom].join('\n')}\n`);
process.exitCode = lockfile.ok ? 0 : 1;
