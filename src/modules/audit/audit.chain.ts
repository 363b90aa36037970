import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth: the same row always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, inner]) => inner !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
}

export interface ChainedFields {
  seq: number;
  id: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  correlationId: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
}

/** A row's chained fields as the API and the hash both spell them. */
export function auditFields(row: ChainedFields) {
  return {
    seq: row.seq,
    id: row.id,
    actor_id: row.actorId,
    action: row.action,
    target_type: row.targetType,
    target_id: row.targetId,
    ip: row.ip,
    correlation_id: row.correlationId,
    details: row.details,
    created_at: row.createdAt.toISOString(),
  };
}

/** sha256(prev_hash || canonical_json(row)), hex. */
export function chainHash(prevHash: string, row: ChainedFields): string {
  return createHash('sha256')
    .update(prevHash)
    .update(canonicalJson(auditFields(row)))
    .digest('hex');
}
