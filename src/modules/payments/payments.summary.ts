import { sql } from 'drizzle-orm';
import { invalidField } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import { type Db, queryRows } from '../../infra/db/client.js';
import { toCsv } from '../../shared/csv.js';

const SUMMARY_COLUMNS = ['day', 'currency', 'gross_minor', 'commission_minor', 'refunds_minor', 'net_minor'];

const DAY_MS = 86_400_000;
const MAX_DAYS = 366;

interface Amounts {
  gross_minor: number;
  commission_minor: number;
  refunds_minor: number;
  net_minor: number;
}

/**
 * The admin revenue view, read from the ledger: per UTC day and currency, the money captured
 * (gross, bookings and subscriptions), the platform's revenue from it (commission, and whole
 * subscriptions), what was refunded to customers, and net = revenue − the commission given back
 * with refunds.
 */
export function createRevenueSummary(deps: { db: Db; clock: Clock }) {
  return {
    async summary(query: { from?: string; to?: string }) {
      const today = deps.clock.now().toISOString().slice(0, 10);
      const to = query.to ?? today;
      const from = query.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 29 * DAY_MS).toISOString().slice(0, 10);
      const start = new Date(`${from}T00:00:00.000Z`);
      const end = new Date(Date.parse(`${to}T00:00:00.000Z`) + DAY_MS);
      if (start >= end) throw invalidField('query.from', 'must not be after to');
      if (end.getTime() - start.getTime() > MAX_DAYS * DAY_MS)
        throw invalidField('query.from', 'at most 366 days before to');
      const rows = await queryRows<{
        day: string;
        currency: string;
        gross: string;
        revenue: string;
        refunds: string;
        reversed: string;
      }>(
        deps.db,
        sql`select to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD') as day, l.currency,
              coalesce(sum(case when e.kind = 'capture' and l.account like 'gateway:%' then l.amount_minor end), 0) as gross,
              coalesce(sum(case when e.kind = 'capture' and l.account = 'platform:revenue' then -l.amount_minor end), 0) as revenue,
              coalesce(sum(case when e.kind = 'refund' and l.account like 'gateway:%' then -l.amount_minor end), 0) as refunds,
              coalesce(sum(case when e.kind = 'refund' and l.account = 'platform:refunds' then l.amount_minor end), 0) as reversed
            from ledger_entries e join ledger_lines l on l.entry_id = e.id
            where e.occurred_at >= ${start} and e.occurred_at < ${end} and e.kind in ('capture', 'refund')
            group by 1, 2 order by 1, 2`,
      );
      const days = rows.map((row) => ({
        day: row.day,
        currency: row.currency,
        gross_minor: Number(row.gross),
        commission_minor: Number(row.revenue),
        refunds_minor: Number(row.refunds),
        net_minor: Number(row.revenue) - Number(row.reversed),
      }));
      const totals = new Map<string, Amounts>();
      for (const day of days) {
        const sum = totals.get(day.currency) ?? { gross_minor: 0, commission_minor: 0, refunds_minor: 0, net_minor: 0 };
        sum.gross_minor += day.gross_minor;
        sum.commission_minor += day.commission_minor;
        sum.refunds_minor += day.refunds_minor;
        sum.net_minor += day.net_minor;
        totals.set(day.currency, sum);
      }
      return {
        from,
        to,
        days,
        totals: [...totals].map(([currency, amounts]) => ({ currency, ...amounts })),
      };
    },

    /** The same days as CSV rows, under the header even when there are none. */
    csv(summary: { days: Record<string, unknown>[] }): string {
      return toCsv(summary.days, SUMMARY_COLUMNS);
    },
  };
}
