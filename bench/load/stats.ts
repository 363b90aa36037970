/**
 * What the load test counts: every request's latency and status under its journey and step,
 * whether its answer was one the journey expects, and the percentiles of any group of them.
 * Latencies are kept whole (a run is a few hundred thousand numbers), so percentiles are exact.
 */

/** Where a request falls in the run, by the time it was sent. */
export type Phase = 'calibration' | 'ramp' | 'steady';

/** Why an answer counts against the app: a status the journey did not expect, or a failed check on an expected one. */
export type Problem = string;

export class StepStats {
  readonly latenciesMs: number[] = [];
  readonly statuses = new Map<number, number>();
  /** Answers the journey expects that are not 2xx (a premium teaser's 403, a revalidated 304). */
  expectedNon2xx = 0;
  readonly problems = new Map<Problem, number>();

  constructor(
    readonly journey: string,
    readonly step: string,
    /** `METHOD /route/:template`, as the report names it. */
    readonly route: string,
  ) {}

  get requests(): number {
    return this.latenciesMs.length;
  }
}

const increment = <K>(map: Map<K, number>, key: K, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

/** The samples of one phase, by journey and step. */
export class Recorder {
  private readonly steps = new Map<string, StepStats>();
  /** Iterations each journey finished (every step it meant to send was answered as expected). */
  readonly iterations = new Map<string, number>();
  /** Things worth reporting that are not requests, by journey (a search without results, nothing to confirm). */
  readonly notes = new Map<string, Map<string, number>>();

  private stepOf(journey: string, step: string, route: string): StepStats {
    const key = `${journey}\u0000${step}`;
    let stats = this.steps.get(key);
    if (!stats) {
      stats = new StepStats(journey, step, route);
      this.steps.set(key, stats);
    }
    return stats;
  }

  /** One answered (or failed: status 0) request; `problem` when the answer is not what the journey expects. */
  record(sample: { journey: string; step: string; route: string; ms: number; status: number; problem?: Problem }) {
    const stats = this.stepOf(sample.journey, sample.step, sample.route);
    stats.latenciesMs.push(sample.ms);
    increment(stats.statuses, sample.status);
    if (sample.problem !== undefined) increment(stats.problems, sample.problem);
    else if (sample.status < 200 || sample.status > 299) stats.expectedNon2xx += 1;
  }

  /** An expected status whose body failed the journey's check (already recorded as a request). */
  flag(journey: string, step: string, route: string, problem: Problem) {
    increment(this.stepOf(journey, step, route).problems, problem);
  }

  finishedIteration(journey: string) {
    increment(this.iterations, journey);
  }

  note(journey: string, what: string) {
    let notes = this.notes.get(journey);
    if (!notes) {
      notes = new Map();
      this.notes.set(journey, notes);
    }
    increment(notes, what);
  }

  all(): StepStats[] {
    return [...this.steps.values()];
  }
}

export interface LatencySummary {
  requests: number;
  /** Requests per second over the phase's length. */
  rps: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface GroupSummary extends LatencySummary {
  statuses: Record<string, number>;
  expectedNon2xx: number;
  problems: Record<Problem, number>;
  unexpected: number;
  /** Requests per second answered as the journeys expect: a fast 503 is not throughput. */
  goodRps: number;
  /** Unexpected answers as a percentage of requests. */
  unexpectedPct: number;
}

const round = (value: number, digits = 1) => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

/** Nearest-rank percentile of an ascending array (`p` in 0–100); 0 for no samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summariseLatencies(latenciesMs: ArrayLike<number>, seconds: number): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  let total = 0;
  for (const ms of sorted) total += ms;
  return {
    requests: sorted.length,
    rps: seconds > 0 ? round(sorted.length / seconds) : 0,
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length ? (sorted[sorted.length - 1] as number) : 0),
    meanMs: round(sorted.length ? total / sorted.length : 0),
  };
}

/** Latencies, statuses and problems of several steps taken together (a journey, the whole run). */
export function summariseGroup(steps: StepStats[], seconds: number): GroupSummary {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const problems = new Map<Problem, number>();
  let expectedNon2xx = 0;
  for (const step of steps) {
    for (const ms of step.latenciesMs) latencies.push(ms);
    for (const [status, count] of step.statuses) increment(statuses, status, count);
    for (const [problem, count] of step.problems) increment(problems, problem, count);
    expectedNon2xx += step.expectedNon2xx;
  }
  const summary = summariseLatencies(latencies, seconds);
  let unexpected = 0;
  for (const count of problems.values()) unexpected += count;
  return {
    ...summary,
    statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b).map(([status, n]) => [String(status), n])),
    expectedNon2xx,
    problems: Object.fromEntries([...problems].sort(([, a], [, b]) => b - a)),
    unexpected,
    goodRps: seconds > 0 ? round(Math.max(0, summary.requests - unexpected) / seconds) : 0,
    unexpectedPct: summary.requests ? round((unexpected / summary.requests) * 100, 3) : 0,
  };
}
