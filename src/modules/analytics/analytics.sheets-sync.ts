import type { sheets_v4 } from '@googleapis/sheets';
import { inArray, max, sql } from 'drizzle-orm';
import type { SheetsSyncConfig } from '../../config.js';
import type { Clock } from '../../infra/clock.js';
import { type Db, queryRows } from '../../infra/db/client.js';
import type { Logger } from '../../infra/logger.js';
import { createPeriodicJob } from '../../infra/periodic.js';
import type { ComponentHealth } from '../../shared/health.js';
import { analyticsSheetDays } from './analytics.tables.js';

/** The columns after `day`, in sheet order; a new metric goes at the end so old rows stay aligned. */
export const SHEET_METRIC_COLUMNS = [
  'signups',
  'active_users',
  'events',
  'profiles_completed',
  'content_views',
  'plan_views',
  'bookings_created',
  'bookings_completed',
  'support_requests',
  'trials_started',
  'premium_upgrades',
] as const;

/** One complete UTC day of metrics (the analytics service's `dailyMetrics`). */
export type DailyMetrics = { day: string } & Record<(typeof SHEET_METRIC_COLUMNS)[number], number>;

/** What a pass did: appended `days`, found nothing to do, or left the work to the instance holding the lock. */
export interface SheetsSyncPass {
  outcome: 'appended' | 'up_to_date' | 'locked' | 'not_configured';
  days: string[];
}

export interface SheetsSync {
  /** One pass now; rejects when Google still fails after the retries (the next pass tries again). */
  runOnce(): Promise<SheetsSyncPass>;
  /** Schedules passes every interval; does nothing when the sync is not configured. */
  start(): void;
  stop(): Promise<void>;
  /** For /api/health; never calls Google. */
  health(): ComponentHealth;
}

const SCOPES = ['https://www.googleapis.com/auth/spreadsheets'];
// gtoken (under google-auth-library's JWT) posts to this fixed URL; see `createAuthClient`.
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
// A long outage is caught up over several passes rather than in one huge request.
const MAX_DAYS_PER_PASS = 31;
// Any fixed 64-bit number: names the advisory lock only one instance's pass holds.
const SHEETS_SYNC_LOCK = 7_310_555;
const DAY_MS = 86_400_000;

const utcDay = (date: Date) => date.toISOString().slice(0, 10);
const addDays = (day: string, days: number) => utcDay(new Date(Date.parse(`${day}T00:00:00.000Z`) + days * DAY_MS));

/**
 * Complete UTC days after the last one appended (or the last `backfillDays` on a first run),
 * oldest first, at most MAX_DAYS_PER_PASS. Appended days form one run with no gaps, so "after the
 * latest" is "not yet appended".
 */
export function pendingDays(now: Date, latestSynced: string | undefined, backfillDays: number): string[] {
  const yesterday = addDays(utcDay(now), -1);
  let day = latestSynced ? addDays(latestSynced, 1) : addDays(yesterday, -(backfillDays - 1));
  const days: string[] = [];
  while (day <= yesterday && days.length < MAX_DAYS_PER_PASS) {
    days.push(day);
    day = addDays(day, 1);
  }
  return days;
}

/** A1 notation quotes a sheet name, doubling any quote in it. */
const sheetRef = (name: string) => `'${name.replaceAll("'", "''")}'`;

/**
 * Retried within a pass: 408, 429 and 5xx answers, and no answer at all (refused, reset,
 * timed out). A 4xx (no access, no such tab, bad key) will not mend by itself.
 */
function isRetryable(error: unknown): boolean {
  const failure = error as { status?: unknown; response?: { status?: unknown }; config?: unknown };
  const status = failure.response?.status ?? failure.status;
  if (typeof status === 'number') return status === 408 || status === 429 || status >= 500;
  // gaxios errors carry the request config; anything else (e.g. an unreadable key) is ours.
  return failure.config !== undefined;
}

