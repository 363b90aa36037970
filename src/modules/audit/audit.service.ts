import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { CallContext } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import { chainHash, GENESIS_HASH } from './audit.chain.js';
import type { AuditFilters, AuditRepository } from './audit.repository.js';
import type { AuditRow } from './audit.tables.js';

/** Who did it and from where; people by id only. */
export interface AuditContext {
  actorId: string | null;
  ip?: string | null;
  correlationId?: string | null;
}

/**
 * Who acted and from where, for the audit trail: the caller (an actor) by default, or `actorId`
 * given explicitly (null when no known account acted: a sign-in with an unknown email, the CLI).
 */
export function auditContextOf(
  caller: CallContext & { id?: string },
  actorId: string | null = caller.id ?? null,
): AuditContext {
  return { actorId, ip: caller.ip, correlationId: caller.correlationId };
}

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  /** Sanitised: ids, flags and reasons, never email, phone, names or secrets. */
  details?: Record<string, unknown>;
}

export interface VerifyResult {
  valid: boolean;
  checked: number;
  /** The first row that does not fit the chain, and why. */
  broken?: { seq: number; id: string | null; reason: string };
}

const PERSONAL_KEYS = /email|phone|name|password|token|secret|address/i;

/** Drops keys that could carry personal data or secrets: the chain can never be edited later. */
function sanitiseDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (PERSONAL_KEYS.test(key) || value === undefined) continue;
    out[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? sanitiseDetails(value as Record<string, unknown>)
        : value;
  }
  return out;
}

export function createAuditService(deps: {
  db: Db;
  repository: AuditRepository;
  clock: Clock;
  ids: IdGenerator;
  events?: Pick<EventBus, 'publish'>;
}) {
  const { repository } = deps;
  const service = {
    /**
     * Appends one row in the caller's transaction, so it exists exactly when the change does.
     * Concurrent writers queue on an advisory lock at the head, so they always form one chain.
     */
    async record(tx: Db, context: AuditContext, entry: AuditEntry): Promise<void> {
      const head = await repository.lockHead(tx);
      const row = {
        id: deps.ids(),
        seq: (head?.seq ?? 0) + 1,
        actorId: context.actorId,
        action: entry.action,
        targetType: entry.targetType ?? null,
        targetId: entry.targetId ?? null,
        ip: context.ip ?? null,
        correlationId: context.correlationId ?? null,
        details: sanitiseDetails(entry.details ?? {}),
        createdAt: deps.clock.now(),
      };
      const prevHash = head?.hash ?? GENESIS_HASH;
      await repository.insert(tx, { ...row, prevHash, hash: chainHash(prevHash, row) });
    },

    async list(filters: AuditFilters): Promise<AuditRow[]> {
      return repository.list(deps.db, filters);
    },

    /** Re-walks the whole chain; names the first edited, inserted or removed row; a break alerts the admins. */
    async verify(): Promise<VerifyResult> {
      const result = await service.walk();
      if (!result.valid && result.broken) {
        await deps.events?.publish('security.signal', {
          type: 'audit_chain',
          severity: 'critical',
          rule: 'audit.chain_broken',
          detail: `row ${result.broken.seq}: ${result.broken.reason}`,
        });
      }
      return result;
    },

    async walk(): Promise<VerifyResult> {
      let expectedPrev = GENESIS_HASH;
      let expectedSeq = 1;
      let checked = 0;
      const head = await repository.head(deps.db);
      for (;;) {
        const rows = await repository.page(deps.db, expectedSeq - 1, 1000);
        if (rows.length === 0) {
          const lastSeq = expectedSeq - 1;
          // Rows appended while this walk ran are newer than the head read first: not a gap.
          if (head && (head.seq > lastSeq || (head.seq === lastSeq && head.hash !== expectedPrev))) {
            return {
              valid: false,
              checked,
              broken: {
                seq: lastSeq + 1,
                id: null,
                reason: `rows ${lastSeq + 1} to ${head.seq} are missing from the end of the chain`,
              },
            };
          }
          return { valid: true, checked };
        }
        for (const row of rows) {
          if (row.seq !== expectedSeq) {
            return {
              valid: false,
              checked,
              broken: {
                seq: expectedSeq,
                id: null,
                reason: `row ${expectedSeq} is missing (the next row is ${row.seq}, id ${row.id})`,
              },
            };
          }
          if (row.prevHash !== expectedPrev) {
            return {
              valid: false,
              checked,
              broken: { seq: row.seq, id: row.id, reason: 'prev_hash does not match the previous row' },
            };
          }
          if (chainHash(row.prevHash, row) !== row.hash) {
            return {
              valid: false,
              checked,
              broken: { seq: row.seq, id: row.id, reason: 'row content does not match its hash (edited)' },
            };
          }
          expectedPrev = row.hash;
          expectedSeq += 1;
          checked += 1;
        }
      }
    },
  };
  return service;
}

export type AuditService = ReturnType<typeof createAuditService>;
