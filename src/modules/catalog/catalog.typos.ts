/**
 * The typo fallback of search, run when full text finds nothing: each word of the query of 3
 * letters or more matches itself as a prefix ("physio" finds "physiotherapy") or any word of a
 * service or category name one edit away: one letter missing, added, changed, or two neighbours
 * swapped ("Sprts" finds "Sports massage", "masage" and "massge" find "massage"; a word of three
 * letters only by a missing letter: "bck" finds "back"). The candidates come from an index look-up of the query word's single-letter deletions
 * in the vocabulary (catalog.tables.ts searchVocabulary); this file keeps those truly one edit
 * away and writes the tsquery that searches with them.
 */

/** A shorter word matches only as itself: as a prefix, or one edit away, it would match nearly anything. */
export const MIN_TYPO_LETTERS = 3;
/**
 * Below this length a word is corrected only by the letter it is missing ("bck" finds "back"):
 * one letter changed, added or swapped in three reaches too many words ("cat" would find "cbt",
 * "fat" "mat").
 */
const MIN_ANY_EDIT_LETTERS = 4;

/** Whether `near` may stand for the query word `word`. */
const correction = (word: string, near: string) => {
  const length = [...word].length;
  return withinOneEdit(word, near) && (length >= MIN_ANY_EDIT_LETTERS || [...near].length === length + 1);
};

/** Whether `a` becomes `b` by at most one insertion, deletion, substitution or swap of neighbours. */
export function withinOneEdit(a: string, b: string): boolean {
  if (a === b) return true;
  const x = [...a];
  const y = [...b];
  if (Math.abs(x.length - y.length) > 1) return false;
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  const rest = (from: string[], start: number) => from.slice(start).join('');
  if (x.length === y.length) {
    if (rest(x, i + 1) === rest(y, i + 1)) return true; // substitution
    return x[i] === y[i + 1] && x[i + 1] === y[i] && rest(x, i + 2) === rest(y, i + 2); // swap
  }
  const [longer, shorter] = x.length > y.length ? [x, y] : [y, x];
  return rest(longer, i + 1) === rest(shorter, i); // one letter more in the longer
}

/** A lexeme as a tsquery operand: quoted, with its quotes and backslashes escaped. */
const operand = (lexeme: string) => `'${lexeme.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/**
 * The tsquery of the typo fallback from the query's words and their vocabulary candidates
 * (repository.nearWords): every word must match, each as itself (a prefix from 3 letters) or as
 * one of its candidates one edit away. Undefined when the query has no words.
 */
export function typoTsquery(rows: { word: string; near: string | null }[]): string | undefined {
  const alternatives = new Map<string, Set<string>>();
  for (const { word, near } of rows) {
    let options = alternatives.get(word);
    if (!options) {
      options = new Set([word.length >= MIN_TYPO_LETTERS ? `${operand(word)}:*` : operand(word)]);
      alternatives.set(word, options);
    }
    if (near !== null && near !== word && correction(word, near)) options.add(operand(near));
  }
  if (alternatives.size === 0) return undefined;
  return [...alternatives.values()].map((options) => `(${[...options].join(' | ')})`).join(' & ');
}
