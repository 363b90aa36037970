import type { FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.js';
import type { HealthCheck } from '../../shared/health.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { healthRoutes } from './health.routes.js';
import { createHealthService, type HealthService } from './health.service.js';

export type { HealthService } from './health.service.js';

/**
 * /api/health, /api/health/live and /api/health/ready over the database, the shared store and
 * every module's health checks.
 */
export function createHealthModule(
  platform: Platform,
  deps: {
    checks: HealthCheck[];
    version: string;
    isDraining: () => boolean;
    isOverloaded: () => boolean;
    /** Who may see the components (admins, monitors with HEALTH_TOKEN); others see the status only. */
    mayViewDetails: (request: FastifyRequest) => boolean;
  },
): ModuleDescriptor<'health', HealthService> {
  const { database, kv } = platform;
  const service = createHealthService({
    clock: platform.clock,
    version: deps.version,
    isDraining: deps.isDraining,
    isOverloaded: deps.isOverloaded,
    checks: [
      { name: 'database', kind: database.kind, required: true, check: () => database.ping() },
      { name: 'cache', kind: kv.kind, required: false, check: () => kv.ping() },
      ...deps.checks,
    ],
  });
  return {
    name: 'health',
    service,
    prefix: '/api',
    routes: async (app) => app.register(healthRoutes, { healthService: service, mayViewDetails: deps.mayViewDetails }),
  };
}
