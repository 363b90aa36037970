import { invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { isForeignKeyViolation } from '../../infra/db/errors.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Actor } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { PaymentsRepository } from './payments.repository.js';

type Limits = Record<string, { min_minor?: number; max_minor?: number }>;

const toPublic = (row: { categoryId: string; rateBps: number; limits: Limits; updatedAt: Date }) => ({
  category_id: row.categoryId,
  rate_bps: row.rateBps,
  limits: row.limits,
  updated_at: row.updatedAt.toISOString(),
});

/**
 * The commission per category (`/admin/commission-rules`): a rate and, per currency, the smallest
 * and largest commission. Without a rule a category pays COMMISSION_RATE_BPS. A rule applies to
 * payments made after it; a paid booking keeps the commission it was made with.
 */
export function createCommissionRules(deps: {
  db: Db;
  repository: PaymentsRepository;
  audit: Pick<AuditService, 'record'>;
  clock: Clock;
  defaultRateBps: number;
}) {
  const { db, repository } = deps;
  return {
    async listRules() {
      return {
        default_rate_bps: deps.defaultRateBps,
        rules: (await repository.listCommissionRules(db)).map(toPublic),
      };
    },

    async saveRule(actor: Actor, input: { category_id: string; rate_bps: number; limits?: Limits }) {
      const limits = input.limits ?? {};
      for (const [currency, bounds] of Object.entries(limits)) {
        if (bounds.min_minor !== undefined && bounds.max_minor !== undefined && bounds.min_minor > bounds.max_minor) {
          throw invalidField(`body.limits.${currency}`, 'min_minor must not be greater than max_minor');
        }
      }
      try {
        const saved = await inTransaction(db, async (tx) => {
          const row = await repository.upsertCommissionRule(tx, {
            categoryId: input.category_id,
            rateBps: input.rate_bps,
            limits,
            updatedBy: actor.id,
            updatedAt: deps.clock.now(),
          });
          await deps.audit.record(tx, auditContextOf(actor), {
            action: 'payments.commission_rule_saved',
            targetType: 'category',
            targetId: input.category_id,
            details: { rate_bps: input.rate_bps, limits },
          });
          return row;
        });
        return toPublic(saved);
      } catch (error) {
        if (isForeignKeyViolation(error)) throw invalidField('body.category_id', 'is not a category');
        throw error;
      }
    },

    async deleteRule(actor: Actor, categoryId: string) {
      await inTransaction(db, async (tx) => {
        if (!(await repository.deleteCommissionRule(tx, categoryId))) throw notFound('Commission rule');
        await deps.audit.record(tx, auditContextOf(actor), {
          action: 'payments.commission_rule_deleted',
          targetType: 'category',
          targetId: categoryId,
        });
      });
    },
  };
}
