import { createHmac } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { DeliveryContext, Outbox } from '../../infra/outbox/outbox.js';
import type { Actor } from '../../shared/actor.js';
import type { DataMap, ErasureOutcome } from '../../shared/data-map.js';
import type { AuditService } from '../audit/index.js';
import { type IdentityService, isErased } from '../identity/index.js';
import type { PrivacyRepository } from './privacy.repository.js';
import type { DataExportRow } from './privacy.tables.js';

export const EXPORT_FORMAT = 'care-platform.data-export/v1';
const EXPORT_OUTBOX_TYPE = 'privacy.export';
const EXPORT_MAX_ATTEMPTS = 3;
const DAY_MS = 86_400_000;

export interface ErasureReceipt {
  receipt_id: string;
  erased_at: string;
  modules: Record<string, ErasureOutcome>;
}

export const exportToPublic = (row: DataExportRow, withDocument: boolean) => ({
  id: row.id,
  status: row.status,
  requested_at: row.requestedAt.toISOString(),
  completed_at: row.completedAt?.toISOString() ?? null,
  expires_at: row.expiresAt?.toISOString() ?? null,
  ...(withDocument ? { document: row.document ?? null } : {}),
});

/**
 * GDPR rights over the data map every module registers into: access and portability (a JSON
 * export built by a worker), and erasure (every module in one transaction, with a receipt).
 */
export function createPrivacyService(deps: {
  db: Db;
  repository: PrivacyRepository;
  dataMap: DataMap;
  outbox: Pick<Outbox, 'enqueue'>;
  audit: Pick<AuditService, 'record'>;
  identity: Pick<IdentityService, 'confirmPassword' | 'endAllAccess' | 'getAccount'>;
  clock: Clock;
  ids: IdGenerator;
  /** Keys the receipt's subject hash; receipts can be matched to a former id, and to nothing else. */
  receiptKey: string;
  exportsDays: number;
}) {
  const { db, repository, dataMap, clock, ids } = deps;
  const subjectHash = (userId: string) => createHmac('sha256', deps.receiptKey).update(userId).digest('hex');

  const buildDocument = async (tx: Db, userId: string) => {
    const sections: Record<string, unknown> = {};
    for (const entry of dataMap.entries()) {
      sections[entry.module] = {
        description: entry.description,
        purposes: entry.purposes,
        legal_basis: entry.legalBasis,
        retention: entry.retention,
        data: await entry.export(tx, userId),
      };
    }
    return {
      format: EXPORT_FORMAT,
      generated_at: clock.now().toISOString(),
      subject: { user_id: userId },
      rights:
        'You may ask for this copy at any time, free of charge (GDPR Art. 15 and 20), and erase your account with DELETE /api/v1/me (Art. 17).',
      sections,
    };
  };

  /** The outbox handler: builds the document in one consistent snapshot and stores it. */
  const runExport = async (payload: Record<string, unknown>, context: DeliveryContext) => {
    const exportId = String(payload.export_id);
    const job = await repository.findExport(db, exportId);
    if (job?.status !== 'pending') return;
    try {
      await inTransaction(
        db,
        async (tx) => {
          const document = await buildDocument(tx, job.userId);
          const now = clock.now();
          await repository.completeExport(tx, exportId, {
            status: 'ready',
            document,
            error: null,
            completedAt: now,
            expiresAt: new Date(now.getTime() + deps.exportsDays * DAY_MS),
          });
        },
        { isolationLevel: 'repeatable read' },
      );
    } catch (error) {
      if (context.attempt < EXPORT_MAX_ATTEMPTS) throw error;
      await repository.completeExport(db, exportId, {
        status: 'failed',
        document: null,
        error: 'the export could not be built; request a new one',
        completedAt: clock.now(),
        expiresAt: null,
      });
    }
  };

  const erase = async (
    userId: string,
    by: { actor: Actor; requestedBy: 'self' | 'admin'; reason?: string },
  ): Promise<ErasureReceipt> => {
    const receipt = await inTransaction(db, async (tx) => {
      const modules: Record<string, ErasureOutcome> = {};
      for (const entry of dataMap.entries()) modules[entry.module] = await entry.erase(tx, userId);
      const receiptId = ids();
      const erasedAt = clock.now();
      await repository.insertReceipt(tx, {
        id: receiptId,
        subjectHash: subjectHash(userId),
        requestedBy: by.requestedBy,
        summary: modules as unknown as Record<string, unknown>,
        erasedAt,
      });
      await deps.audit.record(
        tx,
        { actorId: by.actor.id, ip: by.actor.ip, correlationId: by.actor.correlationId },
        {
          action: 'privacy.erased',
          targetType: 'user',
          targetId: userId,
          details: { requested_by: by.requestedBy, receipt_id: receiptId, reason: by.reason },
        },
      );
      return { receipt_id: receiptId, erased_at: erasedAt.toISOString(), modules };
    });
    await deps.identity.endAllAccess(userId);
    return receipt;
  };

  return {
    /** The outbox handler that builds a requested export. */
    runExport,
    exportDelivery: { type: EXPORT_OUTBOX_TYPE, options: { maxAttempts: EXPORT_MAX_ATTEMPTS } },

    async requestExport(actor: Actor) {
      return inTransaction(db, async (tx) => {
        // One at a time: asking again while one is being built returns that one.
        const pending = await repository.pendingExportOf(tx, actor.id);
        if (pending) return exportToPublic(pending, false);
        const row = await repository.insertExport(tx, {
          id: ids(),
          userId: actor.id,
          status: 'pending',
          requestedAt: clock.now(),
        });
        await deps.outbox.enqueue(tx, { type: EXPORT_OUTBOX_TYPE, payload: { export_id: row.id } });
        await deps.audit.record(
          tx,
          { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
          { action: 'privacy.export_requested', targetType: 'data_export', targetId: row.id },
        );
        return exportToPublic(row, false);
      });
    },

    async getExport(actor: Actor, exportId: string) {
      const row = await repository.findExport(db, exportId);
      // Someone else's export looks exactly like none.
      if (!row || row.userId !== actor.id) throw new AppError('NOT_FOUND', 'Export not found');
      return exportToPublic(row, true);
    },

    /** DELETE /me: the person's password again, then everything, in one transaction. */
    async eraseSelf(actor: Actor, password: string): Promise<ErasureReceipt> {
      await deps.identity.confirmPassword(actor, password);
      return erase(actor.id, { actor, requestedBy: 'self' });
    },

    async adminErase(actor: Actor, userId: string, reason?: string): Promise<ErasureReceipt> {
      if (userId === actor.id) {
        throw new AppError('CONFLICT', 'Erase your own account with DELETE /api/v1/me');
      }
      const account = await deps.identity.getAccount(userId);
      if (!account) throw new AppError('NOT_FOUND', 'User not found');
      if (isErased(account)) throw new AppError('CONFLICT', 'This account was already erased');
      return erase(userId, { actor, requestedBy: 'admin', reason });
    },
  };
}

export type PrivacyService = ReturnType<typeof createPrivacyService>;
