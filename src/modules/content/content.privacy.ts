import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { ContentRepository } from './content.repository.js';

/** Content holds one thing about a person: which items the person opened, and when. */
export function contentPersonalData(repository: ContentRepository): PersonalDataEntry {
  return {
    module: 'content',
    description: 'Which articles, tips and plan blocks you opened, and when',
    purposes: ['content performance in aggregate', 'counting premium use'],
    legalBasis: 'legitimate interest (knowing which guidance is read)',
    retention: 'for as long as the account exists; erased with it',
    tables: ['content_views'],
    async export(tx, userId) {
      const views = await repository.viewsOf(tx, userId);
      return views.map((view) => ({ slug: view.slug, viewed_at: view.viewedAt.toISOString() }));
    },
    async erase(tx, userId) {
      return { action: 'deleted', rows: await repository.deleteViewsOf(tx, userId) };
    },
  };
}
