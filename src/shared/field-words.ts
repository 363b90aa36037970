/** The lower-case words of a field name: `medical_history`, `hpvResult`, `pap-smear` → words. */
export function fieldWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * Words that make a field name medical wherever they appear (diagnoses, history, prescriptions
 * and medication, screening, symptoms, conditions): the profile refuses such fields and the
 * analytics sanitiser removes such properties.
 */
export const MEDICAL_WORDS: ReadonlySet<string> = new Set([
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

/** Medical in a profile field (`test_result`), but in an event property only together (`results: 12` is a count). */
export const TEST_RESULT_WORDS: ReadonlySet<string> = new Set(['test', 'tests', 'result', 'results']);
