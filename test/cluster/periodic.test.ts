import { generateKeyPairSync } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SheetsServer, startSheetsServer } from '../fixtures/sheets-server.js';
import {
  createDeployment,
  type Deployment,
  type Instance,
  printLogsOnFailure,
  servicesUnavailable,
  signUp,
  sleep,
  waitFor,
} from '../support/instance.js';

const unavailable = await servicesUnavailable();

const SPREADSHEET_ID = '1ClusterTestSpreadsheet0123456789';
const CLIENT_EMAIL = 'care-sync@care-platform.iam.gserviceaccount.com';
const TAB = 'Daily';
const BACKFILL_DAYS = 7;
const PERIOD_MS = 1000;
// Longer than a period: while one instance's pass holds its append (and its lock), the other
// instance's timer necessarily starts a pass of its own, which must find the work taken.
const APPEND_DELAY_MS = 1500;
const RESET_REQUESTS = 30;

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

/**
 * A forwarder in front of the Sheets stand-in that holds each append for a while, as a slow
 * Google would: a second instance's pass then starts while the first one's is still appending.
 */
async function slowAppends(target: string): Promise<{ url: string; server: Server }> {
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', async () => {
      if (incoming.url?.includes(':append')) await sleep(APPEND_DELAY_MS);
      const forwarded = httpRequest(
        `${target}${incoming.url}`,
        { method: incoming.method, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', () => outgoing.writeHead(502).end());
      forwarded.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe.skipIf(unavailable)('periodic jobs with two instances: each period’s work is done once', () => {
  let sheets: SheetsServer;
  let forwarder: { url: string; server: Server };
  let deployment: Deployment;
  let a: Instance;
  let b: Instance;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    sheets = await startSheetsServer({ spreadsheetId: SPREADSHEET_ID, clientEmail: CLIENT_EMAIL, publicKey });
    sheets.addTab(TAB);
    forwarder = await slowAppends(sheets.url);
    deployment = await createDeployment({
      env: {
        RETENTION_INTERVAL_MS: String(PERIOD_MS),
        SHEETS_SYNC_INTERVAL_MS: String(PERIOD_MS),
        SHEETS_SYNC_BACKFILL_DAYS: String(BACKFILL_DAYS),
        SHEETS_SYNC_RETRY_BASE_MS: '1',
        GOOGLE_SHEETS_ID: SPREADSHEET_ID,
        GOOGLE_SHEETS_SHEET_NAME: TAB,
        GOOGLE_SERVICE_ACCOUNT_EMAIL: CLIENT_EMAIL,
        GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        GOOGLE_SHEETS_ROOT_URL: `${forwarder.url}/`,
        GOOGLE_TOKEN_URL: `${forwarder.url}/token`,
        OUTBOX_POLL_INTERVAL_MS: '100',
      },
    });
    [a, b] = await Promise.all([deployment.start('A'), deployment.start('B')]);
  });

  afterAll(async () => {
    await deployment?.close();
    await new Promise<void>((resolve) => (forwarder ? forwarder.server.close(() => resolve()) : resolve()));
    await sheets?.close();
  });

  it(`appends each of the last ${BACKFILL_DAYS} days to the sheet once, though both instances sync every second`, async () => {
    const appended = (instance: Instance) =>
      instance.logsMatching((record) => record.msg === 'sheets sync: daily metrics appended');
    await waitFor(() => appended(a).length + appended(b).length > 0, 'a Sheets sync pass that appended', {
      timeoutMs: 20_000,
    });
    // Several more periods on both instances: none may append again.
    await sleep(4 * PERIOD_MS + APPEND_DELAY_MS);

    const today = Date.parse(`${utcDay(Date.now())}T00:00:00Z`);
    const days = Array.from({ length: BACKFILL_DAYS }, (_, index) =>
      utcDay(today - (BACKFILL_DAYS - index) * 86_400_000),
    );
    const rows = sheets.rows(TAB);
    const calls = (kind: string) => sheets.calls.filter((call) => call.kind === kind);
    const passes = { A: appended(a).length, B: appended(b).length };
    console.log(
      `sheets: ${calls('append').length} append call(s), ${calls('get').length} read(s), ` +
        `${calls('token').length} token exchange(s); passes that appended: ${JSON.stringify(passes)}`,
    );
    expect(rows[0]?.[0]).toBe('day');
    expect(rows.slice(1).map((row) => row[0])).toEqual(days);
    expect(calls('append').filter((call) => call.status === 200)).toHaveLength(1);
    expect(passes.A + passes.B).toBe(1);
    const recorded = await deployment.query<{ day: string }>(
      `select to_char(day, 'YYYY-MM-DD') as day from analytics_sheet_days order by day`,
    );
    expect(recorded.map((row) => row.day)).toEqual(days);
  });

  it('removes expired rows once: the two instances’ deletions add up to what had expired', async () => {
    // Real rows first: reset requests go through the outbox (a delivered row each, and the
    // notification's) and leave a reset token each.
    const person = await signUp(a);
    for (let index = 0; index < RESET_REQUESTS; index++) {
      const instance = index % 2 === 0 ? a : b;
      const answer = await instance.request('POST', '/api/v1/auth/password-reset/request', {
        json: { email: person.email },
      });
      expect(answer.status).toBe(202);
    }
    await waitFor(
      async () =>
        (
          await deployment.query<{ count: number }>(
            `select count(*)::int as count from password_reset_tokens where user_id = $1`,
            [person.id],
          )
        )[0]?.count === RESET_REQUESTS,
      `${RESET_REQUESTS} reset tokens`,
      { timeoutMs: 20_000 },
    );
    await waitFor(
      async () =>
        (
          await deployment.query<{ count: number }>(
            `select count(*)::int as count from outbox where status in ('pending', 'processing')`,
          )
        )[0]?.count === 0,
      'an idle outbox',
      { timeoutMs: 20_000 },
    );
    const deletedBefore = await totals();

    // Forty days pass for these rows, in one statement per table (the jobs run meanwhile).
    const agedOutbox = await deployment.query(
      `update outbox set created_at = created_at - interval '40 days', delivered_at = delivered_at - interval '40 days'
       where status = 'delivered' returning id`,
    );
    const agedTokens = await deployment.query(
      `update password_reset_tokens set created_at = created_at - interval '40 days',
         expires_at = expires_at - interval '40 days' where user_id = $1 returning id`,
      [person.id],
    );
    expect(agedOutbox.length).toBeGreaterThanOrEqual(2 * RESET_REQUESTS);
    expect(agedTokens).toHaveLength(RESET_REQUESTS);

    const remaining = async () =>
      (
        await deployment.query<{ outbox: number; tokens: number }>(
          `select (select count(*)::int from outbox where id = any($1)) as outbox,
                  (select count(*)::int from password_reset_tokens where id = any($2)) as tokens`,
          [agedOutbox.map((row) => row.id), agedTokens.map((row) => row.id)],
        )
      )[0];
    await waitFor(
      async () => {
        const left = await remaining();
        return left?.outbox === 0 && left.tokens === 0;
      },
      'the retention job to remove the aged rows',
      { timeoutMs: 10_000 },
    );
    // A few more periods on both instances: nothing is removed twice.
    await sleep(3 * PERIOD_MS);
    const deleted = await totals();
    const outboxDeleted = deleted.outbox.A + deleted.outbox.B - deletedBefore.outbox.A - deletedBefore.outbox.B;
    const tokensDeleted = deleted.tokens.A + deleted.tokens.B - deletedBefore.tokens.A - deletedBefore.tokens.B;
    console.log(
      `retention: ${agedOutbox.length} outbox rows and ${agedTokens.length} reset tokens aged; removed ` +
        `outbox.delivered A ${deleted.outbox.A} + B ${deleted.outbox.B}, ` +
        `identity.password_reset_tokens A ${deleted.tokens.A} + B ${deleted.tokens.B}`,
    );
    expect(outboxDeleted).toBe(agedOutbox.length);
    expect(tokensDeleted).toBe(RESET_REQUESTS);
  });

  /** `retention_deleted_rows_total` of the two rules on each instance. */
  async function totals() {
    const of = async (rule: string) => {
      const [onA, onB] = await Promise.all([
        a.metric('retention_deleted_rows_total', { rule }),
        b.metric('retention_deleted_rows_total', { rule }),
      ]);
      return { A: onA, B: onB };
    };
    return { outbox: await of('outbox.delivered'), tokens: await of('identity.password_reset_tokens') };
  }
});
