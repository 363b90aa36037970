import { fieldWords, MEDICAL_WORDS, TEST_RESULT_WORDS } from '../../shared/field-words.js';

/**
 * What never reaches `product_events`: properties named like personal data or medical data
 * are removed, and values that look like an email, a phone number or a street address are
 * masked. Runs on every event, server or client, before storage.
 */

// Words that make a property personal data wherever they appear in its name.
const PERSONAL_WORDS = new Set([
  'email',
  'mail',
  'phone',
  'mobile',
  'msisdn',
  'telephone',
  'tel',
  'address',
  'street',
  'postcode',
  'postal',
  'zip',
  'ip',
  'useragent',
  'ua',
  'password',
  'token',
  'ssn',
  'passport',
  'iban',
  'dob',
  'birthday',
  'birthdate',
  'latitude',
  'longitude',
  'lat',
  'lng',
  'surname',
  'username',
  'firstname',
  'lastname',
  'fullname',
]);
// `name` alone or with a person's qualifier (`first_name`, `display_name`), not `event_name`.
const NAME_QUALIFIERS = new Set([
  'first',
  'last',
  'full',
  'middle',
  'given',
  'family',
  'user',
  'display',
  'real',
  'maiden',
]);

// Property names repeat across events: each is judged once (bounded, so odd names cannot grow it).
const verdicts = new Map<string, 'personal' | 'medical' | undefined>();
const MAX_VERDICTS = 10_000;

/** Why a property is removed: `personal`, `medical`, or undefined when it stays. */
export function forbiddenKey(key: string): 'personal' | 'medical' | undefined {
  if (verdicts.has(key)) return verdicts.get(key);
  const verdict = judgeKey(key);
  if (verdicts.size < MAX_VERDICTS) verdicts.set(key, verdict);
  return verdict;
}

function judgeKey(key: string): 'personal' | 'medical' | undefined {
  const words = fieldWords(key);
  if (words.some((word) => PERSONAL_WORDS.has(word))) return 'personal';
  if (words.includes('user') && words.includes('agent')) return 'personal';
  const last = words.at(-1);
  if (last === 'name' && (words.length === 1 || NAME_QUALIFIERS.has(words.at(-2) as string))) return 'personal';
  if (words.some((word) => MEDICAL_WORDS.has(word))) return 'medical';
  // `test` and `result` only together: `results: 12` is a count.
  const testResult = words.filter((word) => TEST_RESULT_WORDS.has(word));
  if (testResult.some((w) => w.startsWith('test')) && testResult.some((w) => w.startsWith('result'))) return 'medical';
  return undefined;
}

const EMAIL = /[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[a-z]{2,}/gi;
// Seven or more digits, with the usual separators, optionally international.
const PHONE = /(?:\+|00)?\d[\d\s().-]{5,}\d/g;
const STREET =
  /\b\d{1,5}[a-z]?\s+(?:[a-z][a-z'.-]*\s+){0,4}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|close|court|ct|place|pl|square|sq|terrace|crescent|strasse|straße|rue|calle|via)\b\.?/gi;

function digitCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) count += 1;
  }
  return count;
}

// Ids and timestamps are digit runs too, but never a person's.
const UUID_OR_TIME =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)$/i;

/** The string with emails, phone numbers and street addresses masked. */
export function maskValue(value: string): string {
  if (UUID_OR_TIME.test(value)) return value;
  let out = value;
  // Cheap tests first: most values have no @ and few digits.
  if (out.includes('@')) out = out.replace(EMAIL, '[email]');
  const digits = digitCount(out);
  if (digits >= 7) out = out.replace(PHONE, (match) => (digitCount(match) >= 7 ? '[phone]' : match));
  if (digits >= 1) out = out.replace(STREET, '[address]');
  return out;
}

export interface SanitisedProperties {
  properties: Record<string, unknown>;
  removed: number;
  masked: number;
}

/** Removes personal and medical keys and masks personal-looking values (flat properties). */
export function sanitiseProperties(input: Record<string, unknown>): SanitisedProperties {
  let properties: Record<string, unknown> | undefined;
  let removed = 0;
  let masked = 0;
  const keys = Object.keys(input);
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i] as string;
    const value = input[key];
    const safe = forbiddenKey(key) ? undefined : typeof value === 'string' ? maskValue(value) : value;
    if (safe === value && properties === undefined) continue;
    // The first change: copy what came before it, then carry on into the copy.
    if (properties === undefined) {
      properties = {};
      for (let j = 0; j < i; j += 1) properties[keys[j] as string] = input[keys[j] as string];
    }
    if (safe === undefined && forbiddenKey(key)) removed += 1;
    else {
      if (safe !== value) masked += 1;
      properties[key] = safe;
    }
  }
  // Nothing to clean (the common case): the input itself, no copy.
  return { properties: properties ?? input, removed, masked };
}
