export { healthRoutes } from './health.routes.js';
export { createHealthService, type HealthCheck, type HealthService } from './health.service.js';
