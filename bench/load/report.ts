/**
 * The load test's result: built from the phases' recorders, written to
 * bench/results/load-<database>.json and .md, with the spec's figures and the issue's targets
 * beside ours. The verdict is taken on the steady phase (all VUs running); the whole run,
 * ramp-up included, is reported too.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { RESULTS_DIR } from '../lib.js';
import type { JourneyName } from './data.js';
import { JOURNEYS, STEPS } from './journeys.js';
import type { AppCounters, AppLogSummary, CpuShares, CpuUse } from './machine.js';
import type { LoadSettings } from './settings.js';
import { type GroupSummary, type Recorder, summariseGroup } from './stats.js';

/** The marketplace spec's load test (Artillery, 12 minutes, 100 users, 8 journeys). */
export const SPEC = {
  tool: 'Artillery',
  durationMin: 12,
  users: 100,
  journeys: 8,
  requests: '45,000+',
  p50Ms: 120,
  p95Ms: 280,
  p99Ms: 450,
  rps: 62.5,
  errorPct: 0.03,
} as const;

/** Issue 18, item 2: one instance on this machine, in one run of the load test. */
export const TARGETS = {
  postgres: { rps: 1500, p99Ms: 50, zeroUnexpected: true },
  pglite: { rps: 500, p99Ms: 100, zeroUnexpected: false },
} as const;

export interface JourneyRow {
  name: JourneyName;
  title: string;
  vus: number;
  iterations: number;
  summary: GroupSummary;
  notes: Record<string, number>;
}

export interface StepRow {
  journey: string;
  step: string;
  route: string;
  summary: GroupSummary;
}

export interface TargetRow {
  target: string;
  ours: string;
  met: boolean;
  /** How far off, when missed. */
  by?: string;
}

export interface LoadReport {
  name: string;
  database: 'postgres' | 'pglite';
  store: 'redis' | 'memory';
  command: string;
  measuredAt: string;
  machine: { node: string; platform: string; cpus: number; cpuModel: string | undefined };
  loadAverage: { before: number; max: number; after: number };
  settings: Omit<LoadSettings, 'databaseUrl' | 'redisUrl'>;
  appEnv: Record<string, string>;
  /** Preparing the database (PostgreSQL: create, migrate, demo seed), starting the app, the API set-up, the whole command. */
  seconds: { database: number; start: number; setup: number; total: number };
  data: {
    providers: number;
    servicesPerProvider: number;
    accounts: number;
    contentFree: number;
    contentPremium: number;
  };
  vus: Record<JourneyName, number>;
  calibration: { seconds: number; summary: GroupSummary; cpu: CpuShares | null } | null;
  steady: {
    seconds: number;
    overall: GroupSummary;
    journeys: JourneyRow[];
    steps: StepRow[];
    cpu: CpuShares | null;
    counters: AppCounters | null;
  };
  wholeRun: { seconds: number; overall: GroupSummary; journeys: JourneyRow[] };
  signIn: { requests: number; failed: number; sharePct: number };
  targets: TargetRow[];
  spec: typeof SPEC;
  errors: { message: string; count: number }[];
  /** The app's own log over the whole command (set-up included). */
  appLog: AppLogSummary | null;
}

const notesOf = (recorders: Recorder[], journey: string) => {
  const notes: Record<string, number> = {};
  for (const recorder of recorders) {
    for (const [what, count] of recorder.notes.get(journey) ?? []) notes[what] = (notes[what] ?? 0) + count;
  }
  return notes;
};

/** Per journey, in the spec's order, over the given recorders (one phase, or ramp-up + steady). */
export function journeyRows(recorders: Recorder[], seconds: number, vus: Record<JourneyName, number>): JourneyRow[] {
  const steps = recorders.flatMap((recorder) => recorder.all());
  return JOURNEYS.map((journey) => ({
    name: journey.name,
    title: journey.title,
    vus: vus[journey.name],
    iterations: recorders.reduce((sum, recorder) => sum + (recorder.iterations.get(journey.name) ?? 0), 0),
    summary: summariseGroup(
      steps.filter((step) => step.journey === journey.name),
      seconds,
    ),
    notes: notesOf(recorders, journey.name),
  }));
}

