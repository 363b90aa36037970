import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import type { Metrics } from '../infra/metrics.js';

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

/**
 * Load shedding: a sampler measures event-loop delay (p99 over the last interval) and heap
 * use; while either is over its threshold, requests get 503 SERVICE_UNAVAILABLE with
 * Retry-After instead of queueing until every client times out.
 */
export const overloadPlugin = fp<{ options: OverloadOptions; metrics: Metrics }>(
  async (app: FastifyInstance, { options, metrics }) => {
    const interval = options.sampleIntervalMs ?? 500;
    let reason: string | undefined;
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();

    const sample = () => {
      const delayMs = histogram.percentile(99) / 1e6;
      histogram.reset();
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
      if (reason === undefined || request.routeOptions.config?.shedWhenOverloaded === false) return done();
      metrics.overloadRejections.inc();
      done(
        new AppError('SERVICE_UNAVAILABLE', 'Server is overloaded, please retry shortly', {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(interval / 1000) * 2)) },
        }),
      );
    });

    app.addHook('onClose', async () => {
      clearInterval(timer);
      histogram.disable();
    });
  },
  { name: 'overload' },
);
