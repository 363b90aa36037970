import { createHash, randomBytes } from 'node:crypto';
import { asc, eq, sql } from 'drizzle-orm';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditRow, auditLog } from '../../src/modules/audit/audit.tables.js';
import { buildTestApp, createTestClock, type TestApp, type TestAppOptions } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

const GENESIS = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const HOUR = 3_600_000;
const IP = '192.0.2.44';

// A busy test machine can stall the event loop past the shedding threshold; shedding has its own test.
const NO_LOAD_SHEDDING = { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' };

const open: TestApp[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function app(options: TestAppOptions = {}): Promise<TestApp> {
  const t = await buildTestApp({ ...options, env: { ...NO_LOAD_SHEDDING, ...options.env } });
  open.push(t);
  return t;
}

function allRows(t: TestApp): Promise<AuditRow[]> {
  return t.app.platform.db.select().from(auditLog).orderBy(asc(auditLog.seq));
}

function rowsFor(t: TestApp, response: LightMyRequestResponse): Promise<AuditRow[]> {
  const correlationId = response.headers['x-correlation-id'];
  expect(correlationId).toEqual(expect.any(String));
  return t.app.platform.db
    .select()
    .from(auditLog)
    .where(eq(auditLog.correlationId, String(correlationId)))
    .orderBy(asc(auditLog.seq));
}

/** The one row of `action` written by the request that got `response`, checked field by field. */
async function expectAudited(
  t: TestApp,
  response: LightMyRequestResponse,
  expected: { action: string; actorId: string | null; targetType: string | null; targetId: string | null },
): Promise<AuditRow> {
  const rows = (await rowsFor(t, response)).filter((row) => row.action === expected.action);
  expect(rows, `${expected.action} rows for this request`).toHaveLength(1);
  const row = rows[0] as AuditRow;
  expect(row).toMatchObject({
    ...expected,
    ip: IP,
    correlationId: response.headers['x-correlation-id'],
  });
  expect(row.createdAt).toBeInstanceOf(Date);
  expect(row.prevHash).toMatch(HEX64);
  expect(row.hash).toMatch(HEX64);
  return row;
}

/** sha256(prev_hash || canonical row), computed here without the app's code. */
function expectedHash(row: AuditRow): string {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  };
  const canonical = JSON.stringify(
    sortKeys({
      seq: row.seq,
      id: row.id,
      actor_id: row.actorId,
      action: row.action,
      target_type: row.targetType,
      target_id: row.targetId,
      ip: row.ip,
      correlation_id: row.correlationId,
      details: row.details,
      created_at: row.createdAt.toISOString(),
    }),
  );
  return createHash('sha256').update(row.prevHash).update(canonical).digest('hex');
}

function sessionIdOf(accessToken: string): string {
  const payload = accessToken.split('.')[1] as string;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).sid;
}

/** The error's message and its causes' (drivers wrap the server's message). */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let current = error; current instanceof Error; current = current.cause) parts.push(current.message);
  return parts.join(' | ');
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return errorText(error);
  }
  throw new Error('expected the statement to be rejected');
}

async function verify(t: TestApp, admin: TestUser) {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/admin/audit/verify', headers: admin.headers });
  expect(response.statusCode).toBe(200);
  return response.json().data as {
    valid: boolean;
    checked: number;
    broken?: { seq: number; id: string | null; reason: string };
  };
}

/** Edits the table the way only a superuser can: triggers off for one transaction. */
async function bypassingTriggers(t: TestApp, statement: ReturnType<typeof sql>) {
  await t.app.platform.db.transaction(async (tx) => {
    await tx.execute(sql`set local session_replication_role = replica`);
    await tx.execute(statement);
  });
}

