import type { Clock } from '../../infra/clock.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { EventBus } from '../../shared/events.js';
import type { ProfilesRepository } from './profiles.repository.js';
import { profileToPublic } from './profiles.service.js';

/** The lifestyle profile, exported as the person sees it; erasing it makes cached plans stale. */
export function profilesPersonalData(deps: {
  repository: ProfilesRepository;
  clock: Clock;
  events: Pick<EventBus, 'publish'>;
}): PersonalDataEntry {
  const { repository, clock } = deps;
  return {
    module: 'profiles',
    description:
      'Your lifestyle profile: age or birth year, gender, country and region, diet, activity level, language',
    purposes: ['personalising your diet and protection plans and content'],
    legalBasis: 'consent (data_processing) and contract',
    retention: 'until you change it or erase your account',
    tables: ['wellness_profiles'],
    async export(tx, userId) {
      const row = await repository.find(tx, userId);
      return row ? profileToPublic(row, clock.now()) : null;
    },
    async erase(tx, userId) {
      const rows = await repository.delete(tx, userId);
      await deps.events.publish('profile.changed', { userId });
      return { action: 'deleted', rows };
    },
  };
}
