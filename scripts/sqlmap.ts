/**
 * `npm run test:sqlmap`: sqlmap (Debian's package) against the app on 127.0.0.1. Not part of
 * `npm test`: it takes minutes and needs sqlmap installed.
 * 1. Nothing injectable: with SECURITY_INSPECTION=monitor (attacks reach the queries, only
 *    recorded), sqlmap tests the search text, the category and city filters and the sign-in
 *    JSON body; every parameter must come out "not injectable".
 * 2. Scanners are stopped: with SECURITY_INSPECTION=block (the default), sqlmap with its own user
 *    agent and then with --random-agent from another address… the scanning address must be
 *    blocked (403 IP_BLOCKED) within its first 100 requests. Counted from the app's request log.
 * Exits 1 when either fails. SQLMAP_LEVEL (default 1) and SQLMAP_RISK (default 1) widen the tests.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBench, type ServerProcess } from '../bench/lib.js';

const DEMO_ADMIN = { email: 'admin@demo.care', password: 'demo-admin-2026' };

function sqlmap(args: string[], outputDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'sqlmap',
      [
        ...args,
        '--batch',
        `--level=${process.env.SQLMAP_LEVEL ?? '1'}`,
        `--risk=${process.env.SQLMAP_RISK ?? '1'}`,
        '--time-sec=2',
        '--flush-session',
        '--disable-coloring',
        `--output-dir=${outputDir}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

async function adminToken(server: ServerProcess): Promise<string> {
  const response = await fetch(new URL('/api/v1/auth/login', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '192.0.2.1' },
    body: JSON.stringify(DEMO_ADMIN),
  });
  if (response.status !== 200) throw new Error(`admin login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: { access_token: string } }).data.access_token;
}

async function adminGet(server: ServerProcess, token: string, path: string) {
  const response = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: unknown }).data;
}

let failed = false;
const check = (ok: boolean, line: string) => {
  if (!ok) failed = true;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${line}\n`);
};

await runBench(async (harness) => {
  const work = await harness.tempDir('care-sqlmap-');
  const env = (mode: string) => ({
    NODE_ENV: 'development',
    SEED_DEMO_DATA: 'true',
    DATA_DIR: join(work, `data-${mode}`),
    LOG_LEVEL: 'info',
    RATE_LIMIT_ANON_MAX: '100000000',
    RATE_LIMIT_SENSITIVE_MAX: '100000000',
    WORKERS_ENABLED: 'false',
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    SECURITY_INSPECTION: mode,
    // The admin signs in "from" an allow-listed office address (one proxy hop is trusted).
    TRUST_PROXY: '1',
    SECURITY_ALLOWLIST: '192.0.2.0/24',
  });

  // 1. Nothing injectable.
  const monitor = await harness.startServer({
    name: 'monitor',
    entry: 'src/server.ts',
    readyPath: '/api/health/ready',
    stdoutFile: join(work, 'monitor.log'),
    env: env('monitor'),
  });
  const token = await adminToken(monitor);
  const targets: { name: string; args: string[] }[] = [
    { name: 'search text (q)', args: ['-u', `${monitor.url}/api/v1/services/search?q=massage&limit=20`, '-p', 'q'] },
    {
      name: 'search category',
      args: ['-u', `${monitor.url}/api/v1/services/search?category=massage&limit=20`, '-p', 'category'],
    },
    { name: 'search city', args: ['-u', `${monitor.url}/api/v1/services/search?city=Nairobi&limit=20`, '-p', 'city'] },
    {
      name: 'sign-in JSON body (email)',
      args: [
        '-u',
        `${monitor.url}/api/v1/auth/login`,
        '--data',
        '{"email":"user@demo.care*","password":"demo-user-2026"}',
        '--headers',
        'Content-Type: application/json',
      ],
    },
  ];
  for (const target of targets) {
    const started = performance.now();
    const output = await sqlmap(target.args, join(work, 'sqlmap'));
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    const injectable = /appears to be .*injectable|is vulnerable|sqlmap identified the following injection point/i.test(
      output,
    );
    const tested = /do not appear to be injectable|does not seem to be injectable|all tested parameters/i.test(output);
    check(
      !injectable && tested,
      `${target.name}: ${injectable ? 'INJECTABLE' : tested ? 'not injectable' : 'sqlmap did not finish'} (${seconds} s)`,
    );
    if (injectable || !tested) process.stdout.write(`${output.slice(-3000)}\n`);
  }
  const recorded = (await adminGet(monitor, token, '/api/v1/admin/security/summary?hours=1')) as {
    by_type: Record<string, number>;
  };
  process.stdout.write(`monitor mode recorded: ${JSON.stringify(recorded.by_type)}\n`);
  await monitor.stop();

  // 2. The scanning address is blocked within its first 100 requests.
  const block = await harness.startServer({
    name: 'block',
    entry: 'src/server.ts',
    readyPath: '/api/health/ready',
    stdoutFile: join(work, 'block.log'),
    env: env('block'),
  });
  const blockToken = await adminToken(block);
  const scans = [
    { name: "sqlmap's own user agent", ip: '203.0.113.10', extra: [] as string[] },
    { name: '--random-agent (payloads only)', ip: '203.0.113.20', extra: ['--random-agent'] },
  ];
  const requestLines = () =>
    readFileSync(join(work, 'block.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"correlation_id"') && line.includes('"status"'))
      .map((line) => JSON.parse(line) as { correlation_id: string; status: number });
  for (const scan of scans) {
    // Every request logged while this scan runs is the scan's (nothing else calls the app).
    const before = requestLines().length;
    await sqlmap(
      [
        '-u',
        `${block.url}/api/v1/services/search?q=massage&limit=20`,
        '-p',
        'q',
        '--headers',
        `X-Forwarded-For: ${scan.ip}`,
        ...scan.extra,
      ],
      join(work, 'sqlmap-block'),
    );
    const lines = requestLines().slice(before);
    const events = (await adminGet(block, blockToken, `/api/v1/admin/security/events?ip=${scan.ip}&limit=100`)) as {
      type: string;
      correlation_id: string;
    }[];
    const blockedBy = events.find((event) => event.type === 'ip_blocked');
    const ordinal = blockedBy ? lines.findIndex((line) => line.correlation_id === blockedBy.correlation_id) + 1 : 0;
    const refused = lines.filter((line) => line.status === 403).length;
    check(
      blockedBy !== undefined && ordinal > 0 && ordinal <= 100,
      `${scan.name}: ${lines.length} requests, blocked by request ${ordinal || 'none'}, ${refused} answered 403`,
    );
  }
  await block.stop();
  if (failed) throw new Error('test:sqlmap failed');
  process.stdout.write('test:sqlmap passed\n');
});