/** Steps in the order the journeys send them. */
export function stepRows(recorder: Recorder, seconds: number): StepRow[] {
  const order = Object.values(STEPS).map((step) => step.name);
  const journeys = JOURNEYS.map((journey) => journey.name as string);
  return recorder
    .all()
    .sort(
      (a, b) =>
        journeys.indexOf(a.journey) - journeys.indexOf(b.journey) ||
        order.indexOf(a.step) - order.indexOf(b.step) ||
        a.step.localeCompare(b.step),
    )
    .map((step) => ({
      journey: step.journey,
      step: step.step,
      route: step.route,
      summary: summariseGroup([step], seconds),
    }));
}

/** Sign-ins among all requests; `failed` ones were tried again a second later. */
export function signInShare(recorders: Recorder[]): { requests: number; failed: number; sharePct: number } {
  const steps = recorders.flatMap((recorder) => recorder.all());
  const total = steps.reduce((sum, step) => sum + step.requests, 0);
  const signIns = summariseGroup(
    steps.filter((step) => step.step === STEPS.signIn.name),
    1,
  );
  return {
    requests: signIns.requests,
    failed: signIns.unexpected,
    sharePct: total ? Math.round((signIns.requests / total) * 10_000) / 100 : 0,
  };
}

const pctOff = (ours: number, target: number) => `${Math.round((Math.abs(ours - target) / target) * 100)}%`;

export function verdict(database: 'postgres' | 'pglite', overall: GroupSummary): TargetRow[] {
  const target = TARGETS[database];
  const rows: TargetRow[] = [
    {
      target: `≥ ${target.rps.toLocaleString('en-US')} req/s overall`,
      ours: `${overall.goodRps.toLocaleString('en-US')} req/s answered as expected${overall.goodRps === overall.rps ? '' : ` (${overall.rps.toLocaleString('en-US')} sent)`}`,
      met: overall.goodRps >= target.rps,
      ...(overall.goodRps < target.rps ? { by: `${pctOff(overall.goodRps, target.rps)} short` } : {}),
    },
    {
      target: `P99 ≤ ${target.p99Ms} ms`,
      ours: `${overall.p99Ms.toLocaleString('en-US')} ms`,
      met: overall.p99Ms <= target.p99Ms,
      ...(overall.p99Ms > target.p99Ms ? { by: `${pctOff(overall.p99Ms, target.p99Ms)} over` } : {}),
    },
  ];
  if (target.zeroUnexpected) {
    rows.push({ target: 'zero unexpected errors', ours: String(overall.unexpected), met: overall.unexpected === 0 });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Markdown

const n = (value: number) => value.toLocaleString('en-US');
const ms = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 1 });
/** A Markdown table; the first `textColumns` columns are left-aligned, the rest (figures) right-aligned. */
const table = (header: string[], rows: string[][], textColumns = 1) =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < textColumns ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');

/** "40× the spec's" or "1/9 of the spec's", to one decimal. */
const relative = (ours: number, spec: number) => {
  if (ours <= 0 || spec <= 0) return '—';
  const ratio = ours / spec;
  return ratio >= 1 ? `${Math.round(ratio * 10) / 10}×` : `1/${Math.round((1 / ratio) * 10) / 10} of`;
};

const statuses = (summary: GroupSummary) =>
  Object.entries(summary.statuses)
    .map(([status, count]) => `${status === '0' ? 'no answer' : status} × ${n(count)}`)
    .join(', ');

const unexpectedCell = (summary: GroupSummary) =>
  summary.unexpected === 0
    ? '0'
    : `**${n(summary.unexpected)}** (${Object.entries(summary.problems)
        .map(([problem, count]) => `${problem} × ${n(count)}`)
        .join(', ')})`;

