import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { createTestDatabase, servicesMode } from '../helpers/database.js';
import { createUser } from '../helpers/users.js';
import { notificationRow, queue, reminder } from './helpers.js';

const START = new Date('2026-11-23T10:00:00.000Z');
const WEEK_MS = 7 * 86_400_000;

// The cap is counted under a per-person advisory lock (notifications.repository.ts): PGlite runs
// one statement at a time, PostgreSQL (npm run test:services) runs the deliveries truly at once.
const databases = [
  { name: 'PGlite', kind: 'pglite' as const },
  ...(servicesMode ? [{ name: 'PostgreSQL', kind: 'postgres' as const }] : []),
];

describe.each(databases)('weekly cap of 1 under concurrent deliveries ($name)', ({ kind }) => {
  const clock = createTestClock(START);
  let t: TestApp | undefined;
  let logLines: Record<string, unknown>[];

  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const start = async () => {
    clock.set(START);
    logLines = [];
    const database = await createTestDatabase({ kind });
    t = await buildTestApp({ clock, database, logLines, env: { NOTIFICATIONS_WEEKLY_CAP: '1' } });
    return t;
  };
  /** Messages the development log channel sent for this notification. */
  const sentLines = (id: string) =>
    logLines.filter((line) => line.delivery_id === id && line.msg === 'email message (log channel)');
  /** A non-urgent, non-priority reminder by email (the development log channel). */
  const capped = (userId: string) => reminder(userId, { channels: ['email'] });
  const deliverNow = (app: TestApp, id: string, outboxId: string) =>
    app.app.platform.services.notifications.deliver(
      { notification_id: id },
      { id: outboxId, type: 'notification.deliver', attempt: 1, maxAttempts: 6 },
    );

  it('two messages for one person delivered at once: exactly one is sent, the other cancelled weekly_cap', async () => {
    const app = await start();
    const user = await createUser(app.app);
    const ids = [await queue(app, capped(user.id)), await queue(app, capped(user.id))];
    const rows = await Promise.all(ids.map((id) => notificationRow(app, id)));

    await Promise.all(rows.map((row) => deliverNow(app, row.id, row.outboxId as string)));

    const after = await Promise.all(ids.map((id) => notificationRow(app, id)));
    const sent = after.filter((row) => row.status === 'sent');
    const cancelled = after.filter((row) => row.status === 'cancelled');
    expect(sent).toHaveLength(1);
    expect(cancelled).toHaveLength(1);
    expect(sent[0]?.cappedAt?.toISOString()).toBe(START.toISOString());
    expect(cancelled[0]).toMatchObject({ cancelReason: 'weekly_cap', sentAt: null, cappedAt: null, attempts: 0 });
    expect(ids.map((id) => sentLines(id).length).sort()).toEqual([0, 1]);

    // The outbox runs both messages again later: nothing more goes out.
    await app.app.platform.dispatcher.runOnce();
    expect(ids.map((id) => sentLines(id).length).sort()).toEqual([0, 1]);
  });

  it('a dispatcher batch holding five messages for one person sends one; another person has a place of their own', async () => {
    const app = await start();
    const user = await createUser(app.app);
    const other = await createUser(app.app);
    const mine = [];
    for (let n = 0; n < 5; n++) mine.push(await queue(app, capped(user.id)));
    const theirs = await queue(app, capped(other.id));

    // OUTBOX_BATCH_SIZE is 20: one pass claims all six and delivers them side by side.
    expect(await app.app.platform.dispatcher.runOnce()).toBe(6);

    const rows = await Promise.all(mine.map((id) => notificationRow(app, id)));
    expect(rows.filter((row) => row.status === 'sent')).toHaveLength(1);
    expect(rows.filter((row) => row.status === 'cancelled' && row.cancelReason === 'weekly_cap')).toHaveLength(4);
    expect(mine.reduce((total, id) => total + sentLines(id).length, 0)).toBe(1);
    expect(await notificationRow(app, theirs)).toMatchObject({ status: 'sent' });
  });

  it('urgent and priority messages go past a full week; a week later there is a place again', async () => {
    const app = await start();
    const user = await createUser(app.app);
    const first = await queue(app, capped(user.id));
    const over = await queue(app, capped(user.id));
    const priority = await queue(app, reminder(user.id, { channels: ['email'], priority: true }));
    const urgent = await queue(app, {
      userId: user.id,
      channels: ['email'],
      purpose: 'booking',
      template: 'booking_cancelled',
      data: { service_name: 'Yoga', starts_at: '2026-11-27T09:00:00.000Z' },
      urgent: true,
    });

    expect(await app.app.platform.dispatcher.runOnce()).toBe(4);

    const statuses = await Promise.all([first, over].map(async (id) => (await notificationRow(app, id)).status));
    expect(statuses.sort()).toEqual(['cancelled', 'sent']);
    expect(await notificationRow(app, priority)).toMatchObject({ status: 'sent', cappedAt: null });
    expect(await notificationRow(app, urgent)).toMatchObject({ status: 'sent', cappedAt: null });

    clock.advance(WEEK_MS - 1000);
    const early = await queue(app, capped(user.id));
    await app.app.platform.dispatcher.runOnce();
    expect(await notificationRow(app, early)).toMatchObject({ status: 'cancelled', cancelReason: 'weekly_cap' });

    clock.advance(2000);
    const later = await queue(app, capped(user.id));
    await app.app.platform.dispatcher.runOnce();
    expect(await notificationRow(app, later)).toMatchObject({ status: 'sent' });
  });
});