function describeFailure(error: unknown): string {
  const failure = error as { status?: unknown; response?: { status?: unknown } };
  const status = failure.response?.status ?? failure.status;
  const message = error instanceof Error ? error.message : String(error);
  return (typeof status === 'number' ? `answered ${status}: ${message}` : message).slice(0, 200);
}

type GoogleClient = typeof import('@googleapis/sheets');

/**
 * A service-account (JWT) client whose token exchange goes to `tokenUrl`. gtoken 8 has Google's
 * token URL built in, so a request interceptor on the client's own transport points it elsewhere
 * (a stand-in in tests). The JWT's `aud` claim stays Google's, as Google requires. The client
 * never retries on its own: the pass does, and re-reads the sheet first (see `appendMissing`).
 */
function createAuthClient(google: GoogleClient, config: SheetsSyncConfig) {
  const client = new google.auth.JWT({
    email: config.credentials.clientEmail,
    key: config.credentials.privateKey,
    scopes: SCOPES,
    transporterOptions: { timeout: config.timeoutMs },
  });
  client.transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL && config.tokenUrl !== GOOGLE_TOKEN_URL) {
        options.url = new URL(config.tokenUrl);
      }
      options.retry = false;
      options.retryConfig = { ...options.retryConfig, retry: 0 };
      return options;
    },
  });
  return client;
}

/**
 * The scheduled Google Sheets sync: every interval it appends one row of daily metrics per
 * complete UTC day not yet appended, then records those days in `analytics_sheet_days`.
 *
 * Exactly once: on PostgreSQL (`crossInstanceLock`) the append and the record happen in one
 * transaction holding an advisory try-lock, so of instances running at once one appends and the
 * others skip; the embedded database is one process by construction, and a transaction there
 * would stall every other query for the length of the HTTP calls, so passes are only kept from
 * overlapping in-process. Each attempt first reads the day column of the tab and skips days it
 * already holds, so a retry after an append whose answer was lost, or a crash between the append
 * and the record, does not write a row twice.
 *
 * Health: `not_configured` without GOOGLE_SHEETS_ID; `failing` after a pass that failed (after
 * its retries); `connected` otherwise, i.e. after a pass that succeeded and until the first
 * pass (which runs within a minute of start) says otherwise.
 */