const databaseLabel = (report: LoadReport) =>
  report.database === 'postgres' ? 'PostgreSQL + Redis' : 'PGlite (embedded), in-memory counters';

/**
 * The app's (and its database's) CPU per request in the steady phase, against what the throughput
 * target allows a request on one core: a figure other work on the machine hardly moves.
 */
function costLine(report: LoadReport): string[] {
  const { cpu } = report.steady;
  if (!cpu?.app) return [];
  const budgetMs = Math.round((1000 / TARGETS[report.database].rps) * 1000) / 1000;
  const database = cpu.database ? ` and its PostgreSQL backends ${cpu.database.msPerRequest} ms` : ' (PGlite included)';
  return [
    `CPU a request, steady phase: the app process ${cpu.app.msPerRequest} ms${database}. ${TARGETS[report.database].rps.toLocaleString('en-US')} req/s on one core for the app leaves it ${budgetMs} ms a request; at ${cpu.app.msPerRequest} ms one core serves about ${cpu.app.msPerRequest > 0 ? Math.round(1000 / cpu.app.msPerRequest).toLocaleString('en-US') : '—'} req/s.`,
    '',
  ];
}

export function renderMarkdown(report: LoadReport): string {
  const { steady, wholeRun, settings } = report;
  const journeyTable = (rows: JourneyRow[]) =>
    table(
      [
        'journey',
        'VUs',
        'iterations',
        'requests',
        'req/s',
        'P50 ms',
        'P95 ms',
        'P99 ms',
        'expected non-2xx',
        'unexpected',
      ],
      rows.map((row) => [
        row.title,
        String(row.vus),
        n(row.iterations),
        n(row.summary.requests),
        n(row.summary.rps),
        ms(row.summary.p50Ms),
        ms(row.summary.p95Ms),
        ms(row.summary.p99Ms),
        n(row.summary.expectedNon2xx),
        unexpectedCell(row.summary),
      ]),
    );
  const overall = steady.overall;
  const lines: string[] = [
    `# Load test: ${report.spec.journeys} journeys, ${settings.vus} virtual users — ${databaseLabel(report)}`,
    '',
    `Measured ${report.measuredAt} with \`${report.command}\` on ${report.machine.cpus} × ${report.machine.cpuModel ?? 'CPU'}, Node ${report.machine.node}; the app is \`node dist/server.js\` (one instance), the load generator a separate process on the same machine. Load average ${report.loadAverage.before} before, ${report.loadAverage.max} at most, ${report.loadAverage.after} after${report.loadAverage.max > report.machine.cpus ? ' — other work shared the cores, so these figures are low' : ''}.`,
    '',
    `## Targets (issue 18), steady phase: ${settings.steadyS} s with all ${settings.vus} VUs`,
    '',
    table(
      ['target', 'ours', 'verdict'],
      report.targets.map((row) => [
        row.target,
        row.ours,
        row.met ? 'met' : `**missed**${row.by ? ` (${row.by})` : ''}`,
      ]),
      3,
    ),
    '',
    ...costLine(report),
    '## Beside the spec',
    '',
    table(
      ['', `spec (${report.spec.tool}, ${report.spec.durationMin} min)`, `ours (steady phase, ${settings.steadyS} s)`],
      [
        ['virtual users', String(report.spec.users), String(settings.vus)],
        ['journeys', String(report.spec.journeys), String(JOURNEYS.length)],
        ['requests', report.spec.requests, n(overall.requests)],
        ['throughput', `${report.spec.rps} req/s`, `${n(overall.rps)} req/s`],
        ['P50', `${report.spec.p50Ms} ms`, `${ms(overall.p50Ms)} ms`],
        ['P95', `${report.spec.p95Ms} ms`, `${ms(overall.p95Ms)} ms`],
        ['P99', `${report.spec.p99Ms} ms`, `${ms(overall.p99Ms)} ms`],
        [
          'errors',
          `${report.spec.errorPct}%`,
          `${overall.unexpectedPct}% unexpected (${n(overall.unexpected)}); ${n(overall.expectedNon2xx)} expected non-2xx (premium teasers' 403, revalidations' 304)`,
        ],
      ],
      1,
    ),
    '',
    `Throughput ${relative(overall.rps, report.spec.rps)} the spec's; P99 ${relative(overall.p99Ms, report.spec.p99Ms)} the spec's.`,
    '',
    '## Per journey (steady phase)',
    '',
    journeyTable(steady.journeys),
    '',
    '## Per step (steady phase)',
    '',
    table(
      [
        'journey',
        'step',
        'request',
        'requests',
        'req/s',
        'P50 ms',
        'P95 ms',
        'P99 ms',
        'max ms',
        'statuses',
        'unexpected',
      ],
      steady.steps.map((row) => [
        row.journey,
        row.step,
        `\`${row.route}\``,
        n(row.summary.requests),
        n(row.summary.rps),
        ms(row.summary.p50Ms),
        ms(row.summary.p95Ms),
        ms(row.summary.p99Ms),
        ms(row.summary.maxMs),
        statuses(row.summary),
        unexpectedCell(row.summary),
      ]),
      3,
    ),
    '',
    `## Whole run: ramp-up (${settings.rampS} s) + steady (${settings.steadyS} s)`,
    '',
    `${n(wholeRun.overall.requests)} requests, ${n(wholeRun.overall.rps)} req/s, P50 ${ms(wholeRun.overall.p50Ms)} ms, P95 ${ms(wholeRun.overall.p95Ms)} ms, P99 ${ms(wholeRun.overall.p99Ms)} ms, max ${ms(wholeRun.overall.maxMs)} ms, ${n(wholeRun.overall.unexpected)} unexpected. Sign-ins (each signed-in VU once, at its start, then it reuses its access token; a failed one is tried again a second later): ${n(report.signIn.requests)} of ${n(wholeRun.overall.requests)} requests = ${report.signIn.sharePct}%${report.signIn.failed ? `, ${n(report.signIn.failed)} of them failed` : ''}.`,
    '',
    journeyTable(wholeRun.journeys),
    '',
    '## Load generator and machine',
    '',
  ];
  const useText = (name: string, use: CpuUse | null) =>
    use ? `${name} ${use.pctOfCore}% of one core (${use.msPerRequest} ms a request)` : '';
  const cpuText = (cpu: CpuShares | null) =>
    cpu
      ? `${[
          useText('generator', cpu.generator),
          useText('app process', cpu.app),
          useText("PostgreSQL backends of the run's database", cpu.database),
        ]
          .filter(Boolean)
          .join(
            ', ',
          )}; all ${cpu.cores} cores ${cpu.machineBusyPct ?? '?'}% busy (the above, ${report.database === 'postgres' ? 'Redis, ' : ''}and any other work)`
      : 'CPU not measured';
  if (report.calibration) {
    const { summary, cpu } = report.calibration;
    lines.push(
      `- Calibration (${report.calibration.seconds} s before the run): the same ${settings.vus} VUs and think times on \`GET /api/health/live\`: **${n(summary.rps)} req/s**, P50 ${ms(summary.p50Ms)} ms, P99 ${ms(summary.p99Ms)} ms; ${cpuText(cpu)}. This is what the tool can offer with these think times on this machine: throughput below it is the app's limit, not the tool's.`,
    );
  } else {
    lines.push('- Calibration skipped (`--calibrate 0`).');
  }
  lines.push(
    `- Steady phase: ${cpuText(steady.cpu)}.${
      report.calibration?.summary.rps
        ? ` The journeys' ${n(overall.rps)} req/s are ${Math.round((overall.rps / report.calibration.summary.rps) * 1000) / 10}% of the calibration's (a ratio taken minutes apart in one run, steadier than either figure on a shared machine).`
        : ''
    }`,
  );
  lines.push(
    `- Think time ${settings.think.minMs}–${settings.think.maxMs} ms (uniform) before every request: ${settings.vus} VUs can offer at most ≈ ${n(Math.round((settings.vus * 1000) / Math.max(1, (settings.think.minMs + settings.think.maxMs) / 2)))} req/s to an app that answers at once.`,
  );
  if (steady.counters) {
    const { counters } = steady;
    const caches = Object.entries(counters.caches)
      .map(
        ([cache, { hit, miss }]) =>
          `${cache} ${Math.round((hit / Math.max(1, hit + miss)) * 1000) / 10}% hits of ${n(hit + miss)}`,
      )
      .join('; ');
    lines.push(
      '',
      '## App counters (steady phase, from /metrics)',
      '',
      `- Database queries: ${n(counters.dbQueries)}, ${Math.round((counters.dbQueries / Math.max(1, overall.requests)) * 100) / 100} a request.`,
      `- Caches: ${caches || 'none used'}.`,
      `- Rate-limit rejections ${n(counters.rateLimitRejections)}, security refusals ${n(counters.securityRefusals)}.`,
    );
  }
  const notes = steady.journeys.filter((row) => Object.keys(row.notes).length);
  if (notes.length) {
    lines.push(
      '',
      '## Notes (steady phase)',
      '',
      ...notes.map(
        (row) =>
          `- ${row.title}: ${Object.entries(row.notes)
            .map(([what, count]) => `${what} × ${n(count)}`)
            .join(', ')}`,
      ),
    );
  }
  if (report.appLog) {
    const { appLog } = report;
    lines.push(
      '',
      '## App log (whole command)',
      '',
      `${n(appLog.lines)} lines, ${n(appLog.warnings)} warnings, ${n(appLog.errors)} errors${appLog.kinds.length ? ':' : '.'}`,
      ...appLog.kinds.map((kind) => `- ${kind.level} × ${n(kind.count)}: ${kind.message}`),
    );
  }
  if (report.errors.length) {
    lines.push('', '## Unexpected answers (first kinds, whole run)', '');
    for (const error of report.errors) lines.push(`- ${error.count} × ${error.message.replaceAll('\n', ' ')}`);
  }
  lines.push(
    '',
    '## Set-up',
    '',
    `- VUs per journey: ${JOURNEYS.map((journey) => `${journey.title} ${report.vus[journey.name]}`).join(', ')}; ramp-up ${settings.rampS} s (VUs start one after another, journeys interleaved), steady ${settings.steadyS} s, ETag revalidation ${settings.etags ? 'on' : 'off'}, ${settings.eventsPerBatch} events a batch.`,
    `- Data: the demo seed, plus ${report.data.providers} providers × ${report.data.servicesPerProvider} services and ${n(report.data.accounts)} customer and admin accounts made through the API (${report.data.contentFree} free and ${report.data.contentPremium} premium content items from the seed). Database ${report.seconds.database} s, app start ${report.seconds.start} s, set-up ${report.seconds.setup} s, whole command ${report.seconds.total} s (the build before it not included).`,
    `- App environment: ${Object.entries(report.appEnv)
      .map(([key, value]) => `\`${key}=${value}\``)
      .join(', ')}; everything else at its default (workers on, logs at info to a file, load shedding on).`,
    '',
    '## What each journey does',
    '',
    ...JOURNEYS.map((journey) => `- **${journey.title}** (${report.vus[journey.name]} VUs): ${journey.summary}.`),
    '',
  );
  return lines.join('\n');
}

export async function writeReport(report: LoadReport): Promise<{ json: string; markdown: string }> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, `${report.name}.json`);
  const markdown = join(RESULTS_DIR, `${report.name}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}

export const machineInfo = () => {
  const list = cpus();
  return { node: process.version, platform: process.platform, cpus: list.length, cpuModel: list[0]?.model };
};
