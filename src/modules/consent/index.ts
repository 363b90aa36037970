import type { Db } from '../../infra/db/client.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import { consentPersonalData } from './consent.privacy.js';
import { createConsentRepository } from './consent.repository.js';
import { consentRoutes } from './consent.routes.js';
import { consentSeeder } from './consent.seed.js';
import { type ConsentService, createConsentService } from './consent.service.js';

export { consentGrantedFor } from './consent.repository.js';
export type { ConsentService, ConsentState } from './consent.service.js';
export { CONSENT_PURPOSES, type ConsentPurpose } from './consent.tables.js';

/** Granular consents under versioned notices, with their append-only history. */
export function createConsentModule(
  platform: Platform,
  deps: {
    audit: Pick<AuditService, 'record'>;
    track: Track;
    /** Analytics consent changed: the pseudonym's secret is made or destroyed in the same transaction. */
    onAnalyticsConsent: (tx: Db, userId: string, granted: boolean) => Promise<void>;
  },
): ModuleDescriptor<'consent', ConsentService> {
  const repository = createConsentRepository();
  const service = createConsentService({
    db: platform.db,
    repository,
    audit: deps.audit,
    track: deps.track,
    onAnalyticsConsent: deps.onAnalyticsConsent,
    events: platform.events,
    clock: platform.clock,
    ids: platform.ids,
  });
  return {
    name: 'consent',
    service,
    routes: async (api) => api.register(consentRoutes, { consent: service }),
    dataMap: consentPersonalData(repository),
    seeders: [consentSeeder],
  };
}
