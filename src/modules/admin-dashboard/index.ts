export { adminDashboardRoutes, DASHBOARD_CSP } from './admin-dashboard.routes.js';
