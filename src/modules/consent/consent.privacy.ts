import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { ConsentRepository } from './consent.repository.js';
import { consentStates, recordToPublic } from './consent.service.js';

/** Consent choices are the proof of consent: exported in full, with their history; erased with the account. */
export function consentPersonalData(repository: ConsentRepository): PersonalDataEntry {
  return {
    module: 'consent',
    description: 'Your consent choices per purpose, each change with the notice version, source, IP and time',
    purposes: ['proof of consent (GDPR Art. 7(1))', 'honouring withdrawals at send and ingest time'],
    legalBasis: 'legal obligation (demonstrating consent)',
    retention: 'for as long as the account exists; erased with it',
    tables: ['consents', 'consent_records'],
    async export(tx, userId) {
      const rows = await repository.history(tx, userId, { limit: 100_000 });
      return { current: await consentStates(repository, tx, userId), history: rows.map(recordToPublic) };
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.eraseFor(tx, userId) };
    },
  };
}
