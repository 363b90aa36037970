export { createProfilesRepository } from './profiles.repository.js';
export { profilesRoutes } from './profiles.routes.js';
export { createProfilesService, type ProfileFacts, type ProfilesService } from './profiles.service.js';
export {
  ACTIVITY_LEVELS,
  type ActivityLevel,
  DIET_PREFERENCES,
  type DietPreference,
} from './profiles.tables.js';
