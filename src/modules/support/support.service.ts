import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { isPremium } from '../../shared/permissions.js';
import type { Track } from '../analytics/index.js';
import { effectivePlan, type IdentityService } from '../identity/index.js';
import type { SupportRepository } from './support.repository.js';
import type { SupportRequestRow } from './support.tables.js';

export const supportRequestToPublic = (row: SupportRequestRow) => ({
  id: row.id,
  user_id: row.userId,
  subject: row.subject,
  message: row.message,
  priority: row.priority,
  status: row.status,
  created_at: row.createdAt.toISOString(),
});

export function createSupportService(deps: {
  db: Db;
  repository: SupportRepository;
  identity: Pick<IdentityService, 'getAccount'>;
  track: Track;
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, clock } = deps;
  return {
    /** Premium and trial users' requests are flagged priority (the plan's "priority support"). */
    async create(actor: Actor, input: { subject: string; message: string }) {
      const account = await deps.identity.getAccount(actor.id);
      if (!account) throw new AppError('UNAUTHORIZED', 'Sign in again');
      const priority = isPremium(effectivePlan(account, clock.now()));
      const row = await inTransaction(db, async (tx) => {
        const created = await repository.insert(tx, {
          id: deps.ids(),
          userId: actor.id,
          subject: input.subject,
          message: input.message,
          priority,
          status: 'open',
          createdAt: clock.now(),
        });
        // The event says how many, never what: no subject or message in analytics.
        await deps.track(tx, 'support_request', actor.id, { priority });
        return created;
      });
      return supportRequestToPublic(row);
    },

    async list(filters: { priority?: boolean; status?: 'open' | 'closed'; cursor?: string; limit: number }) {
      const rows = await repository.list(db, { ...filters, beforeId: filters.cursor, limit: filters.limit + 1 });
      const page = rows.slice(0, filters.limit);
      return {
        requests: page.map(supportRequestToPublic),
        nextCursor: rows.length > filters.limit ? page.at(-1)?.id : undefined,
      };
    },
  };
}

export type SupportService = ReturnType<typeof createSupportService>;
