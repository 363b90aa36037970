import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import type { Metrics } from '../infra/metrics.js';
import { routeConfigOf } from './route-config.js';

export interface OverloadOptions {
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  sampleIntervalMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    overload: { isOverloaded(): boolean; reason(): string | undefined };
  }
  interface FastifyContextConfig {
    /** false: answer even when overloaded (liveness, so a busy process is not restarted). */
    shedWhenOverloaded?: boolean;
  }
}

const TICK_MS = 10;

/**
 * Load shedding: a 10 ms ticker measures how late the event loop runs it (the worst delay
 * in each interval) and a sampler checks heap use; while either is over its threshold,
 * requests get 503 SERVICE_UNAVAILABLE with Retry-After instead of queueing until every
 * client times out. (perf_hooks' monitorEventLoopDelay loses a block that ends just before
 * a reset, so the delay is timed here.)
 */
export const overloadPlugin = fp<{ options: OverloadOptions; metrics: Metrics }>(
  async (app: FastifyInstance, { options, metrics }) => {
    const interval = options.sampleIntervalMs ?? 500;
    let reason: string | undefined;
    let lastTick = performance.now();
    let worstDelayMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstDelayMs = Math.max(worstDelayMs, now - lastTick - TICK_MS);
      lastTick = now;
    }, TICK_MS);
    ticker.unref();

    const sample = () => {
      // Include a block still under way: the ticker has not run since it began.
      const delayMs = Math.max(worstDelayMs, performance.now() - lastTick - TICK_MS);
      worstDelayMs = 0;
      const heapUsed = process.memoryUsage().heapUsed;
      if (options.maxEventLoopDelayMs > 0 && delayMs > options.maxEventLoopDelayMs) {
        reason = `event-loop delay ${Math.round(delayMs)} ms`;
      } else if (options.maxHeapUsedBytes > 0 && heapUsed > options.maxHeapUsedBytes) {
        reason = `heap used ${heapUsed} bytes`;
      } else {
        reason = undefined;
      }
    };
    sample();
    const timer = setInterval(sample, interval);
    timer.unref();

    app.decorate('overload', { isOverloaded: () => reason !== undefined, reason: () => reason });

    app.addHook('onRequest', (request, _reply, done) => {
      if (reason === undefined || routeConfigOf(request).shedWhenOverloaded === false) return done();
      metrics.overloadRejections.inc();
      done(
        new AppError('SERVICE_UNAVAILABLE', 'Server is overloaded, please retry shortly', {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(interval / 1000) * 2)) },
        }),
      );
    });

    // Start-up (compiling every route's schemas, the embedded database's first queries) blocks the
    // loop by design; the process is not overloaded when it begins to listen, so start afresh.
    app.addHook('onListen', (done) => {
      lastTick = performance.now();
      worstDelayMs = 0;
      reason = undefined;
      done();
    });

    app.addHook('onClose', async () => {
      clearInterval(timer);
      clearInterval(ticker);
    });
  },
  { name: 'overload' },
);
