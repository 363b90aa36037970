import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import { profilesPersonalData } from './profiles.privacy.js';
import { createProfilesRepository } from './profiles.repository.js';
import { profilesRoutes } from './profiles.routes.js';
import { createProfilesService, type ProfilesService } from './profiles.service.js';

export { countryOfUser } from './profiles.repository.js';
export type { ProfileFacts, ProfilesService } from './profiles.service.js';
export {
  ACTIVITY_LEVELS,
  type ActivityLevel,
  DIET_PREFERENCES,
  type DietPreference,
} from './profiles.tables.js';

/** The lifestyle profile (never medical data); a change goes on the event bus. */
export function createProfilesModule(
  platform: Platform,
  deps: { track: Track },
): ModuleDescriptor<'profiles', ProfilesService> {
  const repository = createProfilesRepository();
  const service = createProfilesService({
    db: platform.db,
    repository,
    track: deps.track,
    clock: platform.clock,
    events: platform.events,
  });
  return {
    name: 'profiles',
    service,
    routes: async (api) => api.register(profilesRoutes, { profiles: service }),
    dataMap: profilesPersonalData({ repository, clock: platform.clock, events: platform.events }),
  };
}
