import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { inTransaction } from '../../src/infra/db/transaction.js';
import { afterCommit, GlobalHandleInTransactionError } from '../../src/infra/db/transaction-context.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';
import { createUser } from '../helpers/users.js';

/** Resolves with the promise's value, or rejects once `ms` pass: a hang becomes a failure. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The guard's error, wherever it sits in the cause chain (Drizzle wraps driver errors). */
async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await within(2000, promise, 'the refused query');
  } catch (error) {
    let current: unknown = error;
    while (current instanceof Error && !(current instanceof GlobalHandleInTransactionError)) current = current.cause;
    return current ?? error;
  }
  throw new Error('the query ran inside an open transaction');
}

const one = async (db: Parameters<typeof queryRows>[0]) =>
  (await queryRows<{ n: number }>(db, sql`select 1 as n`))[0]?.n;

describe('transaction guard', () => {
  it('refuses a query through the global handle while a transaction is open, and allows it again after', async () => {
    const database = await createTestDatabase();
    try {
      const { db } = database;
      let leaked: Promise<unknown> | undefined;
      await inTransaction(db, async (tx) => {
        expect(await one(tx)).toBe(1);
        expect(await refusal(one(db))).toBeInstanceOf(GlobalHandleInTransactionError);
        // A nested transaction on the global handle would wait on this one just the same.
        expect(await refusal(db.transaction(async () => 1))).toBeInstanceOf(GlobalHandleInTransactionError);
        // Work that outlives the transaction may use the global handle once it has ended.
        leaked = new Promise((resolve) => setTimeout(resolve, 50)).then(() => one(db));
      });
      expect(await within(2000, leaked as Promise<unknown>, 'the continuation')).toBe(1);
      expect(await one(db)).toBe(1);
      // Unrelated async contexts are unaffected while another one holds a transaction.
      const [inside, outside] = await within(
        5000,
        Promise.all([
          inTransaction(db, async (tx) => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            return one(tx);
          }),
          one(db),
        ]),
        'two concurrent callers',
      );
      expect([inside, outside]).toEqual([1, 1]);
    } finally {
      await database.close();
    }
  });
});

describe('transaction context between transactions (the storage is off while none is open)', () => {
  it("keeps a running transaction's context when another one ends, and after-commit work waits for its commit", async () => {
    const database = await createTestDatabase();
    try {
      const { db } = database;
      const order: string[] = [];
      const fail = (error: unknown) => order.push(`error ${String(error)}`);
      const short = inTransaction(db, async (tx) => {
        await afterCommit(() => void order.push('short committed'), fail);
        return one(tx);
      });
      const long = inTransaction(db, async (tx) => {
        // By now the short transaction has ended (on PostgreSQL it ran alongside this one).
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await refusal(one(db))).toBeInstanceOf(GlobalHandleInTransactionError);
        await afterCommit(() => void order.push('long committed'), fail);
        order.push('long work done');
        return one(tx);
      });
      expect(await within(5000, Promise.all([short, long]), 'two overlapping transactions')).toEqual([1, 1]);
      expect(order).toEqual(['short committed', 'long work done', 'long committed']);
      // With no transaction open, after-commit work runs at once and the handle answers.
      await afterCommit(() => void order.push('outside'), fail);
      expect(order.at(-1)).toBe('outside');
      expect(await one(db)).toBe(1);
      // A transaction after the storage was switched off gets its context back.
      await inTransaction(db, async () => {
        expect(await refusal(one(db))).toBeInstanceOf(GlobalHandleInTransactionError);
      });
    } finally {
      await database.close();
    }
  });
});

describe('PATCH /me/reminders/:id switching to WhatsApp (it used to wait on its own transaction)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  // Without the guard, so the fix itself is what keeps the app answering; on PostgreSQL with a
  // pool of one connection, where a second connection inside the transaction can never come.
  const databases: { name: string; kind: 'pglite' | 'postgres' }[] = [
    { name: 'the embedded database', kind: 'pglite' },
    ...(servicesMode ? [{ name: 'PostgreSQL with a pool of one connection', kind: 'postgres' as const }] : []),
  ];
  it.each(databases)('answers on $name, and the database stays reachable', async ({ kind }) => {
    const database = await createTestDatabase({ kind, poolMax: 1, guardTransactions: false });
    t = await buildTestApp({ database });
    const app = t.app;
    const user = await createUser(app);
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/me/reminders',
      headers: user.headers,
      payload: { title: 'Screening', starts_at: '2027-06-01T09:00:00Z', time_zone: 'Europe/London', channel: 'email' },
    });
    expect(created.statusCode).toBe(201);
    const url = `/api/v1/me/reminders/${created.json().data.id}`;
    const patch = () =>
      within(5000, app.inject({ method: 'PATCH', url, headers: user.headers, payload: { channel: 'whatsapp' } }), url);

    const withoutConsent = await patch();
    expect(withoutConsent.statusCode).toBe(409);
    expect(withoutConsent.json().code).toBe('CONSENT_REQUIRED');

    const consent = await app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/whatsapp',
      headers: user.headers,
      payload: { granted: true },
    });
    expect(consent.statusCode).toBe(200);
    const phone = await app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { phone: '+447700900123' },
    });
    expect(phone.statusCode).toBe(200);

    const switched = await patch();
    expect(switched.statusCode).toBe(200);
    expect(switched.json().data.channel).toBe('whatsapp');
    const ready = await within(5000, app.inject({ url: '/api/health/ready' }), 'readiness');
    expect(ready.statusCode).toBe(200);
    const [row] = await queryRows<{ channel: string }>(
      app.platform.db,
      sql`select channel from reminders where id = ${created.json().data.id}`,
    );
    expect(row?.channel).toBe('whatsapp');
  });
});
