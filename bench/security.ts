/**
 * `npm run bench:security`: how well request inspection tells attacks from ordinary text, and
 * what it costs.
 * 1. Detection: every payload of test/fixtures/security/attacks.json and every text of
 *    benign.json through the same rules the app applies to a query parameter (inspectValue, plus
 *    the path-traversal rule that refuses any walk up in a URL) and to a JSON body field
 *    (inspectValue alone). Prints the detection rate per category, the false-positive rate per
 *    kind, and the misses and false positives themselves (the first 20 of each). Targets:
 *    >= 99% detected, <= 0.1% false positives.
 * 2. Cost: the app with SECURITY_INSPECTION=block against the same app with it off, same run,
 *    alternating: GET /api/health/live, and an authenticated JSON write (POST /api/v1/events, a
 *    batch of 5 events with text properties). Target: each >= 95% of the app without inspection.
 * BENCH_SECURITY_COST=0 skips part 2.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectTraversal, inspectValue, normalise } from '../src/modules/security/detect/index.js';
import { compare, formatComparison, loadSettingsFromEnv, REPO_ROOT, runBench, writeResult } from './lib.js';

interface Attack {
  category: string;
  payload: string;
}
interface Benign {
  kind: string;
  text: string;
}

const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'security');
const attacks = JSON.parse(readFileSync(join(fixtures, 'attacks.json'), 'utf8')) as Attack[];
const benign = JSON.parse(readFileSync(join(fixtures, 'benign.json'), 'utf8')) as Benign[];

const inQuery = (value: string) => inspectValue(value) ?? detectTraversal(normalise(value));
const inBody = (value: string) => inspectValue(value);

const pct = (part: number, whole: number) => (whole === 0 ? '—' : `${((part / whole) * 100).toFixed(2)}%`);

function detection(name: string, check: (value: string) => unknown) {
  const perCategory = new Map<string, { total: number; found: number }>();
  const misses: Attack[] = [];
  for (const attack of attacks) {
    const entry = perCategory.get(attack.category) ?? { total: 0, found: 0 };
    entry.total++;
    if (check(attack.payload)) entry.found++;
    else misses.push(attack);
    perCategory.set(attack.category, entry);
  }
  const perKind = new Map<string, { total: number; flagged: number }>();
  const falsePositives: { kind: string; text: string; rule: string }[] = [];
  for (const item of benign) {
    const entry = perKind.get(item.kind) ?? { total: 0, flagged: 0 };
    entry.total++;
    const finding = check(item.text) as { rule: string } | undefined;
    if (finding) {
      entry.flagged++;
      falsePositives.push({ kind: item.kind, text: item.text, rule: finding.rule });
    }
    perKind.set(item.kind, entry);
  }
  const detected = attacks.length - misses.length;
  const lines = [`\n${name}: ${attacks.length} attacks, ${benign.length} benign texts`];
  for (const [category, { total, found }] of [...perCategory].sort()) {
    lines.push(`  ${category.padEnd(18)} ${String(found).padStart(5)}/${String(total).padEnd(5)} ${pct(found, total)}`);
  }
  lines.push(`  detected           ${detected}/${attacks.length} ${pct(detected, attacks.length)} (target >= 99%)`);
  for (const [kind, { total, flagged }] of [...perKind].sort()) {
    if (flagged > 0) lines.push(`  false positives in ${kind}: ${flagged}/${total}`);
  }
  lines.push(
    `  false positives    ${falsePositives.length}/${benign.length} ${pct(falsePositives.length, benign.length)} (target <= 0.1%)`,
  );
  for (const miss of misses.slice(0, 20))
    lines.push(`    missed ${miss.category}: ${JSON.stringify(miss.payload).slice(0, 140)}`);
  for (const fp of falsePositives.slice(0, 20))
    lines.push(`    false positive ${fp.rule} (${fp.kind}): ${JSON.stringify(fp.text).slice(0, 140)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return {
    detectedPct: (detected / attacks.length) * 100,
    falsePositivePct: (falsePositives.length / benign.length) * 100,
  };
}

await runBench(async (harness) => {
  const started = performance.now();
  const query = detection('as a query parameter', inQuery);
  const body = detection('as a JSON body field', inBody);
  const perValueUs = ((performance.now() - started) * 1000) / (2 * (attacks.length + benign.length));
  process.stdout.write(`\n  ${perValueUs.toFixed(1)} µs per value inspected (both passes, all values)\n`);
  process.stdout.write(
    `\nsecurity-detection: query ${query.detectedPct.toFixed(2)}% detected / ${query.falsePositivePct.toFixed(3)}% false positives; ` +
      `body ${body.detectedPct.toFixed(2)}% / ${body.falsePositivePct.toFixed(3)}%\n`,
  );
  if (process.env.BENCH_SECURITY_COST === '0') return;

  const settings = loadSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-security-');
  const env = (inspection: string) => ({
    NODE_ENV: 'development',
    SEED_DEMO_DATA: 'true',
    DATA_DIR: join(workDir, `data-${inspection}`),
    LOG_LEVEL: 'info',
    RATE_LIMIT_ANON_MAX: '100000000',
    RATE_LIMIT_USER_MAX: '100000000',
    RATE_LIMIT_SENSITIVE_MAX: '100000000',
    WORKERS_ENABLED: 'false',
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    SECURITY_INSPECTION: inspection,
  });
  const off = await harness.startServer({
    name: 'inspect-off',
    entry: 'src/server.ts',
    readyPath: '/api/health/ready',
    stdoutFile: join(workDir, 'off.log'),
    env: env('off'),
  });
  const on = await harness.startServer({
    name: 'inspect-on',
    entry: 'src/server.ts',
    readyPath: '/api/health/ready',
    stdoutFile: join(workDir, 'on.log'),
    env: env('block'),
  });
  const tokenOf = async (url: string) => {
    const response = await fetch(new URL('/api/v1/auth/login', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'user@demo.care', password: 'demo-user-2026' }),
    });
    if (response.status !== 200) throw new Error(`demo login failed: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { data: { access_token: string } }).data.access_token;
  };
  const events = JSON.stringify({
    events: Array.from({ length: 5 }, (_, i) => ({
      name: 'content_viewed',
      time: new Date().toISOString(),
      device_id: `bench-device-${i}`,
      properties: {
        screen: 'Article: Eating well, one week at a time',
        source: "Friend's recommendation",
        position: i,
      },
    })),
  });
  const write = async (server: typeof on, label: string) => ({
    label,
    server,
    path: '/api/v1/events',
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(server.url)}` },
    body: events,
  });
  const scenarios = [
    {
      name: 'security-inspection-health',
      description: 'GET /api/health/live with request inspection vs the same app without it',
      baseline: { label: 'off', server: off, path: '/api/health/live' },
      subject: { label: 'on', server: on, path: '/api/health/live' },
      targetPct: 95,
    },
    {
      name: 'security-inspection-write',
      description: 'POST /api/v1/events (signed in, 5 events with text) with request inspection vs without',
      baseline: await write(off, 'off'),
      subject: await write(on, 'on'),
      targetPct: 95,
    },
  ];
  for (const scenario of scenarios) {
    process.stdout.write(`\n${scenario.name}\n`);
    const comparison = await compare(scenario, settings);
    process.stdout.write(`\n${formatComparison(comparison)}\n`);
    process.stdout.write(`results: ${await writeResult(comparison)}\n`);
  }
});
