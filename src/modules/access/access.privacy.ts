import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { AccessRepository } from './access.repository.js';

/** Access keeps one thing about a person: how often each premium feature was used. */
export function accessPersonalData(repository: AccessRepository): PersonalDataEntry {
  return {
    module: 'access',
    description: 'How often you used each premium feature, and when last',
    purposes: ['plan entitlements', 'premium feature usage counts'],
    legalBasis: 'contract (your plan)',
    retention: 'for as long as the account exists; erased with it',
    tables: ['premium_feature_usage'],
    async export(tx, userId) {
      const rows = await repository.premiumUsage(tx, userId);
      return rows.map((row) => ({
        feature: row.featureName,
        uses: row.usageCount,
        last_used_at: row.lastUsedAt.toISOString(),
      }));
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deletePremiumUsage(tx, userId) };
    },
  };
}
