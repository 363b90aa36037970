import type { Finding } from './checks.js';
import type { RunStats } from './runner.js';

/** Enough to send a failing request again by hand. */
export interface Example {
  method: string;
  url: string;
  role: string;
  headers: Record<string, string>;
  body?: string;
  mutation?: string;
  status?: number;
  answer?: string;
  correlationId?: string;
  loggedError?: string;
}

interface FailureClass {
  operation: string;
  status: string;
  finding: Finding;
  count: number;
  example: Example;
}

const truncate = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length)}… (${text.length} chars)` : text;

/**
 * Failures grouped into classes (operation + status + reason + detail), each kept with its
 * first example, so one bug hit a hundred times is listed once.
 */
export function createFailureLog() {
  const classes = new Map<string, FailureClass>();
  return {
    record(operation: string, status: number | string, finding: Finding, example: Example): void {
      const key = `${operation} → ${status} ${finding.reason}: ${finding.detail}`;
      const known = classes.get(key);
      if (known) known.count += 1;
      else classes.set(key, { operation, status: String(status), finding, count: 1, example });
    },

    get size(): number {
      return classes.size;
    },

    report(reproduce: string): string {
      const lines = [`${classes.size} failure classes (${reproduce} reproduces the run):`];
      const sorted = [...classes.values()].sort(
        (a, b) => a.operation.localeCompare(b.operation) || a.status.localeCompare(b.status),
      );
      sorted.forEach((failure, index) => {
        const { example } = failure;
        lines.push(
          `${index + 1}. ${failure.operation} → ${failure.status} ${failure.finding.reason}: ${failure.finding.detail} (×${failure.count})`,
          `   ${example.method} ${truncate(example.url, 300)} as ${example.role}`,
        );
        if (example.mutation) lines.push(`   mutation: ${truncate(example.mutation, 200)}`);
        if (Object.keys(example.headers).length > 0) {
          lines.push(`   headers: ${truncate(JSON.stringify(example.headers), 300)}`);
        }
        if (example.body !== undefined) lines.push(`   body: ${truncate(example.body, 300)}`);
        if (example.answer !== undefined) lines.push(`   answer: ${truncate(example.answer, 300)}`);
        if (example.correlationId) lines.push(`   correlation id: ${example.correlationId}`);
        if (example.loggedError) lines.push(`   logged error: ${truncate(example.loggedError, 500)}`);
      });
      return lines.join('\n');
    },
  };
}

export type FailureLog = ReturnType<typeof createFailureLog>;

const counts = (map: Map<string | number, number>) =>
  [...map.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([key, count]) => `${key}:${count}`)
    .join(' ');

/** The one line a run prints, whatever its outcome. */
export function summaryLine(run: {
  profile: string;
  seed: number;
  stats: RunStats;
  operations: number;
  renewals: number;
  failureClasses: number;
  hung: boolean;
  setupSeconds: number;
  seconds: number;
}): string {
  const { stats } = run;
  return [
    `fuzz[${run.profile}] seed=${run.seed}`,
    `requests=${stats.requests}`,
    `operations=${stats.operations.size}/${run.operations}`,
    `roles={${counts(stats.roles)}}`,
    `statuses={${counts(stats.statuses)}}`,
    `unsendable=${stats.unsendable} resent=${stats.resends} renewals=${run.renewals}`,
    `failure_classes=${run.failureClasses}`,
    ...(run.hung ? ['HUNG'] : []),
    `setup=${run.setupSeconds.toFixed(1)}s duration=${run.seconds.toFixed(1)}s`,
  ].join(' ');
}
