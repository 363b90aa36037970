import type { Logger } from './logger.js';

const FIRST_PASS_MAX_DELAY_MS = 60_000;

export interface PeriodicJob<T> {
  /** One pass now (tests drive jobs with this). */
  runOnce(): Promise<T>;
  start(): void;
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

/**
 * Runs `run` every `intervalMs` (measured from the end of one pass to the start of the next, so
 * passes never overlap within an instance); a failed pass is logged and the next one comes as usual.
 * The first pass waits `intervalMs` too, at most a minute: a process just started (and its
 * embedded database, whose queries run on the event loop) serves requests first.
 */
export function createPeriodicJob<T>(options: {
  name: string;
  intervalMs: number;
  run: () => Promise<T>;
  logger: Logger;
}): PeriodicJob<T> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;

  const loop = async () => {
    if (stopped) return;
    try {
      running = options.run();
      await running;
    } catch (error) {
      options.logger.error({ err: error, job: options.name }, 'periodic job pass failed');
    } finally {
      running = undefined;
    }
    if (!stopped) timer = setTimeout(loop, options.intervalMs);
  };

  return {
    runOnce: options.run,
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setTimeout(loop, Math.min(options.intervalMs, FIRST_PASS_MAX_DELAY_MS));
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