describe('audit trail: what is recorded', () => {
  it('records each security-relevant action with actor, target, IP and correlation id, and names people by id only', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    const inject = (options: InjectOptions) => t.app.inject({ ...options, remoteAddress: IP });

    const suffix = randomBytes(4).toString('hex');
    const person = {
      email: `quintessa.${suffix}@example.test`,
      password: 'Orchard-lantern-river-42',
      name: `Quintessa Marlowe-${suffix}`,
      phone: '+447700900123',
    };

    const signup = await inject({ method: 'POST', url: '/api/v1/auth/signup', payload: person });
    expect(signup.statusCode).toBe(201);
    const userId = signup.json().data.user.id as string;
    const asUser = { actorId: userId, targetType: 'user', targetId: userId };
    await expectAudited(t, signup, { action: 'auth.signup', ...asUser });

    const login = await inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: person.email, password: person.password },
    });
    expect(login.statusCode).toBe(200);
    await expectAudited(t, login, { action: 'auth.login', ...asUser });
    const accessToken = login.json().data.access_token as string;
    const userHeaders = { authorization: `Bearer ${accessToken}` };

    const newPassword = 'Harbour-compass-meadow-77';
    const change = await inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: userHeaders,
      payload: { current_password: person.password, new_password: newPassword },
    });
    expect(change.statusCode).toBe(200);
    await expectAudited(t, change, { action: 'auth.password_changed', ...asUser });

    const logout = await inject({ method: 'POST', url: '/api/v1/auth/logout', headers: userHeaders });
    expect(logout.statusCode).toBe(200);
    await expectAudited(t, logout, {
      action: 'auth.logout',
      actorId: userId,
      targetType: 'session',
      targetId: sessionIdOf(accessToken),
    });

    const failures: LightMyRequestResponse[] = [];
    for (let i = 0; i < 5; i++) {
      failures.push(
        await inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: person.email, password: 'Not-my-password-at-all' },
        }),
      );
    }
    expect(failures.map((response) => response.statusCode)).toEqual([401, 401, 401, 401, 401]);
    // Whoever typed the wrong password is unknown: no actor; the account is the target.
    const againstUser = { ...asUser, actorId: null };
    for (const failure of failures) await expectAudited(t, failure, { action: 'auth.login_failed', ...againstUser });
    const lockout = await expectAudited(t, failures[4] as LightMyRequestResponse, {
      action: 'auth.lockout',
      ...againstUser,
    });
    expect(lockout.details).toEqual({ locked_for_seconds: 60 });

    const asAdmin = { actorId: admin.id, targetType: 'user', targetId: userId };
    for (const [field, value] of [
      ['role', 'provider'],
      ['plan', 'premium'],
      ['is_active', false],
    ] as const) {
      const update = await inject({
        method: 'PATCH',
        url: `/api/v1/admin/users/${userId}`,
        headers: admin.headers,
        payload: { [field]: value },
      });
      expect(update.statusCode).toBe(200);
      const row = await expectAudited(t, update, { action: 'admin.user_updated', ...asAdmin });
      expect(row.details).toEqual({ changes: { [field]: { from: expect.anything(), to: value } } });
    }

    const viewed = await inject({ method: 'GET', url: `/api/v1/admin/users/${userId}`, headers: admin.headers });
    expect(viewed.statusCode).toBe(200);
    await expectAudited(t, viewed, { action: 'admin.user_viewed', ...asAdmin });

    const key = `audit_flag_${suffix}`;
    const asFlag = { actorId: admin.id, targetType: 'feature_flag', targetId: key };
    const created = await inject({
      method: 'POST',
      url: '/api/v1/admin/flags',
      headers: admin.headers,
      payload: { key, description: 'audit test', enabled: true },
    });
    expect(created.statusCode).toBe(201);
    await expectAudited(t, created, { action: 'flag.created', ...asFlag });
    const updated = await inject({
      method: 'PATCH',
      url: `/api/v1/admin/flags/${key}`,
      headers: admin.headers,
      payload: { rollout_percentage: 50 },
    });
    expect(updated.statusCode).toBe(200);
    await expectAudited(t, updated, { action: 'flag.updated', ...asFlag });
    const deleted = await inject({ method: 'DELETE', url: `/api/v1/admin/flags/${key}`, headers: admin.headers });
    expect(deleted.statusCode).toBe(204);
    await expectAudited(t, deleted, { action: 'flag.deleted', ...asFlag });

    const dump = JSON.stringify(await allRows(t));
    for (const personal of [person.email, person.name, person.phone, admin.email]) {
      expect(dump).not.toContain(personal);
    }
    expect(dump).not.toContain(person.phone.slice(1));
    expect(dump).not.toContain(person.password);
    expect(dump).not.toContain(newPassword);
  });
});

