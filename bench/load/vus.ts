/**
 * Runs virtual users: each starts at its moment of the ramp-up (the journeys' VUs interleaved, so
 * every journey ramps up in proportion), runs its script's `start` until it succeeds, then
 * iterations until the steady phase ends. Requests are recorded in the phase they were sent in.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Stopped, UnexpectedAnswer } from './client.js';
import type { LoadData } from './data.js';
import type { VuContext, VuScript } from './journeys.js';
import { createRandom } from './random.js';
import type { Recorder } from './stats.js';

/** Something VUs can run: a journey, or the calibration loop. */
export interface Scripted {
  name: string;
  makeVu(context: VuContext): VuScript;
}

export interface ThinkTime {
  minMs: number;
  maxMs: number;
}

export interface VuRun {
  target: { host: string; port: number };
  groups: { script: Scripted; count: number }[];
  data: LoadData;
  think: ThinkTime;
  etags: boolean;
  eventsPerBatch: number;
  rampMs: number;
  steadyMs: number;
  recorders: { ramp: Recorder; steady: Recorder };
  seed: number;
  errors: ErrorLog;
  /** Ends the run before the steady phase is over once it answers true (checked before each request). */
  until?: () => boolean;
  /** Called when the steady phase starts and ends (CPU and metrics snapshots). */
  onSteadyStart?: () => void;
  onSteadyEnd?: () => void;
}

const MAX_ERROR_KINDS = 25;
const START_RETRY_MS = 1000;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The first kinds of unexpected answers and journey failures, with how often each happened. */
export class ErrorLog {
  readonly kinds = new Map<string, number>();

  add(message: string) {
    const kind = message.replace(UUID, ':id').slice(0, 300);
    const seen = this.kinds.get(kind);
    if (seen !== undefined) this.kinds.set(kind, seen + 1);
    else if (this.kinds.size < MAX_ERROR_KINDS) this.kinds.set(kind, 1);
  }

  list(): { message: string; count: number }[] {
    return [...this.kinds].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
  }
}

interface PlannedVu {
  script: Scripted;
  index: number;
  count: number;
  /** Where in the ramp this VU starts, 0–1. */
  position: number;
}

/** Every group's VUs spread over [0, 1), merged in order: each journey ramps up in proportion. */
export function rampOrder(groups: { script: Scripted; count: number }[]): PlannedVu[] {
  return groups
    .flatMap(({ script, count }) =>
      Array.from({ length: count }, (_, index) => ({ script, index, count, position: (index + 0.5) / count })),
    )
    .sort((a, b) => a.position - b.position);
}

export async function runVus(run: VuRun): Promise<void> {
  const startedAt = performance.now();
  const rampEnd = startedAt + run.rampMs;
  const end = rampEnd + run.steadyMs;
  const recorderAt = (at: number) => (at < rampEnd ? run.recorders.ramp : at < end ? run.recorders.steady : undefined);
  const stopped = () => performance.now() >= end || (run.until?.() ?? false);

  const timers = [
    setTimeout(() => run.onSteadyStart?.(), run.rampMs),
    setTimeout(() => run.onSteadyEnd?.(), run.rampMs + run.steadyMs),
  ];
  const planned = rampOrder(run.groups);
  try {
    await Promise.all(
      planned.map((vu, rank) =>
        runOne(run, vu, rank, startedAt + (rank / planned.length) * run.rampMs, recorderAt, stopped),
      ),
    );
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

async function runOne(
  run: VuRun,
  vu: PlannedVu,
  rank: number,
  startAt: number,
  recorderAt: (at: number) => Recorder | undefined,
  stopped: () => boolean,
) {
  const random = createRandom(run.seed + rank);
  const { minMs, maxMs } = run.think;
  const client = new Client({
    ...run.target,
    journey: vu.script.name,
    recorderAt,
    thinkMs: () => (maxMs <= 0 ? 0 : minMs + random.next() * (maxMs - minMs)),
    stopped,
    etags: run.etags,
  });
  const context: VuContext = {
    client,
    random,
    data: run.data,
    index: vu.index,
    count: vu.count,
    eventsPerBatch: run.eventsPerBatch,
    note: (what) => recorderAt(performance.now())?.note(vu.script.name, what),
  };
  const script = vu.script.makeVu(context);
  const wait = startAt - performance.now();
  if (wait > 0) await sleep(wait);

  /** One attempt of `action`: done, failed (recorded; try again) or stopped (the run is over). */
  const attempt = async (action: () => Promise<void>): Promise<'done' | 'failed' | 'stopped'> => {
    try {
      await action();
      return 'done';
    } catch (error) {
      if (error instanceof Stopped) return 'stopped';
      const message = error instanceof Error ? error.message : String(error);
      if (!(error instanceof UnexpectedAnswer)) {
        // A journey that threw on its own (a body it could not read): counted against the run.
        client.flag({ name: '(journey)', method: 'GET', route: '-' }, `journey failed: ${message.slice(0, 120)}`);
      }
      run.errors.add(`${vu.script.name}: ${message}`);
      return stopped() ? 'stopped' : 'failed';
    }
  };

  try {
    let outcome = await attempt(() => script.start());
    while (outcome === 'failed' && !stopped()) {
      // As an app does after a failed sign-in: wait a moment, not hammer the server.
      await sleep(START_RETRY_MS);
      outcome = await attempt(() => script.start());
    }
    while (outcome !== 'stopped' && !stopped()) outcome = await attempt(() => script.iteration());
  } finally {
    client.close();
  }
}
