const SAMPLE_LENGTH = 200;
const SECRET_FIELD = /pass(word)?|secret|token|authorization|api[_-]?key|card|cvc|cvv|iban/i;

/**
 * What of an offending value is kept as evidence: 200 characters at most, with what could
 * identify or harm someone masked — emails, runs of 6+ digits (phones, cards), JWTs, bearer
 * tokens and long keys. A value in a field named like a secret is not kept at all.
 */
export function maskSample(value: string, location: string): string {
  if (SECRET_FIELD.test(location)) return '[masked]';
  const cut = value.length > SAMPLE_LENGTH ? `${value.slice(0, SAMPLE_LENGTH)}…` : value;
  return cut
    .replace(/eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*/g, '[jwt]')
    .replace(/\b(bearer|basic)\s+[\w.~+/=-]{8,}/gi, '$1 [masked]')
    .replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, '[email]')
    .replace(/\d[\d\s-]{4,}\d/g, (run) => (run.replace(/\D/g, '').length >= 6 ? '[digits]' : run))
    .replace(/\b[A-Za-z0-9+/_-]{32,}={0,2}/g, '[key]');
}