describe('audit trail: hash chain', () => {
  it('links every row to the one before, starting from 64 zeros; verify walks all of them', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    const user = await createUser(t.app);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'Wrong-password-here' },
    });
    await t.app.inject({ method: 'GET', url: `/api/v1/admin/users/${user.id}`, headers: admin.headers });

    const rows = await allRows(t);
    expect(rows.length).toBeGreaterThanOrEqual(7);
    expect(rows[0]?.prevHash).toBe(GENESIS);
    rows.forEach((row, index) => {
      expect(row.seq).toBe(index + 1);
      if (index > 0) expect(row.prevHash).toBe(rows[index - 1]?.hash);
      expect(row.hash).toBe(expectedHash(row));
    });

    expect(await verify(t, admin)).toEqual({ valid: true, checked: rows.length });
  });

  it('keeps one gapless chain when 20 signups, then 20 admin reads, write at once', async () => {
    const t = await app();
    const suffix = randomBytes(4).toString('hex');
    const signups = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/signup',
          payload: { email: `parallel${i}.${suffix}@example.test`, password: `Parallel-passphrase-${i}-${suffix}` },
        }),
      ),
    );
    expect(signups.map((response) => response.statusCode)).toEqual(Array(20).fill(201));

    const rows = await allRows(t);
    expect(rows.filter((row) => row.action === 'auth.signup')).toHaveLength(20);
    expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(new Set(rows.map((row) => row.prevHash)).size).toBe(rows.length);

    // Signups queue on argon2 first; admin reads of other users write with nothing before them.
    const admin = await createUser(t.app, { role: 'admin' });
    const targets = signups.map((response) => response.json().data.user.id as string);
    const reads = await Promise.all(
      targets.map((id) => t.app.inject({ method: 'GET', url: `/api/v1/admin/users/${id}`, headers: admin.headers })),
    );
    expect(reads.map((response) => response.statusCode)).toEqual(Array(20).fill(200));

    const all = await allRows(t);
    expect(
      all
        .filter((row) => row.action === 'admin.user_viewed')
        .map((row) => row.targetId)
        .sort(),
    ).toEqual([...targets].sort());
    expect(all.map((row) => row.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    all.forEach((row, index) => {
      expect(row.prevHash).toBe(index === 0 ? GENESIS : all[index - 1]?.hash);
    });
    expect(await verify(t, admin)).toEqual({ valid: true, checked: all.length });
  });
});

describe('audit trail: append-only', () => {
  it('rejects UPDATE, DELETE and TRUNCATE, and leaves the rows as they were', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    const before = await allRows(t);
    expect(before.length).toBeGreaterThan(0);
    const { db } = t.app.platform;

    expect(await rejection(db.execute(sql`update audit_log set action = 'auth.nothing' where seq = 1`))).toMatch(
      /append-only/,
    );
    expect(await rejection(db.execute(sql`delete from audit_log where seq = 1`))).toMatch(/append-only/);
    expect(await rejection(db.execute(sql`truncate audit_log`))).toMatch(/append-only/);

    expect(await allRows(t)).toEqual(before);
    expect(await verify(t, admin)).toEqual({ valid: true, checked: before.length });
  });

  it('names an edited row', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    await createUser(t.app);
    const rows = await allRows(t);
    expect(rows.length).toBeGreaterThan(3);
    const third = rows[2] as AuditRow;

    await bypassingTriggers(t, sql`update audit_log set details = '{"x":1}' where seq = 3`);
    expect((await allRows(t))[2]?.details).toEqual({ x: 1 });

    const result = await verify(t, admin);
    expect(result.valid).toBe(false);
    expect(result.checked).toBe(2);
    expect(result.broken).toMatchObject({ seq: 3, id: third.id });
    expect(result.broken?.reason).toMatch(/edited/);
  });

  it('names a removed row', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    await createUser(t.app);
    expect((await allRows(t)).length).toBeGreaterThan(3);

    await bypassingTriggers(t, sql`delete from audit_log where seq = 2`);
    expect((await allRows(t)).map((row) => row.seq)).not.toContain(2);

    const result = await verify(t, admin);
    expect(result.valid).toBe(false);
    expect(result.checked).toBe(1);
    expect(result.broken?.seq).toBe(2);
    expect(result.broken?.reason).toMatch(/missing/);
  });

  it('notices rows removed from the end of the chain', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    await createUser(t.app);
    const rows = await allRows(t);
    const last = rows.length;
    expect(last).toBeGreaterThan(3);

    await bypassingTriggers(t, sql`delete from audit_log where seq >= ${last - 1}`);

    const result = await verify(t, admin);
    expect(result.valid).toBe(false);
    expect(result.checked).toBe(last - 2);
    expect(result.broken).toMatchObject({ seq: last - 1, id: null });
    expect(result.broken?.reason).toMatch(/missing from the end/);
  });
});

