/** The load test's options: command-line flags, and the database and Redis URLs from the environment. */
import { parseArgs } from 'node:util';
import type { ThinkTime } from './vus.js';

export interface LoadSettings {
  /** The embedded database (PGlite, in-memory counters) instead of PostgreSQL + Redis. */
  pglite: boolean;
  vus: number;
  rampS: number;
  steadyS: number;
  think: ThinkTime;
  /** Seconds of the health-route calibration before the run; 0 skips it. */
  calibrateS: number;
  providers: number;
  servicesPerProvider: number;
  eventsPerBatch: number;
  etags: boolean;
  /** Exit 1 when a target is missed (unexpected answers always fail the run). */
  strict: boolean;
  databaseUrl: string;
  redisUrl: string;
}

export const USAGE = `npm run test:load [-- options]   (builds, then runs bench/load/run.ts)

  --pglite          the embedded database (PGlite, in-memory counters) instead of PostgreSQL + Redis
  --vus N           virtual users, split over the 8 journeys in the spec's proportions (100)
  --ramp S          ramp-up seconds: VUs start one after another (10)
  --steady S        measured seconds at full load (60)
  --think MIN-MAX   think time before each request, uniform, in ms (10-50); 0 = none
  --calibrate S     seconds of GET /api/health/live by the same VUs first, to show the tool's ceiling (5; 0 = skip)
  --providers N     load-test providers (24; at least one per provider VU)
  --services N      services per provider, one of them paid online (10)
  --events N        analytics events per batch (20)
  --no-etags        no If-None-Match revalidation (clients without an HTTP cache)
  --strict          exit 1 when a target is missed, not only on unexpected answers

  BENCH_DATABASE_URL  PostgreSQL server to create a scratch database on (postgres://postgres@127.0.0.1:5432/test)
  BENCH_REDIS_URL     Redis (redis://127.0.0.1:6379); keys go under a fresh prefix, removed afterwards`;

function number(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${name}=${JSON.stringify(value)} must be a number from ${min} to ${max}`);
  }
  return parsed;
}

function thinkTime(value: string | undefined): ThinkTime {
  if (value === undefined) return { minMs: 10, maxMs: 50 };
  const match = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  const minMs = Number(match?.[1]);
  const maxMs = Number(match?.[2] ?? match?.[1]);
  if (!match || minMs > maxMs || maxMs > 60_000) {
    throw new Error(`--think=${JSON.stringify(value)} must be MIN-MAX milliseconds (e.g. 10-50) or one number`);
  }
  return { minMs, maxMs };
}

export function parseSettings(args: string[], env: NodeJS.ProcessEnv = process.env): LoadSettings | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      pglite: { type: 'boolean' },
      vus: { type: 'string' },
      ramp: { type: 'string' },
      steady: { type: 'string' },
      think: { type: 'string' },
      calibrate: { type: 'string' },
      providers: { type: 'string' },
      services: { type: 'string' },
      events: { type: 'string' },
      'no-etags': { type: 'boolean' },
      strict: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  return {
    pglite: values.pglite ?? false,
    vus: Math.round(number(values.vus, 'vus', 100, 8, 2000)),
    // Ramp-up and steady phase stay within an access token's 15 minutes: VUs sign in once.
    rampS: number(values.ramp, 'ramp', 10, 0, 120),
    steadyS: number(values.steady, 'steady', 60, 1, 600),
    think: thinkTime(values.think),
    calibrateS: number(values.calibrate, 'calibrate', 5, 0, 120),
    providers: Math.round(number(values.providers, 'providers', 24, 1, 1000)),
    servicesPerProvider: Math.round(number(values.services, 'services', 10, 1, 200)),
    eventsPerBatch: Math.round(number(values.events, 'events', 20, 1, 500)),
    etags: !values['no-etags'],
    strict: values.strict ?? false,
    databaseUrl: env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}
