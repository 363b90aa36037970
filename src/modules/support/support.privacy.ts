import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { SupportRepository } from './support.repository.js';
import { supportRequestToPublic } from './support.service.js';

/** Support requests, exported as written; erased with the account. */
export function supportPersonalData(repository: SupportRepository): PersonalDataEntry {
  return {
    module: 'support',
    description: 'Your support requests (subject, message, time)',
    purposes: ['answering your questions'],
    legalBasis: 'contract',
    retention: 'until you erase your account',
    tables: ['support_requests'],
    async export(tx, userId) {
      return (await repository.list(tx, { userId, limit: 10_000 })).map(supportRequestToPublic);
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deleteFor(tx, userId) };
    },
  };
}
