import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { onboardingPersonalData } from './onboarding.privacy.js';
import { onboardingRoutes } from './onboarding.routes.js';
import { onboardingSeeder } from './onboarding.seed.js';
import { createOnboardingService, type OnboardingService } from './onboarding.service.js';

export type { OnboardingService } from './onboarding.service.js';

/** Becoming a provider: apply, be reviewed by an admin, become a verified provider (or be told why not). */
export function createOnboardingModule(
  platform: Platform,
  deps: Omit<Parameters<typeof createOnboardingService>[0], 'db' | 'clock' | 'ids'>,
): ModuleDescriptor<'onboarding', OnboardingService> {
  const service = createOnboardingService({ db: platform.db, clock: platform.clock, ids: platform.ids, ...deps });
  return {
    name: 'onboarding',
    service,
    routes: async (api) => api.register(onboardingRoutes, { onboarding: service }),
    dataMap: onboardingPersonalData(service),
    seeders: [onboardingSeeder],
  };
}
