// Alerting rules and the Grafana dashboard, checked as code: their structure, that every metric
// they query is one the app exposes on /metrics (read from a running app), that each runbook
// link lands on a heading of docs/observability.md, and, when promtool is installed (Debian:
// the `prometheus` package), `promtool check rules` on the rules and on every dashboard query,
// and `promtool test rules` on alerts.test.yml (the alerts fire on the series they are for).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = join(ROOT, 'deploy/prometheus/alerts.yml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/care-platform.json');
const DOC = join(ROOT, 'docs/observability.md');

/** Series Prometheus records itself, not the app. */
const PROMETHEUS_SERIES = new Set(['up']);

interface Rule {
  alert?: string;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

interface Panel {
  type: string;
  title?: string;
  datasource?: unknown;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

function loadRules(): { groups: { name: string; rules: Rule[] }[] } {
  return parse(readFileSync(RULES, 'utf8'));
}

const alerts = () => loadRules().groups.flatMap((group) => group.rules);

function loadDashboard() {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    title: string;
    uid: string;
    schemaVersion: number;
    templating: { list: { name: string }[] };
    panels: Panel[];
  };
}

const queryPanels = () => loadDashboard().panels.filter((panel) => panel.type !== 'row');

// PromQL words that are not series: aggregations, functions, keywords.
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

/**
 * The series names a PromQL expression selects: label matchers, ranges, grouping clauses and
 * strings taken out, then every identifier that is not a function call or a keyword.
 */
function seriesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    // Numbers and durations (5m, 1e-9), not the digits inside a name (p99).
    .replace(/(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?/g, '');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const after = bare.slice((match.index ?? 0) + name.length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(name)) continue;
    names.add(name);
  }
  return [...names];
}

/** Every series name /metrics can answer, histograms with their _bucket, _sum and _count. */
function exposedSeries(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (!name) continue;
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(`${name}${suffix}`);
    else names.add(name);
  }
  return names;
}

/** GitHub's anchor of a Markdown heading. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');

/** Grafana's variables, replaced by values PromQL accepts, for promtool. */
const withoutGrafanaVariables = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replaceAll('$instance', '.*');

