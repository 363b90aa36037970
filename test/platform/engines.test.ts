import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean }>;
};

describe('Node engines', () => {
  it('installs no package that needs a newer Node than the project says it runs on (npm warns EBADENGINE)', () => {
    // The oldest Node the project supports: every installed package must run on it.
    const oldest = semver.minVersion(manifest.engines.node)?.version;
    expect(oldest).toBeDefined();
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
        if (!range || semver.satisfies(oldest as string, range, { includePrerelease: true })) return [];
        return [`${path.replace(/^.*node_modules\//, '')}@${entry.version} needs node ${range}`];
      });
    expect(refusing).toEqual([]);
  });
});
