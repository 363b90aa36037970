import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type N8nReceiver, startN8nReceiver } from '../fixtures/n8n-receiver.js';
import {
  type Account,
  createDeployment,
  type Deployment,
  type Instance,
  makeAdmin,
  printLogsOnFailure,
  servicesUnavailable,
  signIn,
  signUp,
  sleep,
  waitFor,
} from '../support/instance.js';

const unavailable = await servicesUnavailable();

const N8N_SECRET = `n8n-${randomBytes(16).toString('hex')}`;
const PEOPLE = 10;
const REMINDERS_EACH = 20;
const TOTAL = PEOPLE * REMINDERS_EACH;
// Reminders are set this far ahead (their times have whole minutes), then made due by moving them back.
const AHEAD_MINUTES = 10;

interface Person extends Account {
  phone: string;
}

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += width) {
    results.push(...(await Promise.all(items.slice(start, start + width).map((item, i) => work(item, start + i)))));
  }
  return results;
}

const expectOk = (answer: { status: number; body: unknown }, what: string) => {
  if (answer.status >= 300) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
};

describe.skipIf(unavailable)('both instances dispatching: every reminder and outbox message delivered once', () => {
  let receiver: N8nReceiver;
  let deployment: Deployment;
  let a: Instance;
  let b: Instance;
  printLogsOnFailure(() => deployment?.instances ?? []);

  beforeAll(async () => {
    receiver = await startN8nReceiver(N8N_SECRET);
    deployment = await createDeployment({
      env: {
        N8N_WEBHOOK_URL: receiver.url,
        N8N_WEBHOOK_SECRET: N8N_SECRET,
        // Both dispatchers and both schedulers poll often and take small batches, so they compete for rows.
        OUTBOX_POLL_INTERVAL_MS: '50',
        OUTBOX_BATCH_SIZE: '10',
        REMINDERS_POLL_INTERVAL_MS: '100',
        // Request logs of 200 deliveries are noise here.
        LOG_LEVEL: 'warn',
      },
    });
    [a, b] = await Promise.all([deployment.start('A'), deployment.start('B')]);
  });

  afterAll(async () => {
    await deployment?.close();
    await receiver?.close();
  });

  /** A premium person (unlimited reminders) who takes WhatsApp at any hour, set up through `instance`. */
  async function whatsappPerson(instance: Instance, admin: Account, index: number): Promise<Person> {
    const account = await signUp(instance);
    const phone = `+4477${String(Date.now() % 1_000_000).padStart(6, '0')}${String(index).padStart(2, '0')}`;
    const token = account.token;
    expectOk(await instance.request('PATCH', '/api/v1/me', { token, json: { phone } }), 'phone');
    expectOk(
      await instance.request('PUT', '/api/v1/me/consents/whatsapp', { token, json: { granted: true } }),
      'consent',
    );
    expectOk(
      await instance.request('PUT', '/api/v1/me/notification-preferences', {
        token,
        json: { channels: { whatsapp: true, email: true }, quiet_hours: { start: '00:00', end: '00:00' } },
      }),
      'preferences',
    );
    expectOk(
      await instance.request('PATCH', `/api/v1/admin/users/${account.id}`, {
        token: admin.token,
        json: { plan: 'premium' },
      }),
      'premium',
    );
    return { ...(await signIn(instance, account)), phone };
  }

  it(`delivers ${TOTAL} reminders due at once exactly once each, through A's and B's workers together`, async () => {
    const admin = await makeAdmin(deployment, a, await signUp(a));
    const adminOnB = await signIn(b, admin);
    const people = await inBatches(Array.from({ length: PEOPLE }), 5, (_, index) =>
      index % 2 === 0 ? whatsappPerson(a, admin, index) : whatsappPerson(b, adminOnB, index),
    );
    const firstAt = new Date(Math.ceil(Date.now() / 60_000) * 60_000 + AHEAD_MINUTES * 60_000);
    await inBatches(people, 5, async (person, index) => {
      const instance = index % 2 === 0 ? a : b;
      for (let n = 0; n < REMINDERS_EACH; n++) {
        expectOk(
          await instance.request('POST', '/api/v1/me/reminders', {
            token: person.token,
            json: {
              title: `check-in ${index}.${n}`,
              starts_at: new Date(firstAt.getTime() + n * 60_000).toISOString(),
              time_zone: 'UTC',
              channel: 'whatsapp',
            },
          }),
          'reminder',
        );
      }
    });
    const ids = people.map((person) => person.id);
    expect(receiver.calls).toHaveLength(0);

    // Time passes: every reminder's first (and only) occurrence is now in the past.
    const shift = `interval '${AHEAD_MINUTES + REMINDERS_EACH} minutes'`;
    const moved = await deployment.query(
      `update reminders set starts_at = starts_at - ${shift}, next_occurrence_at = next_occurrence_at - ${shift},
         local_start = to_char((starts_at - ${shift}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI')
       where user_id = any($1) returning id`,
      [ids],
    );
    expect(moved).toHaveLength(TOTAL);
    const dueAt = Date.now();

    await waitFor(() => receiver.calls.length >= TOTAL, `${TOTAL} WhatsApp messages at the stand-in`, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const deliveredInMs = Date.now() - dueAt;
    // A second copy of any message would come right behind the first: give it the time to.
    await sleep(1500);

    const calls = receiver.calls;
    const deliveryIds = calls.map((call) => call.deliveryId);
    const notificationIds = (
      await deployment.query<{ notification_id: string }>(
        `select o.notification_id from reminder_occurrences o join reminders r on r.id = o.reminder_id
         where r.user_id = any($1)`,
        [ids],
      )
    ).map((row) => row.notification_id);
    console.log(
      `${TOTAL} reminders due: ${calls.length} webhook calls, ${new Set(deliveryIds).size} distinct, ` +
        `all in ${deliveredInMs} ms`,
    );
    expect(calls.every((call) => call.status === 200)).toBe(true);
    expect(calls).toHaveLength(TOTAL);
    expect(new Set(deliveryIds).size).toBe(TOTAL);
    // One occurrence per reminder, each its own notification, each of those posted once.
    expect(notificationIds).toHaveLength(TOTAL);
    expect(new Set(deliveryIds)).toEqual(new Set(notificationIds));
    const perPhone = new Map<string, number>();
    for (const call of calls) perPhone.set(String(call.body?.to), (perPhone.get(String(call.body?.to)) ?? 0) + 1);
    expect(Object.fromEntries(perPhone)).toEqual(
      Object.fromEntries(people.map((person) => [person.phone, REMINDERS_EACH])),
    );
    const titles = calls.map((call) => /check-in \d+\.\d+/.exec(String(call.body?.text))?.[0]);
    expect(new Set(titles).size).toBe(TOTAL);

    // The outbox: one message per notification, each delivered on its first attempt.
    const outbox = await deployment.query<{ status: string; attempts: number; count: number }>(
      `select status, attempts, count(*)::int as count from outbox where type = 'notification.deliver'
       group by status, attempts`,
    );
    expect(outbox).toEqual([{ status: 'delivered', attempts: 1, count: TOTAL }]);
    const notifications = await deployment.query<{ status: string; count: number }>(
      `select status, count(*)::int as count from notifications where user_id = any($1) group by status`,
      [ids],
    );
    expect(notifications).toEqual([{ status: 'sent', count: TOTAL }]);
    const reminders = await deployment.query<{ active: boolean; count: number }>(
      `select active, count(*)::int as count from reminders where user_id = any($1) group by active`,
      [ids],
    );
    expect(reminders).toEqual([{ active: false, count: TOTAL }]);

    // Both instances took part: their counts add up to the total, no more.
    const sent = await Promise.all(
      [a, b].map((instance) => instance.metric('notifications_sent_total', { channel: 'whatsapp' })),
    );
    const delivered = await Promise.all(
      [a, b].map((instance) =>
        instance.metric('outbox_messages_total', { type: 'notification.deliver', event: 'delivered' }),
      ),
    );
    console.log(`sent by A ${sent[0]}, by B ${sent[1]}; outbox deliveries by A ${delivered[0]}, by B ${delivered[1]}`);
    expect((sent[0] ?? 0) + (sent[1] ?? 0)).toBe(TOTAL);
    expect((delivered[0] ?? 0) + (delivered[1] ?? 0)).toBe(TOTAL);
    expect(sent[0]).toBeGreaterThan(0);
    expect(sent[1]).toBeGreaterThan(0);
  });
});
