import type { Db } from '../../infra/db/client.js';
import { createPeriodicJob, type PeriodicJob } from '../../infra/periodic.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { AuditService } from '../audit/index.js';
import { ALERT_WEBHOOK, createSecurityAlerts } from './security.alerts.js';
import { securityPlugin } from './security.plugin.js';
import { securityPersonalData, securityRetentionRules } from './security.privacy.js';
import { createSecurityRepository } from './security.repository.js';
import { securityRoutes } from './security.routes.js';
import { BLOCKS_CHANNEL, createSecurityService, type SecurityService } from './security.service.js';

export { inspectValue } from './detect/index.js';
export type { InspectionRouteConfig } from './security.plugin.js';
export { LOGIN_FAILURE_POINTS, POINTS, type SecurityService } from './security.service.js';

const ALERT_INTERVAL_MS = 30_000;

/**
 * Security monitoring: request inspection (a plugin the app registers after the rate limiter),
 * security events, decaying per-address scores and escalating blocks, admin routes under
 * /admin/security, and alerts to admins by email and signed webhook, in digests.
 */
export function createSecurityModule(
  platform: Platform,
  deps: {
    audit: AuditService;
    notifications: Parameters<typeof createSecurityAlerts>[0]['notifications'];
    adminIds: (db: Db) => Promise<string[]>;
  },
): ModuleDescriptor<'security', SecurityService> & {
  jobs: { securityAlerts: PeriodicJob<{ sent: number; held: number }> };
  plugin: typeof securityPlugin;
  pluginOptions: Parameters<typeof securityPlugin>[1];
} {
  const { config, db, clock, ids, kv, metrics } = platform;
  const logger = platform.logger.child({ component: 'security' });
  const repository = createSecurityRepository();
  const alerts = createSecurityAlerts({
    db,
    repository,
    clock,
    ids,
    logger,
    outbox: platform.outbox,
    notifications: deps.notifications,
    adminIds: deps.adminIds,
    digestMs: config.security.alertDigestMs,
    webhook: config.security.alertWebhook,
    webhookTimeoutMs: 10_000,
  });
  const service = createSecurityService({
    db,
    repository,
    kv,
    clock,
    ids,
    logger,
    metrics,
    audit: deps.audit,
    config: config.security,
    alerts,
  });
  const alertJob = createPeriodicJob({
    name: 'securityAlerts',
    intervalMs: Math.min(ALERT_INTERVAL_MS, config.security.alertDigestMs),
    run: () => alerts.deliver(),
    logger,
  });
  let unsubscribe: (() => Promise<void>) | undefined;
  platform.events.subscribe('security.signal', (signal) =>
    service.signal({}, { type: signal.type, severity: signal.severity, rule: signal.rule, detail: signal.detail }),
  );

  return {
    name: 'security',
    service,
    plugin: securityPlugin,
    pluginOptions: { security: service, metrics, mode: config.security.inspection },
    routes: async (api) => api.register(securityRoutes, { security: service, repository, db, clock }),
    dataMap: securityPersonalData(repository),
    retention: securityRetentionRules(repository, config.security.eventRetentionDays),
    outboxHandlers: [{ type: ALERT_WEBHOOK, handle: (payload) => alerts.postWebhook(payload) }],
    jobs: { securityAlerts: alertJob },
    async start() {
      unsubscribe = await kv.subscribe(BLOCKS_CHANNEL, (raw) => service.receive(raw));
      await service.start();
    },
    async close() {
      await unsubscribe?.();
      await alerts.settled();
      await service.close();
    },
  };
}
