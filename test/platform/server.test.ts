import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { isSeeded, type Seeder } from '../../src/infra/db/seed.js';
import { start } from '../../src/server.js';

describe('server start-up', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'care-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('seeds an empty embedded database once, prints the URLs and demo logins, and never seeds it again', async () => {
    let runs = 0;
    const seeder: Seeder = {
      name: 'counting',
      async run() {
        runs += 1;
      },
      logins: [{ role: 'admin', email: 'admin@demo.test', password: 'demo-admin-pass' }],
    };
    const config = loadConfig({
      NODE_ENV: 'development',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      WORKERS_ENABLED: 'false',
    });
    const printed: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      const first = await start(config, { seeders: [seeder] });
      expect(await isSeeded(first.app.platform.db)).toBe(true);
      const res = await fetch(`${first.url}/api/health/live`);
      expect(res.status).toBe(200);
      expect(await first.shutdown('test')).toBe(0);

      const second = await start(config, { seeders: [seeder] });
      expect(await second.shutdown('test')).toBe(0);
    } finally {
      write.mockRestore();
    }
    expect(runs).toBe(1);
    const banner = printed.join('');
    expect(banner).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(banner).toMatch(/API docs: +http:\/\/127\.0\.0\.1:\d+\/docs/);
    expect(banner).toContain('admin@demo.test / demo-admin-pass');
  });

  it('stops boot with one line naming a bad variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, PORT: 'not-a-port', NODE_ENV: 'test' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid configuration: PORT="not-a-port" expected integer/);
  });
});
