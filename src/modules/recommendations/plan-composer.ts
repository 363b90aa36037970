import type { ProfileFacts } from '../profiles/index.js';

export type BlockType = 'diet_block' | 'protection_block';

/** A published building block as the content module gives it. */
export interface PlanBlock {
  id: string;
  slug: string;
  type: BlockType;
  title: string;
  summary: string;
  body: string;
  tags: string[];
  tier: 'free' | 'premium';
  audience: {
    min_age?: number;
    max_age?: number;
    diets?: string[];
    activity_levels?: string[];
    countries?: string[];
  };
}

export interface PlanItem {
  id: string;
  slug: string;
  title: string;
  summary: string;
  body: string;
  tags: string[];
  tier: 'free' | 'premium';
  /** Why it was chosen: the profile facts it matched, or that it is for everyone. */
  why: string[];
}

export interface ComposedPlan {
  personalised: boolean;
  items: PlanItem[];
  /** Profile fields that would bring more specific blocks into this plan. */
  would_personalise: string[];
}

const FACT_OF_RULE = {
  min_age: 'age',
  max_age: 'age',
  diets: 'diet_preference',
  activity_levels: 'activity_level',
  countries: 'country',
} as const;

/** The reasons a block fits the facts, or undefined when a rule fails or needs a fact the person has not given. */
function match(block: PlanBlock, facts: ProfileFacts): string[] | undefined {
  const { audience } = block;
  const why: string[] = [];
  if (audience.min_age !== undefined || audience.max_age !== undefined) {
    if (facts.age === undefined) return undefined;
    if (audience.min_age !== undefined && facts.age < audience.min_age) return undefined;
    if (audience.max_age !== undefined && facts.age > audience.max_age) return undefined;
    const range =
      audience.min_age !== undefined && audience.max_age !== undefined
        ? `${audience.min_age}–${audience.max_age}`
        : audience.min_age !== undefined
          ? `${audience.min_age} or over`
          : `up to ${audience.max_age}`;
    why.push(`your age (${facts.age}) is in ${range}`);
  }
  if (audience.diets?.length) {
    if (!facts.diet_preference || !audience.diets.includes(facts.diet_preference)) return undefined;
    why.push(`your diet is ${facts.diet_preference.replaceAll('_', ' ')}`);
  }
  if (audience.activity_levels?.length) {
    if (!facts.activity_level || !audience.activity_levels.includes(facts.activity_level)) return undefined;
    why.push(`your activity level is ${facts.activity_level}`);
  }
  if (audience.countries?.length) {
    if (!facts.country || !audience.countries.includes(facts.country)) return undefined;
    why.push(`you live in ${facts.country}`);
  }
  return why;
}

/**
 * Composes a plan from building blocks, deterministically: every block whose audience rules
 * all hold for the person's facts, most specific first (then by slug). Blocks with no rules are general
 * guidance and always come; blocks whose rules need a fact the person has not given are left out, and
 * that fact is named in `would_personalise`. Premium blocks only when `premium`.
 */
export function composePlan(blocks: PlanBlock[], facts: ProfileFacts, options: { premium: boolean }): ComposedPlan {
  const wouldPersonalise = new Set<string>();
  const chosen: { item: PlanItem; specificity: number }[] = [];
  for (const block of blocks) {
    if (block.tier === 'premium' && !options.premium) continue;
    for (const [rule, fact] of Object.entries(FACT_OF_RULE)) {
      const value = block.audience[rule as keyof PlanBlock['audience']];
      const given = Array.isArray(value) ? value.length > 0 : value !== undefined;
      if (given && facts[fact] === undefined) wouldPersonalise.add(fact);
    }
    const why = match(block, facts);
    if (!why) continue;
    chosen.push({
      item: {
        id: block.id,
        slug: block.slug,
        title: block.title,
        summary: block.summary,
        body: block.body,
        tags: block.tags,
        tier: block.tier,
        why: why.length ? why : ['general guidance for everyone'],
      },
      specificity: why.length,
    });
  }
  chosen.sort((a, b) => b.specificity - a.specificity || a.item.slug.localeCompare(b.item.slug));
  return {
    personalised: chosen.some((entry) => entry.specificity > 0),
    items: chosen.map((entry) => entry.item),
    would_personalise: [...wouldPersonalise].sort(),
  };
}