describe('GET /api/v1/admin/audit', () => {
  it('filters by action, actor, target and time, newest first', async () => {
    const clock = createTestClock(new Date('2026-11-23T08:00:00.000Z'));
    const t = await app({ clock });
    const early = await createUser(t.app);
    clock.advance(HOUR);
    const middle = await createUser(t.app);
    clock.advance(HOUR);
    const admin = await createUser(t.app, { role: 'admin' });
    const rows = await allRows(t);

    const list = async (query: string) => {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/audit?${query}`,
        headers: admin.headers,
      });
      expect(response.statusCode).toBe(200);
      return response.json() as {
        data: ({ id: string } & Record<string, unknown>)[];
        meta: { next_cursor: string | null };
      };
    };
    const idsOf = (entries: { id: unknown }[]) => entries.map((entry) => entry.id);
    const newestFirst = (selected: AuditRow[]) => idsOf([...selected].reverse());

    const signups = await list('action=auth.signup');
    expect(idsOf(signups.data)).toEqual(newestFirst(rows.filter((row) => row.action === 'auth.signup')));
    expect(signups.data).toHaveLength(3);
    const entry = signups.data.find((candidate) => candidate.actor_id === middle.id);
    const row = rows.find((candidate) => candidate.id === entry?.id) as AuditRow;
    expect(entry).toEqual({
      id: row.id,
      seq: row.seq,
      actor_id: middle.id,
      action: 'auth.signup',
      target_type: 'user',
      target_id: middle.id,
      ip: row.ip,
      correlation_id: row.correlationId,
      details: {},
      created_at: '2026-11-23T09:00:00.000Z',
      prev_hash: row.prevHash,
      hash: row.hash,
    });

    const byActor = await list(`actor_id=${early.id}`);
    expect(idsOf(byActor.data)).toEqual(newestFirst(rows.filter((candidate) => candidate.actorId === early.id)));
    expect(byActor.data.map((candidate) => candidate.action)).toEqual(['auth.login', 'auth.signup']);

    // The admin's setup wrote 'admin.user_updated' about the admin: actor and target differ in general.
    const byTarget = await list(`target_id=${admin.id}`);
    expect(idsOf(byTarget.data)).toEqual(newestFirst(rows.filter((candidate) => candidate.targetId === admin.id)));
    expect(byTarget.data.map((candidate) => candidate.action)).toContain('admin.user_updated');

    const window = await list('from=2026-11-23T08:30:00.000Z&to=2026-11-23T09:00:00.000Z');
    expect(idsOf(window.data)).toEqual(
      newestFirst(rows.filter((candidate) => candidate.createdAt.toISOString() === '2026-11-23T09:00:00.000Z')),
    );
    expect(window.data.every((candidate) => candidate.actor_id === middle.id)).toBe(true);
    expect(window.data.length).toBeGreaterThanOrEqual(2);

    const combined = await list(`action=auth.login&from=2026-11-23T09:00:00.000Z`);
    expect(combined.data.map((candidate) => candidate.actor_id)).toEqual([admin.id, middle.id]);

    expect((await list('action=auth.nothing')).data).toEqual([]);
  });

  it('pages with a cursor: each page continues below the last seq, without overlap', async () => {
    const t = await app();
    await createUser(t.app);
    const admin = await createUser(t.app, { role: 'admin' });
    const rows = await allRows(t);
    expect(rows.length).toBeGreaterThan(4);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/admin/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await t.app.inject({ method: 'GET', url, headers: admin.headers });
      expect(response.statusCode).toBe(200);
      const body = response.json() as { data: { seq: number }[]; meta: { next_cursor: string | null } };
      const seqs = body.data.map((entry) => entry.seq);
      expect(seqs.length).toBeLessThanOrEqual(2);
      if (cursor) expect(seqs.every((seq) => seq < Number(cursor))).toBe(true);
      if (body.meta.next_cursor !== null) expect(body.meta.next_cursor).toBe(String(seqs.at(-1)));
      seen.push(...seqs);
      cursor = body.meta.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 50);

    expect(seen).toEqual(rows.map((row) => row.seq).reverse());
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('rejects malformed filters', async () => {
    const t = await app();
    const admin = await createUser(t.app, { role: 'admin' });
    for (const query of ['actor_id=not-a-uuid', 'limit=0', 'limit=101', 'cursor=abc', 'from=yesterday', 'colour=red']) {
      const response = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/audit?${query}`,
        headers: admin.headers,
      });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().code).toBe('VALIDATION_ERROR');
    }
  });

  it('answers 401 without a token and 403 to users and providers, for the list and for verify', async () => {
    const t = await app();
    const user = await createUser(t.app);
    const provider = await createUser(t.app, { role: 'provider' });
    for (const url of ['/api/v1/admin/audit', '/api/v1/admin/audit/verify']) {
      const anonymous = await t.app.inject({ method: 'GET', url });
      expect(anonymous.statusCode, url).toBe(401);
      expect(anonymous.json().code).toBe('UNAUTHORIZED');
      for (const caller of [user, provider]) {
        const forbidden = await t.app.inject({ method: 'GET', url, headers: caller.headers });
        expect(forbidden.statusCode, `${url} as ${caller.role}`).toBe(403);
        expect(forbidden.json().code).toBe('FORBIDDEN');
      }
    }
  });
});
