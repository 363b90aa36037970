import { createHmac } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { formerTrials } from '../../src/modules/identity/identity.tables.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

// Finding 5: erasing the account and signing up again with the same email must not grant a
// second trial. Erasure keeps an HMAC of the normalised email (never the email) when a trial
// had started; starting a trial checks it.

let emailCounter = 0;
const freshEmail = (label: string) => `${label}.${++emailCounter}.${Date.now()}@example.test`;

describe('a trial is remembered across erasure, by a keyed hash of the email', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  const headersOf = async (email: string, password: string) => {
    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
    expect(login.statusCode, login.body).toBe(200);
    return { authorization: `Bearer ${login.json().data.access_token}` };
  };
  const startTrial = (headers: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/me/trial', headers });
  // Starting a trial changes the plan, which refuses older tokens: sign in again before erasing.
  const eraseSelf = async (user: TestUser) => {
    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: await headersOf(user.email, user.password),
      payload: { password: user.password },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    return erased.json().data;
  };
  /** What erasure should have stored for this email: HMAC-SHA256 under the former-trial key. */
  const expectedHash = (email: string) =>
    createHmac('sha256', `former-trial:${t.app.platform.config.auth.jwtSecret}`)
      .update(email.trim().toLowerCase())
      .digest('hex');
  const formerTrialOf = async (email: string) => {
    const [row] = await t.app.platform.db
      .select()
      .from(formerTrials)
      .where(eq(formerTrials.emailHash, expectedHash(email)));
    return row;
  };
  const planOf = async (headers: Record<string, string>) =>
    (await t.app.inject({ method: 'GET', url: '/api/v1/me', headers })).json().data.plan;

  it('refuses a second trial to the same email signed up again in another case, with 409 TRIAL_ALREADY_USED', async () => {
    const email = freshEmail('trialist');
    const first = await createUser(t.app, { email });
    const started = await startTrial(first.headers);
    expect(started.statusCode, started.body).toBe(201);
    const startedAt = (
      await queryRows<{ trial_started_at: Date | string }>(
        t.app.platform.db,
        sql`select trial_started_at from users where id = ${first.id}`,
      )
    )[0]?.trial_started_at;

    const receipt = await eraseSelf(first);
    expect(receipt.modules.identity).toMatchObject({ action: 'pseudonymised', note: expect.stringContaining('hash') });

    // Only a keyed hash of the email is kept, with the trial's start.
    const remembered = await formerTrialOf(email);
    expect(remembered?.emailHash).toMatch(/^[0-9a-f]{64}$/);
    expect(remembered?.trialStartedAt.toISOString()).toBe(new Date(startedAt as string).toISOString());
    const rows = await queryRows<Record<string, unknown>>(t.app.platform.db, sql`select * from former_trials`);
    expect(JSON.stringify(rows)).not.toContain(email);
    expect(JSON.stringify(rows)).not.toContain(first.id);

    const again = await createUser(t.app, { email: email.toUpperCase() });
    expect(again.id).not.toBe(first.id);
    // The entitlements say so before the person tries.
    const entitlements = await t.app.inject({ method: 'GET', url: '/api/v1/me/entitlements', headers: again.headers });
    expect(entitlements.json().data.trial_available).toBe(false);
    const refused = await startTrial(again.headers);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('TRIAL_ALREADY_USED');
    expect(await planOf(again.headers)).toBe('free');
    const [account] = await queryRows<{ plan: string; trial_started_at: unknown }>(
      t.app.platform.db,
      sql`select plan, trial_started_at from users where id = ${again.id}`,
    );
    expect(account).toEqual({ plan: 'free', trial_started_at: null });

    // The new account's export says why (Art. 15): a trial on this email before.
    const requested = await t.app.inject({ method: 'POST', url: '/api/v1/me/data-export', headers: again.headers });
    await t.app.platform.dispatcher.runOnce();
    const exported = await t.app.inject({
      method: 'GET',
      url: `/api/v1/me/data-export/${requested.json().data.id}`,
      headers: again.headers,
    });
    expect(exported.json().data.document.sections.identity.data.former_trial).toEqual({
      trial_started_at: remembered?.trialStartedAt.toISOString(),
      recorded_at: remembered?.recordedAt.toISOString(),
    });
  });

  it('still gives a trial to another email', async () => {
    const other = await createUser(t.app, { email: freshEmail('other') });
    const started = await startTrial(other.headers);
    expect(started.statusCode, started.body).toBe(201);
    expect(started.json().data.plan).toBe('trial');
  });

  it('remembers nothing for an account that never started a trial: the new account may start one', async () => {
    const email = freshEmail('never');
    const first = await createUser(t.app, { email });
    const receipt = await eraseSelf(first);
    expect(receipt.modules.identity.action).toBe('pseudonymised');
    expect(receipt.modules.identity.note).toBeUndefined();
    expect(await formerTrialOf(email)).toBeUndefined();

    const again = await createUser(t.app, { email });
    const started = await startTrial(again.headers);
    expect(started.statusCode, started.body).toBe(201);
    expect(await planOf(await headersOf(email, again.password))).toBe('trial');
  });

  it('remembers the trial when an admin erases the account too', async () => {
    const admin = await createUser(t.app, { role: 'admin' });
    const email = freshEmail('admin-erased');
    const user = await createUser(t.app, { email });
    expect((await startTrial(user.headers)).statusCode).toBe(201);
    const erased = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/users/${user.id}/erase`,
      headers: admin.headers,
      payload: {},
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(await formerTrialOf(email)).toBeDefined();

    const again = await createUser(t.app, { email });
    const refused = await startTrial(again.headers);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('TRIAL_ALREADY_USED');
  });
});
