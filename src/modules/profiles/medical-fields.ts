import { fieldWords } from '../../shared/field-words.js';

/**
 * Field names that would carry medical data, which this product never collects: diagnoses,
 * history, prescriptions and medication, test or screening results, symptoms, conditions.
 * Matched on the words of a field name (`medical_history`, `hpvResult`, `pap-smear`).
 */
const MEDICAL_WORDS = new Set([
  'diagnosis',
  'diagnoses',
  'diagnosed',
  'history',
  'medical',
  'prescription',
  'prescriptions',
  'medication',
  'medications',
  'medicine',
  'drug',
  'drugs',
  'symptom',
  'symptoms',
  'condition',
  'conditions',
  'disease',
  'diseases',
  'illness',
  'treatment',
  'treatments',
  'result',
  'results',
  'test',
  'tests',
  'screening',
  'biopsy',
  'smear',
  'pap',
  'hpv',
  'cytology',
  'colposcopy',
  'cancer',
  'lesion',
  'pregnancy',
  'pregnant',
  'allergy',
  'allergies',
  'blood',
  'lab',
  'labs',
]);

/** The medical-looking field names in a request body (top level and nested), for the error. */
export function medicalFields(body: unknown, prefix = 'body', depth = 0): string[] {
  if (body === null || typeof body !== 'object' || depth > 4) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    const path = `${prefix}.${key}`;
    if (fieldWords(key).some((word) => MEDICAL_WORDS.has(word))) found.push(path);
    else found.push(...medicalFields(value, path, depth + 1));
  }
  return found;
}
