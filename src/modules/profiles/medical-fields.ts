import { fieldWords, MEDICAL_WORDS, TEST_RESULT_WORDS } from '../../shared/field-words.js';

/**
 * The medical-looking field names in a request body (top level and nested), for the error: a
 * medical word, or `test`/`result`, among the words of a name (`medical_history`, `hpvResult`,
 * `pap-smear`, `test_date`). This product never collects medical data.
 */
export function medicalFields(body: unknown, prefix = 'body', depth = 0): string[] {
  if (body === null || typeof body !== 'object' || depth > 4) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    const path = `${prefix}.${key}`;
    if (fieldWords(key).some((word) => MEDICAL_WORDS.has(word) || TEST_RESULT_WORDS.has(word))) found.push(path);
    else found.push(...medicalFields(value, path, depth + 1));
  }
  return found;
}
