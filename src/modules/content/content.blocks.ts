import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { ContentRepository } from './content.repository.js';
import type { AudienceRules, ContentTier, ContentType } from './content.tables.js';

export type BlockType = Extract<ContentType, 'diet_block' | 'protection_block'>;

/** A published building block, as the recommendations engine composes plans from it. */
export interface PublishedBlock {
  id: string;
  slug: string;
  type: BlockType;
  title: string;
  summary: string;
  tags: string[];
  audience: AudienceRules;
  tier: ContentTier;
  locale: string;
  body: string;
}

/** The diet and protection blocks personal plans are composed from. */
export function createContentBlocks(deps: { db: Db; repository: ContentRepository; clock: Clock }) {
  const { db, repository, clock } = deps;
  return {
    /** Published blocks of these types whose schedule has come; premium ones too (the composer gates them). */
    async publishedBlocks(types: BlockType[]): Promise<PublishedBlock[]> {
      const rows = await repository.visibleOfTypes(db, types, clock.now());
      return rows.map(({ item, version }) => ({
        id: item.id,
        slug: item.slug,
        type: item.type as BlockType,
        title: version.title,
        summary: version.summary,
        tags: version.tags,
        audience: version.audience,
        tier: version.tier,
        locale: version.locale,
        body: version.body,
      }));
    },
  };
}
