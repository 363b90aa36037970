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

/** What the store answers for a budget: requests counted in the window so far, and its time left. */
interface Spent {
  count: number;
  ttlMs: number;
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

    /** The budget every request spends: its user's when signed in, else its address's (or a probe's). */
    const primaryBudget = (request: FastifyRequest, preset: Exclude<RateLimitPreset, false>, ip: string): Budget => {
      if (preset === 'probe') return { key: `rl:probe:${ip}`, max: options.anonMax * 10, preset };
      return request.actor
        ? { key: `rl:user:${request.actor.id}`, max: options.userMax, preset: 'default' }
        : { key: `rl:ip:${ip}`, max: options.anonMax, preset: 'default' };
    };

    // The store is down: serve the request rather than fail everyone, and say so now and then.
    const storeDown = (error: unknown) => {
      const now = Date.now();
      if (now - lastStoreWarning > 10_000) {
        lastStoreWarning = now;
        logger.warn({ err: error }, 'rate-limit store unavailable; requests are not being limited');
      }
    };

    /** The RateLimit-* headers of the budget with the least left; the refusal when it is spent. */
    const enforce = (reply: FastifyReply, budget: Budget, { count, ttlMs }: Spent): AppError | undefined => {
      const resetSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
      reply.header('ratelimit-limit', budget.max);
      reply.header('ratelimit-remaining', Math.max(0, budget.max - count));
      reply.header('ratelimit-reset', resetSeconds);
      if (count <= budget.max) return undefined;
      metrics.rateLimitRejections.inc({ preset: budget.preset });
      return new AppError('RATE_LIMITED', 'Too many requests, please try again later', {
        headers: { 'retry-after': String(resetSeconds) },
      });
    };

    /** Sign-in and the like spend two budgets; the tighter one answers. */
    const checkSensitive = async (request: FastifyRequest, reply: FastifyReply, ip: string) => {
      const budgets = [
        primaryBudget(request, 'default', ip),
        { key: `rl:sensitive:${routeConfigOf(request).url}:${ip}`, max: options.sensitiveMax, preset: 'sensitive' },
      ] satisfies Budget[];
      let tightest: { budget: Budget; spent: Spent } | undefined;
      for (const budget of budgets) {
        let spent: Spent;
        try {
          spent = await kv.increment(budget.key, options.windowMs);
        } catch (error) {
          storeDown(error);
          return;
        }
        if (!tightest || budget.max - spent.count < tightest.budget.max - tightest.spent.count) {
          tightest = { budget, spent };
        }
      }
      if (!tightest) return;
      const refusal = enforce(reply, tightest.budget, tightest.spent);
      if (refusal) throw refusal;
    };

    // onRequest, before the body is read or parsed: a limited caller costs as little as possible.
    // Callback style, and one budget (every preset but 'sensitive') goes straight from the store's
    // answer to `done`: an unlimited route costs no promise, a limited one only the store's.
    app.addHook('onRequest', (request, reply, done) => {
      const preset = routeConfigOf(request).rateLimit ?? 'default';
      if (preset === false) return done();
      const ip = clientKey(request.ip, ipv6PrefixLength);
      if (preset === 'sensitive') {
        checkSensitive(request, reply, ip).then(() => done(), done);
        return;
      }
      const budget = primaryBudget(request, preset, ip);
      kv.increment(budget.key, options.windowMs).then(
        (spent) => done(enforce(reply, budget, spent)),
        (error: unknown) => {
          storeDown(error);
          done();
        },
      );
    });
  },
  { name: 'rate-limit' },
);
