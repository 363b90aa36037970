import { generateKeyPairSync } from 'node:crypto';
import { asc } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/infra/logger.js';
import { analyticsSheetDays } from '../../src/modules/analytics/analytics.tables.js';
import { createSheetsSync, pendingDays, SHEET_METRIC_COLUMNS } from '../../src/modules/analytics/index.js';
import { type SheetsServer, startSheetsServer } from '../fixtures/sheets-server.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createUser } from '../helpers/users.js';

const HEALTH_TOKEN = 'monitor-token-0123456789';
const monitor = { authorization: `Bearer ${HEALTH_TOKEN}` };
const SPREADSHEET_ID = '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789';
const CLIENT_EMAIL = 'care-sync@care-platform.iam.gserviceaccount.com';
const START = new Date('2026-11-23T10:00:00.000Z');
// The first pass appends the 7 complete days before START.
const FIRST_WEEK = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22'];
const HEADER = ['day', ...SHEET_METRIC_COLUMNS];
const MAX_ATTEMPTS = 3;

// A throwaway service account: the stand-in checks the signed JWT against its public key.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function sheetsEnv(server: SheetsServer): Record<string, string> {
  return {
    HEALTH_TOKEN,
    GOOGLE_SHEETS_ID: SPREADSHEET_ID,
    GOOGLE_SERVICE_ACCOUNT_JSON: JSON.stringify({
      type: 'service_account',
      project_id: 'care-platform',
      private_key_id: 'test-key',
      private_key: privateKeyPem,
      client_email: CLIENT_EMAIL,
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
    GOOGLE_SHEETS_ROOT_URL: server.rootUrl,
    GOOGLE_TOKEN_URL: server.tokenUrl,
    SHEETS_SYNC_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    SHEETS_SYNC_RETRY_BASE_MS: '1',
  };
}

async function healthOf(t: TestApp) {
  const res = await t.app.inject({ method: 'GET', url: '/api/health', headers: monitor });
  return { statusCode: res.statusCode, body: res.json() };
}

describe('Google Sheets sync: not configured', () => {
  it('is off without GOOGLE_SHEETS_ID: not_configured in /api/health, and a pass calls nobody', async () => {
    const server = await startSheetsServer({ spreadsheetId: SPREADSHEET_ID, clientEmail: CLIENT_EMAIL, publicKey });
    const t = await buildTestApp({ env: { HEALTH_TOKEN } });
    try {
      expect(t.app.platform.config.sheetsSync).toBeUndefined();
      expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'not_configured', days: [] });
      const health = await healthOf(t);
      expect(health.statusCode).toBe(200);
      expect(health.body.status).toBe('healthy');
      expect(health.body.services.sheets).toEqual({ status: 'not_configured', kind: 'google_sheets' });
      expect(await t.database.db.select().from(analyticsSheetDays)).toEqual([]);
      expect(server.calls).toEqual([]);
    } finally {
      await t.close();
      await server.close();
    }
  });
});

