import type { Db } from '../../infra/db/client.js';
import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { RetentionRule } from '../../shared/retention.js';
import type { PrivacyRepository } from './privacy.repository.js';
import { exportToPublic } from './privacy.service.js';

/** The privacy module's own entry: the person's export requests (the documents go with them). */
export function privacyPersonalData(
  repository: PrivacyRepository,
  options: { exportsDays: number },
): PersonalDataEntry {
  return {
    module: 'privacy',
    description: 'Your data-export requests and the documents built for them',
    purposes: ['answering your access and portability requests'],
    legalBasis: 'legal obligation (GDPR Art. 15 and 20)',
    retention: `documents for ${options.exportsDays} days after they are built; requests until erased`,
    tables: ['data_exports'],
    async export(tx, userId) {
      return (await repository.exportsOf(tx, userId)).map((row) => exportToPublic(row, false));
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deleteExportsOf(tx, userId) };
    },
  };
}

/** Ready exports past their expiry lose their document. */
export function privacyRetentionRules(repository: PrivacyRepository): RetentionRule[] {
  return [{ name: 'privacy.expired_exports', run: (tx: Db, now: Date) => repository.expireExports(tx, now) }];
}
