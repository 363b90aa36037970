import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { OnboardingService } from './onboarding.service.js';

/** Provider applications: exported as sent, deleted with the account. */
export function onboardingPersonalData(onboarding: OnboardingService): PersonalDataEntry {
  return {
    module: 'onboarding',
    description: 'Your applications to become a provider (business details, categories, documents, the decision)',
    purposes: ['deciding whether you may offer services'],
    legalBasis: 'contract',
    retention: 'until you erase your account',
    tables: ['provider_applications'],
    export: (tx, userId) => onboarding.exportFor(tx, userId),
    async erase(tx, userId) {
      return { action: 'deleted', rows: await onboarding.eraseFor(tx, userId) };
    },
  };
}