export function createSheetsSync(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics: (day: string) => Promise<DailyMetrics>;
  config: SheetsSyncConfig | undefined;
  crossInstanceLock: boolean;
  sleep?: (ms: number) => Promise<void>;
}): SheetsSync {
  const { db, clock, logger, config } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  if (!config) {
    return {
      runOnce: async () => ({ outcome: 'not_configured', days: [] }),
      start() {},
      stop: async () => {},
      health: () => ({ status: 'not_configured', kind: 'google_sheets' }),
    };
  }

  // The Google client loads on the first pass, so apps without the sync never pay for it.
  let client: Promise<sheets_v4.Sheets> | undefined;
  const sheetsApi = () => {
    client ??= import('@googleapis/sheets').then((google) =>
      google.sheets({ version: 'v4', auth: createAuthClient(google, config), rootUrl: config.rootUrl }),
    );
    return client;
  };
  const sheet = sheetRef(config.sheetName);
  let state: { status: 'connected' | 'failing'; error?: string; checkedAt?: Date } = { status: 'connected' };

  /** Appends the rows whose day the tab's first column does not hold yet; a header on an empty tab. */
  const appendMissing = async (rows: DailyMetrics[]) => {
    const api = await sheetsApi();
    const existing = await api.spreadsheets.values.get({
      spreadsheetId: config.spreadsheetId,
      range: `${sheet}!A:A`,
      majorDimension: 'COLUMNS',
    });
    const column = (existing.data.values?.[0] ?? []).map(String);
    const present = new Set(column);
    const values: sheets_v4.Schema$ValueRange['values'] = rows
      .filter((row) => !present.has(row.day))
      .map((row) => [row.day, ...SHEET_METRIC_COLUMNS.map((name) => row[name])]);
    if (values.length === 0) return;
    if (column.length === 0) values.unshift(['day', ...SHEET_METRIC_COLUMNS]);
    await api.spreadsheets.values.append({
      spreadsheetId: config.spreadsheetId,
      range: `${sheet}!A1`,
      valueInputOption: 'RAW',
      insertDataOption: 'INSERT_ROWS',
      requestBody: { values },
    });
  };

  const appendWithRetries = async (rows: DailyMetrics[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await appendMissing(rows);
        return;
      } catch (error) {
        if (attempt >= config.maxAttempts || !isRetryable(error)) {
          throw new Error(`Google Sheets append failed after ${attempt} attempt(s): ${describeFailure(error)}`);
        }
        const delayMs = config.retryBaseMs * 2 ** (attempt - 1);
        logger.warn({ attempt, delay_ms: delayMs, error: describeFailure(error) }, 'sheets sync: retrying');
        await sleep(delayMs);
      }
    }
  };

  /** Appends the rows of days not recorded yet and records them; the days appended. */
  const appendAndRecord = async (tx: Db, rows: DailyMetrics[]) => {
    const recorded = new Set(
      (
        await tx
          .select({ day: analyticsSheetDays.day })
          .from(analyticsSheetDays)
          .where(
            inArray(
              analyticsSheetDays.day,
              rows.map((row) => row.day),
            ),
          )
      ).map((row) => row.day),
    );
    const missing = rows.filter((row) => !recorded.has(row.day));
    if (missing.length === 0) return [];
    await appendWithRetries(missing);
    const syncedAt = clock.now();
    await tx
      .insert(analyticsSheetDays)
      .values(missing.map((row) => ({ day: row.day, syncedAt })))
      .onConflictDoNothing();
    return missing.map((row) => row.day);
  };

  const pass = async (): Promise<SheetsSyncPass> => {
    const [latest] = await db.select({ day: max(analyticsSheetDays.day) }).from(analyticsSheetDays);
    const days = pendingDays(clock.now(), latest?.day ?? undefined, config.backfillDays);
    if (days.length === 0) {
      // Caught up (maybe by another instance): the sync is working.
      state = { status: 'connected', checkedAt: clock.now() };
      return { outcome: 'up_to_date', days: [] };
    }
    // Before any lock or transaction: the metrics queries may be slow, and on the embedded
    // database they could not run beside an open transaction.
    const rows: DailyMetrics[] = [];
    for (const day of days) rows.push({ ...(await deps.metrics(day)), day });

    let appended: string[] | undefined;
    try {
      if (deps.crossInstanceLock) {
        // Not inTransaction: its retry would run the HTTP append again.
        appended = await db.transaction(async (tx) => {
          const [lock] = await queryRows<{ acquired: boolean }>(
            tx,
            sql`select pg_try_advisory_xact_lock(${SHEETS_SYNC_LOCK}) as acquired`,
          );
          return lock?.acquired ? appendAndRecord(tx, rows) : undefined;
        });
      } else {
        appended = await appendAndRecord(db, rows);
      }
    } catch (error) {
      state = { status: 'failing', error: describeFailure(error), checkedAt: clock.now() };
      throw error;
    }
    if (appended === undefined) return { outcome: 'locked', days: [] };
    state = { status: 'connected', checkedAt: clock.now() };
    if (appended.length > 0) logger.info({ days: appended }, 'sheets sync: daily metrics appended');
    return { outcome: appended.length > 0 ? 'appended' : 'up_to_date', days: appended };
  };

  // Callers at once (the timer and a test, say) share one pass.
  let running: Promise<SheetsSyncPass> | undefined;
  const runOnce = () => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const job = createPeriodicJob({ name: 'sheets-sync', intervalMs: config.intervalMs, run: runOnce, logger });
  return {
    runOnce,
    start: job.start,
    stop: job.stop,
    health: () => ({
      status: state.status,
      kind: 'google_sheets',
      ...(state.error ? { error: state.error } : {}),
      ...(state.checkedAt ? { checked_at: state.checkedAt.toISOString() } : {}),
    }),
  };
}