describe('Google Sheets sync against a stand-in Sheets API', () => {
  const clock = createTestClock(START);
  let server: SheetsServer;
  let t: TestApp;
  const appends = () => server.calls.filter((call) => call.kind === 'append');
  const recordedDays = async () =>
    (await t.database.db.select().from(analyticsSheetDays).orderBy(asc(analyticsSheetDays.day))).map((row) => row.day);

  beforeAll(async () => {
    server = await startSheetsServer({ spreadsheetId: SPREADSHEET_ID, clientEmail: CLIENT_EMAIL, publicKey });
    t = await buildTestApp({ clock, env: sheetsEnv(server) });
  });
  afterAll(async () => {
    await t?.close();
    await server?.close();
  });
  beforeEach(async () => {
    clock.set(START);
    server.reset();
    server.addTab('Daily');
    await t.database.db.delete(analyticsSheetDays);
  });

  it('appends a header and one row per complete day with the metrics the app computed; a second pass appends nothing', async () => {
    // Two sign-ups on the last complete day, one on the day before.
    clock.set(new Date('2026-11-22T08:00:00.000Z'));
    await createUser(t.app);
    await createUser(t.app);
    clock.set(new Date('2026-11-21T23:59:00.000Z'));
    await createUser(t.app);
    clock.set(START);
    // Today's sign-up is in no row yet: the day is not complete.
    await createUser(t.app);

    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'appended', days: FIRST_WEEK });

    const rows = server.rows('Daily');
    expect(rows[0]).toEqual(HEADER);
    expect(rows.slice(1).map((row) => row[0])).toEqual(FIRST_WEEK);
    const byDay = new Map(rows.slice(1).map((row) => [row[0], Object.fromEntries(HEADER.map((h, i) => [h, row[i]]))]));
    expect(byDay.get('2026-11-22')).toMatchObject({ day: '2026-11-22', signups: 2 });
    expect(byDay.get('2026-11-21')).toMatchObject({ signups: 1 });
    expect(byDay.get('2026-11-16')).toMatchObject({ signups: 0, events: 0, bookings_created: 0 });
    // The row is exactly what the analytics service reports for that day.
    const expected = await t.app.platform.services.analytics.dailyMetrics('2026-11-22');
    expect(byDay.get('2026-11-22')).toEqual(expected);
    for (const row of rows.slice(1)) for (const cell of row.slice(1)) expect(typeof cell).toBe('number');

    // One token, then calls that carry it; RAW values, appended as new rows.
    const tokenCalls = server.calls.filter((call) => call.kind === 'token');
    expect(tokenCalls).toHaveLength(1);
    expect(tokenCalls[0]?.body).toMatchObject({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' });
    expect(appends()).toHaveLength(1);
    const [append] = appends();
    expect(append).toMatchObject({
      method: 'POST',
      status: 200,
      range: "'Daily'!A1",
      query: { valueInputOption: 'RAW', insertDataOption: 'INSERT_ROWS' },
    });
    expect(append?.headers.authorization).toMatch(/^Bearer ya29\./);
    expect(server.calls.every((call) => call.status === 200)).toBe(true);

    expect(await recordedDays()).toEqual(FIRST_WEEK);
    const [first] = await t.database.db.select().from(analyticsSheetDays);
    expect(first?.syncedAt.toISOString()).toBe(START.toISOString());

    // Nothing new: no append at all.
    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'up_to_date', days: [] });
    expect(appends()).toHaveLength(1);
    expect(server.rows('Daily')).toHaveLength(1 + FIRST_WEEK.length);

    // The next day: one more row (with today's sign-up), no second header.
    clock.advance(86_400_000);
    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'appended', days: ['2026-11-23'] });
    expect(server.rows('Daily')).toHaveLength(2 + FIRST_WEEK.length);
    expect(server.rows('Daily').at(-1)?.slice(0, 2)).toEqual(['2026-11-23', 1]);
    expect(server.calls.filter((call) => call.kind === 'token')).toHaveLength(1);

    const health = await healthOf(t);
    expect(health.body.status).toBe('healthy');
    expect(health.body.services.sheets).toEqual({
      status: 'connected',
      kind: 'google_sheets',
      checked_at: clock.now().toISOString(),
    });
  });

  it('retries a 503 and appends each row exactly once', async () => {
    server.failNextAppends(1);
    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'appended', days: FIRST_WEEK });
    expect(appends().map((call) => call.status)).toEqual([503, 200]);
    expect(server.rows('Daily').map((row) => row[0])).toEqual(['day', ...FIRST_WEEK]);
    expect(await recordedDays()).toEqual(FIRST_WEEK);
    expect(t.app.platform.jobs.sheetsSync.health().status).toBe('connected');
  });

  it('does not write a row twice when an append went in but its answer was an error', async () => {
    server.failNextAppends(1, { afterApplying: true });
    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'appended', days: FIRST_WEEK });
    // The retry read the day column first, found the rows there and sent nothing more.
    expect(appends().map((call) => call.status)).toEqual([503]);
    expect(server.rows('Daily').map((row) => row[0])).toEqual(['day', ...FIRST_WEEK]);
    expect(await recordedDays()).toEqual(FIRST_WEEK);
  });

  it('fails the pass after the last retry (failing, nothing recorded); a pass after recovery appends the days', async () => {
    server.setFailing(true);
    await expect(t.app.platform.jobs.sheetsSync.runOnce()).rejects.toThrow(
      new RegExp(`after ${MAX_ATTEMPTS} attempt\\(s\\): answered 503`),
    );
    expect(appends()).toHaveLength(MAX_ATTEMPTS);
    expect(server.rows('Daily')).toEqual([]);
    expect(await recordedDays()).toEqual([]);

    const failing = await healthOf(t);
    // An optional component: the app is degraded, not critical, and still ready.
    expect(failing.statusCode).toBe(200);
    expect(failing.body.status).toBe('degraded');
    expect(failing.body.services.sheets).toMatchObject({
      status: 'failing',
      kind: 'google_sheets',
      error: expect.stringContaining('503'),
      checked_at: START.toISOString(),
    });
    expect((await t.app.inject({ method: 'GET', url: '/api/health/ready' })).statusCode).toBe(200);

    server.setFailing(false);
    clock.advance(3_600_000);
    expect(await t.app.platform.jobs.sheetsSync.runOnce()).toEqual({ outcome: 'appended', days: FIRST_WEEK });
    expect(server.rows('Daily').map((row) => row[0])).toEqual(['day', ...FIRST_WEEK]);
    expect(await recordedDays()).toEqual(FIRST_WEEK);
    const recovered = await healthOf(t);
    expect(recovered.body.status).toBe('healthy');
    expect(recovered.body.services.sheets.status).toBe('connected');
  });

  it('does not retry an answer that will not mend (a missing tab is 400)', async () => {
    server.reset(); // no "Daily" tab
    await expect(t.app.platform.jobs.sheetsSync.runOnce()).rejects.toThrow(/after 1 attempt\(s\): answered 400/);
    expect(server.calls.filter((call) => call.kind === 'get').map((call) => call.status)).toEqual([400]);
    expect(appends()).toEqual([]);
    expect(t.app.platform.jobs.sheetsSync.health().status).toBe('failing');
    expect(await recordedDays()).toEqual([]);
  });

  it('runs one pass for callers at once', async () => {
    const [a, b] = await Promise.all([
      t.app.platform.jobs.sheetsSync.runOnce(),
      t.app.platform.jobs.sheetsSync.runOnce(),
    ]);
    expect(a).toEqual({ outcome: 'appended', days: FIRST_WEEK });
    expect(b).toBe(a);
    expect(appends()).toHaveLength(1);
  });

  // On PostgreSQL one takes the advisory lock and the other skips; PGlite runs the two
  // transactions one after the other, and the second finds the days recorded.
  it('appends once when two instances run a pass at the same moment (the cross-instance lock)', async () => {
    const config = t.app.platform.config.sheetsSync;
    const instance = () =>
      createSheetsSync({
        db: t.database.db,
        clock,
        logger: createLogger({ level: 'silent' }),
        config,
        crossInstanceLock: true,
        metrics: (day) => t.app.platform.services.analytics.dailyMetrics(day),
      });
    const results = await Promise.all([instance().runOnce(), instance().runOnce()]);
    // The other found the lock taken, or (had the first already finished) nothing left to do.
    expect(results.map((result) => result.outcome).sort()).toEqual(
      expect.toSatisfy((outcomes: string[]) => ['appended,locked', 'appended,up_to_date'].includes(outcomes.join())),
    );
    expect(server.rows('Daily').map((row) => row[0])).toEqual(['day', ...FIRST_WEEK]);
    expect(await recordedDays()).toEqual(FIRST_WEEK);
  });
});

