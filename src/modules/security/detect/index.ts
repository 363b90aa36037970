import { isPlain, mayCarryAttack, normalise } from './normalise.js';
import { detectSql } from './sql.js';
import type { Finding } from './types.js';
import { detectCode, detectCommand, detectSsrf, detectTraversal, detectXss } from './web.js';

export { isPlain, normalise } from './normalise.js';
export { type Finding, SEVERITY_RANK, type Severity, type ThreatType } from './types.js';
export { detectProbe, detectScanner, detectTraversal } from './web.js';

const MAX_INSPECTED = 2048;

/**
 * Every rule set over one value (a query parameter, a path, a JSON string): the most severe
 * finding, or undefined. Plain values (ids, slugs, numbers, emails) return at once. `urls: false`
 * skips the SSRF rule, for values that are URLs nobody fetches (a Referer).
 */
export function inspectValue(raw: string, options: { urls?: boolean } = {}): Finding | undefined {
  if (raw.length === 0 || isPlain(raw) || !mayCarryAttack(raw)) return undefined;
  // Long text is inspected at its start and end: payloads are short, and the cost stays bounded.
  const clipped =
    raw.length > MAX_INSPECTED ? `${raw.slice(0, MAX_INSPECTED / 2)}\n${raw.slice(-MAX_INSPECTED / 2)}` : raw;
  const text = normalise(clipped);
  return (
    detectSql(text) ??
    detectCommand(text) ??
    detectCode(text) ??
    detectXss(text) ??
    detectTraversal(text) ??
    (options.urls === false ? undefined : detectSsrf(text))
  );
}
