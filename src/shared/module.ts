import type { FastifyPluginAsync } from 'fastify';
import type { Seeder } from '../infra/db/seed.js';
import type { HandlerOptions, OutboxHandler } from '../infra/outbox/outbox.js';
import type { PeriodicJob } from '../infra/periodic.js';
import type { PersonalDataEntry } from './data-map.js';
import type { HealthCheck } from './health.js';
import type { RetentionRule } from './retention.js';

/** An outbox message type a module delivers, and how. */
export interface OutboxRegistration {
  type: string;
  handle: OutboxHandler;
  options?: HandlerOptions;
}

/**
 * What a module gives the app: its service (for the modules created after it), its routes
 * (registered under /api/v1), and its share of the platform's cross-cutting lists. Each module's
 * `index.ts` exports one `createXModule(platform, deps)` returning this; `src/modules.ts` creates
 * them in dependency order and `src/app.ts` registers what they return.
 */
export interface ModuleDescriptor<
  Name extends string = string,
  Service = unknown,
  Jobs extends Record<string, AnyJob> = Record<string, AnyJob>,
> {
  name: Name;
  service: Service;
  /** The module's routes, mounted under `prefix` (default /api/v1). */
  routes?: FastifyPluginAsync;
  prefix?: string;
  /** What the module holds about a person, and how to export and erase it. */
  dataMap?: PersonalDataEntry;
  retention?: RetentionRule[];
  outboxHandlers?: OutboxRegistration[];
  /** Background work by name; started by the server when workers are on, run by hand in tests. */
  jobs?: Jobs;
  seeders?: Seeder[];
  health?: HealthCheck[];
  /** Runs once the app is built (e.g. subscribes to other instances' changes). */
  start?(): Promise<void>;
  /** Releases what the module holds (connections, subscriptions) when the app closes. */
  close?(): Promise<void>;
}

/** Any periodic job a module may declare. */
export type AnyJob = PeriodicJob<unknown>;
