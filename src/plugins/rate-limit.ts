import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import type { KeyValueStore } from '../infra/kv/kv.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { clientKey } from '../shared/ip.js';
import { routeConfigOf } from './route-config.js';

/**
 * Route presets, chosen with `config: { rateLimit: 'sensitive' }` on a route:
 * - `default`: per user when signed in (`userMax`), else per IP (`anonMax`);
 * - `sensitive`: per IP (`sensitiveMax`), on top of `default` (login, signup, reset);
 * - `probe`: health probes, per IP with ten times the anonymous budget, so a load balancer
 *   polling every few seconds is never locked out;
 * - `false`: not limited.
 */
export type RateLimitPreset = 'default' | 'sensitive' | 'probe' | false;

export interface RateLimitOptions {
  enabled: boolean;
  windowMs: number;
  anonMax: number;
  userMax: number;
  sensitiveMax: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RateLimitPreset;
  }
}

interface Budget {
  key: string;
  max: number;
  preset: Exclude<RateLimitPreset, false>;
}

export const rateLimitPlugin = fp<{
  options: RateLimitOptions;
  kv: KeyValueStore;
  metrics: Metrics;
  logger: Logger;
  /** IPv6 clients share one budget per prefix of this length (a /64 is one subscriber). */
  ipv6PrefixLength?: number;
}>(
  async (app: FastifyInstance, { options, kv, metrics, logger, ipv6PrefixLength = 64 }) => {
    if (!options.enabled) return;
    let lastStoreWarning = 0;

    const budgetsFor = (request: FastifyRequest): Budget[] => {
      const preset = routeConfigOf(request).rateLimit ?? 'default';
      if (preset === false) return [];
      const ip = clientKey(request.ip, ipv6PrefixLength);
      if (preset === 'probe') return [{ key: `rl:probe:${ip}`, max: options.anonMax * 10, preset }];
      const base: Budget = request.actor
        ? { key: `rl:user:${request.actor.id}`, max: options.userMax, preset: 'default' }
        : { key: `rl:ip:${ip}`, max: options.anonMax, preset: 'default' };
      if (preset === 'sensitive') {
        return [base, { key: `rl:sensitive:${routeConfigOf(request).url}:${ip}`, max: options.sensitiveMax, preset }];
      }
      return [base];
    };

    const check = async (request: FastifyRequest, reply: FastifyReply) => {
      const budgets = budgetsFor(request);
      let tightest: { budget: Budget; count: number; ttlMs: number } | undefined;
      for (const budget of budgets) {
        let result: { count: number; ttlMs: number };
        try {
          result = await kv.increment(budget.key, options.windowMs);
        } catch (error) {
          // The store is down: serve the request rather than fail everyone, and say so now and then.
          const now = Date.now();
          if (now - lastStoreWarning > 10_000) {
            lastStoreWarning = now;
            logger.warn({ err: error }, 'rate-limit store unavailable; requests are not being limited');
          }
          return;
        }
        const remaining = budget.max - result.count;
        if (!tightest || remaining < tightest.budget.max - tightest.count) {
          tightest = { budget, count: result.count, ttlMs: result.ttlMs };
        }
      }
      if (!tightest) return;
      const { budget, count, ttlMs } = tightest;
      const resetSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
      reply.header('ratelimit-limit', budget.max);
      reply.header('ratelimit-remaining', Math.max(0, budget.max - count));
      reply.header('ratelimit-reset', resetSeconds);
      if (count > budget.max) {
        metrics.rateLimitRejections.inc({ preset: budget.preset });
        throw new AppError('RATE_LIMITED', 'Too many requests, please try again later', {
          headers: { 'retry-after': String(resetSeconds) },
        });
      }
    };

    // onRequest, before the body is read or parsed: a limited caller costs as little as possible.
    // Callback style, so an unlimited route costs no promise.
    app.addHook('onRequest', (request, reply, done) => {
      if (routeConfigOf(request).rateLimit === false) return done();
      check(request, reply).then(() => done(), done);
    });
  },
  { name: 'rate-limit' },
);