describe('alerting rules (deploy/prometheus/alerts.yml)', () => {
  let t: TestApp;
  let exposed: Set<string>;

  beforeAll(async () => {
    t = await buildTestApp();
    exposed = exposedSeries((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
  });
  afterAll(() => t?.close());

  it('finds the series in an expression, not its functions, labels or ranges', () => {
    expect(
      seriesIn(
        'sum by (instance, pool) (rate(a_total{x="y{z}"}[5m])) / on (pool) group_left max(b) > 0.9 * c and d offset 5m > 1e-9',
      ).sort(),
    ).toEqual(['a_total', 'b', 'c', 'd']);
  });

  it('has groups of rules, each with alert, expr, for, a severity and a summary', () => {
    const { groups } = loadRules();
    expect(groups.length).toBeGreaterThan(0);
    const names = new Set<string>();
    for (const group of groups) {
      expect(group.name).toMatch(/^care-platform\./);
      expect(group.rules.length).toBeGreaterThan(0);
      for (const rule of group.rules) {
        expect(rule.alert).toMatch(/^Care[A-Z][A-Za-z0-9]+$/);
        expect(names.has(rule.alert as string), `${rule.alert} twice`).toBe(false);
        names.add(rule.alert as string);
        expect(typeof rule.expr, rule.alert).toBe('string');
        expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
        expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
        expect(rule.annotations?.summary, rule.alert).toEqual(expect.any(String));
        expect(rule.annotations?.description, rule.alert).toEqual(expect.any(String));
      }
    }
  });

  it('covers what production needs alerting on', () => {
    const names = alerts().map((rule) => rule.alert);
    for (const required of [
      'CareInstanceDown',
      'CareHighErrorRate',
      'CareHighLatencyP99',
      'CareOutboxBacklog',
      'CareOutboxDeadMessages',
      'CareOverloadShedding',
      'CareDbPoolSaturated',
      'CareSecurityBlocks',
      'CareSecurityCritical',
      'CarePaymentWebhookFailures',
    ]) {
      expect(names).toContain(required);
    }
  });

  it('queries only series the app exposes on /metrics', () => {
    for (const rule of alerts()) {
      const queries = [rule.expr as string];
      // Annotations may run queries of their own ({{ with query "…" }}).
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const [, query] of String(text).matchAll(/query "((?:[^"\\]|\\.)*)"/g)) queries.push(query as string);
      }
      for (const name of queries.flatMap(seriesIn)) {
        expect(exposed.has(name) || PROMETHEUS_SERIES.has(name), `${rule.alert}: ${name} is not on /metrics`).toBe(
          true,
        );
      }
    }
  });

  it('links each alert to a runbook section of docs/observability.md', () => {
    const anchors = new Set(
      [...readFileSync(DOC, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map(([, heading]) => anchorOf(heading as string)),
    );
    for (const rule of alerts()) {
      const runbook = String(rule.annotations?.runbook);
      expect(runbook, rule.alert).toMatch(/^docs\/observability\.md#/);
      expect(anchors.has(runbook.split('#')[1] as string), `${rule.alert}: ${runbook}`).toBe(true);
    }
  });

  it.skipIf(!hasPromtool)('passes promtool check rules and its unit tests (alerts.test.yml)', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })).toMatch(/SUCCESS/);
    expect(execFileSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });

  describe('Grafana dashboard (deploy/grafana/care-platform.json)', () => {
    it('is a dashboard Grafana imports: uid, schemaVersion, a data source variable, laid-out panels', () => {
      const dashboard = loadDashboard();
      expect(dashboard.uid).toBe('care-platform');
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(['datasource', 'instance']);
      const ids = new Set<number>();
      for (const panel of dashboard.panels) {
        const { gridPos } = panel;
        expect(gridPos, panel.title).toBeDefined();
        expect((gridPos?.x ?? 0) + (gridPos?.w ?? 0), panel.title).toBeLessThanOrEqual(24);
        const id = (panel as unknown as { id: number }).id;
        expect(ids.has(id), `panel id ${id} twice`).toBe(false);
        ids.add(id);
      }
      for (const panel of queryPanels()) {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
        expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      }
    });

    it('has the RED metrics, business KPIs, cache hit rate and database timings', () => {
      const queries = queryPanels()
        .flatMap((panel) => panel.targets ?? [])
        .map((target) => target.expr);
      const uses = (pattern: RegExp) => queries.some((query) => pattern.test(query));
      // Rate, errors, duration.
      expect(uses(/rate\(http_request_duration_seconds_count/)).toBe(true);
      expect(uses(/status_code=~"5\.\."/)).toBe(true);
      expect(uses(/histogram_quantile\(0\.99, sum by \(le\) \(rate\(http_request_duration_seconds_bucket/)).toBe(true);
      // Sign-ups, bookings, revenue, conversion.
      for (const series of ['care_signups_total', 'care_bookings_total', 'care_revenue_minor_total']) {
        expect(uses(new RegExp(series))).toBe(true);
      }
      expect(uses(/care_subscriptions_started_total.*\/.*care_signups_total/)).toBe(true);
      // Cache hit rate, database timings.
      expect(uses(/cache_requests_total\{[^}]*result="hit"[^}]*\}.*\/.*cache_requests_total/)).toBe(true);
      expect(uses(/db_query_duration_seconds_bucket/)).toBe(true);
    });

    it('queries only series the app exposes on /metrics', () => {
      for (const panel of queryPanels()) {
        for (const target of panel.targets ?? []) {
          for (const name of seriesIn(target.expr)) {
            expect(exposed.has(name), `${panel.title}: ${name} is not on /metrics`).toBe(true);
          }
        }
      }
    });

    it.skipIf(!hasPromtool)('has queries promtool parses', () => {
      const dir = mkdtempSync(join(tmpdir(), 'care-dashboard-'));
      try {
        const rules = queryPanels().flatMap((panel, index) =>
          (panel.targets ?? []).map((target) => ({
            record: `dashboard:panel_${index}_${target.refId}`,
            expr: withoutGrafanaVariables(target.expr),
          })),
        );
        const file = join(dir, 'dashboard-queries.yml');
        writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
        expect(execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })).toMatch(/SUCCESS/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
