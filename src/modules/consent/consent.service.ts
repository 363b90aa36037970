import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor, CallContext } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import type { ConsentRepository } from './consent.repository.js';
import {
  CONSENT_PURPOSES,
  type ConsentNoticeRow,
  type ConsentPurpose,
  type ConsentRecordRow,
  type ConsentSource,
} from './consent.tables.js';

export interface ConsentState {
  purpose: ConsentPurpose;
  granted: boolean;
  /** The notice version the person last answered; null = never asked. */
  notice_version: number | null;
  current_notice_version: number;
  /** Granted under an older notice: the person is asked again, and until then it counts as not given. */
  needs_renewal: boolean;
  updated_at: string | null;
}

const noticeToPublic = (notice: ConsentNoticeRow) => ({
  id: notice.id,
  purpose: notice.purpose,
  version: notice.version,
  title: notice.title,
  body: notice.body,
  published_at: notice.publishedAt.toISOString(),
});

export const recordToPublic = (record: ConsentRecordRow) => ({
  id: record.id,
  purpose: record.purpose,
  granted: record.granted,
  notice_version: record.noticeVersion,
  source: record.source,
  created_at: record.createdAt.toISOString(),
});

/** The person's answer for every purpose, against each purpose's newest notice. */
export async function consentStates(repository: ConsentRepository, tx: Db, userId: string): Promise<ConsentState[]> {
  const [notices, rows] = await Promise.all([repository.latestNotices(tx), repository.states(tx, userId)]);
  return CONSENT_PURPOSES.map((purpose) => {
    const current = notices.find((notice) => notice.purpose === purpose)?.version ?? 0;
    const row = rows.find((r) => r.purpose === purpose);
    return {
      purpose,
      granted: row?.granted ?? false,
      notice_version: row?.noticeVersion ?? null,
      current_notice_version: current,
      needs_renewal: row?.granted === true && row.noticeVersion < current,
      updated_at: row?.updatedAt.toISOString() ?? null,
    };
  });
}

/**
 * The consent ledger. Nothing but `data_processing` (recorded at signup) is on until the
 * person turns it on; every change appends to the history and updates the current state in
 * one transaction; `has` is what other modules ask at send or ingest time.
 */
export function createConsentService(deps: {
  db: Db;
  repository: ConsentRepository;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  /** Analytics consent changed: analytics makes or destroys the pseudonym's secret, in this transaction. */
  onAnalyticsConsent?: (tx: Db, userId: string, granted: boolean) => Promise<void>;
  events: Pick<EventBus, 'publish'>;
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, clock, ids } = deps;

  const change = async (
    tx: Db,
    userId: string,
    purpose: ConsentPurpose,
    granted: boolean,
    context: CallContext & { source: ConsentSource },
  ): Promise<boolean> => {
    const current = await repository.state(tx, userId, purpose, { forUpdate: true });
    const version = await repository.latestVersion(tx, purpose);
    // Nothing to record: the same answer to the same notice.
    if (current && current.granted === granted && (!granted || current.noticeVersion === version)) return false;
    // Never asked and still no: nothing to record either.
    if (!current && !granted) return false;
    await repository.record(tx, {
      id: ids(),
      userId,
      purpose,
      granted,
      noticeVersion: version,
      source: context.source,
      ip: context.ip,
      createdAt: clock.now(),
    });
    return true;
  };

  const service = {
    purposes: CONSENT_PURPOSES,

    /** True when the person has granted `purpose` under its newest notice. */
    async has(userId: string, purpose: ConsentPurpose, tx: Db = db): Promise<boolean> {
      return repository.hasCurrent(tx, userId, purpose);
    },

    /** `data_processing` at signup, in the signup transaction. */
    async recordSignup(tx: Db, userId: string, context: CallContext): Promise<void> {
      await change(tx, userId, 'data_processing', true, { ...context, source: 'signup' });
    },

    async getState(actor: Actor): Promise<ConsentState[]> {
      return consentStates(repository, db, actor.id);
    },

    /** Grant or withdraw; withdrawing is as easy as granting and takes effect at once. */
    async set(actor: Actor, purpose: ConsentPurpose, granted: boolean): Promise<ConsentState> {
      if (purpose === 'data_processing' && !granted) {
        throw new AppError(
          'CONSENT_REQUIRED',
          'Processing your account data is what the account is; to withdraw it, erase your account with DELETE /api/v1/me',
        );
      }
      return inTransaction(db, async (tx) => {
        const changed = await change(tx, actor.id, purpose, granted, { ...actor, source: 'user' });
        if (changed) {
          await deps.audit.record(
            tx,
            { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
            {
              action: granted ? 'consent.granted' : 'consent.withdrawn',
              targetType: 'user',
              targetId: actor.id,
              details: { purpose },
            },
          );
          if (purpose === 'whatsapp' && granted) await deps.track(tx, 'whatsapp_opt_in', actor.id, {});
          if (purpose === 'analytics') await deps.onAnalyticsConsent?.(tx, actor.id, granted);
          deps.events.publish('consent.changed', { userId: actor.id, purpose, granted });
        }
        const states = await consentStates(repository, tx, actor.id);
        return states.find((state) => state.purpose === purpose) as ConsentState;
      });
    },

    async history(actor: Actor, options: { cursor?: string; limit: number }) {
      const rows = await repository.history(db, actor.id, { beforeId: options.cursor, limit: options.limit + 1 });
      const page = rows.slice(0, options.limit);
      return {
        records: page.map(recordToPublic),
        nextCursor: rows.length > options.limit ? page.at(-1)?.id : undefined,
      };
    },

    async currentNotices() {
      return (await repository.latestNotices(db)).map(noticeToPublic);
    },

    async listNotices() {
      return (await repository.allNotices(db)).map(noticeToPublic);
    },

    /** A new version of a purpose's notice: everyone who agreed to an older one is asked again. */
    async publishNotice(actor: Actor, input: { purpose: ConsentPurpose; title: string; body: string }) {
      return inTransaction(db, async (tx) => {
        const version = (await repository.latestVersion(tx, input.purpose)) + 1;
        const notice = await repository.insertNotice(tx, {
          id: ids(),
          purpose: input.purpose,
          version,
          title: input.title,
          body: input.body,
          createdBy: actor.id,
          publishedAt: clock.now(),
        });
        // Two admins publishing at once: one wins the version, the other is told to retry.
        if (!notice) throw new AppError('CONFLICT', 'Another version of this notice was just published; try again');
        await deps.audit.record(
          tx,
          { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
          {
            action: 'consent.notice_published',
            targetType: 'consent_notice',
            targetId: notice.id,
            details: { purpose: input.purpose, version },
          },
        );
        return noticeToPublic(notice);
      });
    },
  };
  return service;
}

export type ConsentService = ReturnType<typeof createConsentService>;