describe('pendingDays', () => {
  const now = new Date('2026-11-23T00:00:01.000Z');

  it('starts with the last N complete days, then continues after the last appended day', () => {
    expect(pendingDays(now, undefined, 3)).toEqual(['2026-11-20', '2026-11-21', '2026-11-22']);
    expect(pendingDays(now, '2026-11-20', 7)).toEqual(['2026-11-21', '2026-11-22']);
    expect(pendingDays(now, '2026-11-22', 7)).toEqual([]);
  });

  it('catches a long gap up over several passes, oldest first', () => {
    const days = pendingDays(now, '2026-01-01', 7);
    expect(days).toHaveLength(31);
    expect(days[0]).toBe('2026-01-02');
    expect(days.at(-1)).toBe('2026-02-01');
  });
});

describe('Google Sheets sync configuration', () => {
  const key = JSON.stringify({ client_email: CLIENT_EMAIL, private_key: privateKeyPem });

  it('is off by default and on with a spreadsheet and a key file', () => {
    expect(loadConfig({}).sheetsSync).toBeUndefined();
    expect(loadConfig({ GOOGLE_SERVICE_ACCOUNT_JSON: key }).sheetsSync).toBeUndefined();
    expect(loadConfig({ GOOGLE_SHEETS_ID: SPREADSHEET_ID, GOOGLE_SERVICE_ACCOUNT_JSON: key }).sheetsSync).toEqual({
      spreadsheetId: SPREADSHEET_ID,
      sheetName: 'Daily',
      credentials: { clientEmail: CLIENT_EMAIL, privateKey: privateKeyPem },
      rootUrl: 'https://sheets.googleapis.com/',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      intervalMs: 3_600_000,
      backfillDays: 7,
      maxAttempts: 3,
      retryBaseMs: 1000,
      timeoutMs: 15_000,
    });
  });

  it('takes the email and a one-line private key instead', () => {
    const config = loadConfig({
      GOOGLE_SHEETS_ID: SPREADSHEET_ID,
      GOOGLE_SERVICE_ACCOUNT_EMAIL: CLIENT_EMAIL,
      GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY: privateKeyPem.trim().replaceAll('\n', '\\n'),
    });
    expect(config.sheetsSync?.credentials).toEqual({ clientEmail: CLIENT_EMAIL, privateKey: privateKeyPem.trim() });
  });

  it('refuses a spreadsheet without credentials, in production too', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' };
    expect(() => loadConfig({ ...production, GOOGLE_SHEETS_ID: SPREADSHEET_ID })).toThrow(
      /GOOGLE_SHEETS_ID needs service account credentials/,
    );
    expect(() => loadConfig({ GOOGLE_SHEETS_ID: SPREADSHEET_ID })).toThrow(ConfigError);
  });

  it('refuses broken or half-given credentials without echoing them', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ GOOGLE_SERVICE_ACCOUNT_JSON: '{"private_key": "-----BEGIN secret' }, /must be a service account key file/],
      [{ GOOGLE_SERVICE_ACCOUNT_JSON: JSON.stringify({ client_email: CLIENT_EMAIL }) }, /must be a service account/],
      [{ GOOGLE_SERVICE_ACCOUNT_EMAIL: CLIENT_EMAIL }, /are set together/],
      [
        { GOOGLE_SERVICE_ACCOUNT_JSON: key, GOOGLE_SERVICE_ACCOUNT_EMAIL: CLIENT_EMAIL },
        /GOOGLE_SERVICE_ACCOUNT_JSON or GOOGLE_SERVICE_ACCOUNT_EMAIL/,
      ],
      [
        { GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY: 'short-secret' },
        /^Invalid configuration: GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY /,
      ],
      [{ GOOGLE_SERVICE_ACCOUNT_JSON: 'x' }, /^Invalid configuration: GOOGLE_SERVICE_ACCOUNT_JSON /],
    ];
    for (const [env, message] of cases) {
      let error: unknown;
      try {
        loadConfig({ GOOGLE_SHEETS_ID: SPREADSHEET_ID, ...env });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toMatch(/secret|BEGIN|"x"/);
    }
  });
});
