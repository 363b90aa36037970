export type ThreatType =
  | 'sql_injection'
  | 'xss'
  | 'path_traversal'
  | 'command_injection'
  | 'code_injection'
  | 'ssrf'
  | 'scanner';

export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** One rule that matched one value. */
export interface Finding {
  type: ThreatType;
  severity: Severity;
  /** The rule's stable name, e.g. `sqli.union_select`. */
  rule: string;
}

export const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
