import type { ModuleDescriptor } from '../../shared/module.js';
import { adminDashboardRoutes } from './admin-dashboard.routes.js';

export { DASHBOARD_CSP } from './admin-dashboard.routes.js';

/** The admin dashboard page at /admin: static files; its data comes from the admin analytics API. */
export function createAdminDashboardModule(): ModuleDescriptor<'adminDashboard', undefined> {
  return { name: 'adminDashboard', service: undefined, routes: adminDashboardRoutes, prefix: '' };
}
