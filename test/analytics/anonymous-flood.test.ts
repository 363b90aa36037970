import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const NOW = new Date('2026-11-23T10:00:00.000Z');
const DAY = 86_400_000;

/**
 * Security review finding 6: anyone without an account could post 500 `content_viewed` events a
 * request and push an item to the top of the content report. Anonymous events are now stored once
 * per device, event, item and UTC day, and the content report counts them apart and never ranks
 * on them.
 */
describe('anonymous events cannot inflate the reports', () => {
  const clock = createTestClock(NOW);
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const post = (events: unknown[], headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/api/v1/events', headers, payload: { events } });
  const view = (deviceId: string, contentId: string, at: Date = clock.now()) => ({
    name: 'content_viewed',
    time: at.toISOString(),
    device_id: deviceId,
    properties: { content_id: contentId },
  });
  const views = async (contentId: string) =>
    queryRows<{ subject: string | null; source: string }>(
      t.app.platform.db,
      sql`select subject, source from product_events
          where name = 'content_viewed' and lower(properties->>'content_id') = ${contentId}`,
    );
  const seenKeys = () =>
    queryRows<{ day: string; key: string }>(
      t.app.platform.db,
      sql`select to_char(day, 'YYYY-MM-DD') as day, key from analytics_anonymous_seen order by day, key`,
    );
  const consentingUser = async () => {
    const user = await createUser(t.app);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: user.headers,
      payload: { granted: true },
    });
    expect(res.statusCode).toBe(200);
    return user;
  };
  const contentReport = async (day: string, format: 'json' | 'csv' = 'json') => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/analytics/content?from=${day}&to=${day}&format=${format}`,
      headers: admin.headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res;
  };

  it('stores 500 identical anonymous views from one device once, in one batch and again in a second', async () => {
    const item = randomUUID();
    const device = `flood-${randomUUID()}`;
    const batch = Array.from({ length: 500 }, () => view(device, item));

    const first = await post(batch);
    expect(first.statusCode).toBe(202);
    // Repeats are accepted (a client retrying a batch is not told it failed) and reported as duplicates.
    expect(first.json().data).toMatchObject({ accepted: 500, duplicates: 499, rejected: [], dropped_no_consent: 0 });
    expect(await views(item)).toEqual([{ subject: null, source: 'client' }]);

    const second = await post(batch);
    expect(second.statusCode).toBe(202);
    expect(second.json().data).toMatchObject({ accepted: 500, duplicates: 500 });
    expect(await views(item)).toHaveLength(1);

    // The same item under another spelling of its id, a second later, is still the same view.
    const upper = await post([view(device, item.toUpperCase(), new Date(NOW.getTime() + 1000))]);
    expect(upper.json().data).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(await views(item)).toHaveLength(1);

    // What is kept to recognise the repeat is a hash, not the device id.
    const keys = await seenKeys();
    expect(keys.filter((row) => row.day === '2026-11-23').length).toBeGreaterThanOrEqual(1);
    for (const row of keys) expect(row.key).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(keys)).not.toContain(device);
  });

  it('stores two batches sent at the same time once', async () => {
    const item = randomUUID();
    const batch = Array.from({ length: 50 }, () => view('racing-device', item));
    const answers = await Promise.all([post(batch), post(batch), post(batch)]);
    expect(answers.map((res) => res.statusCode)).toEqual([202, 202, 202]);
    expect(answers.map((res) => res.json().data.accepted)).toEqual([50, 50, 50]);
    expect(answers.reduce((sum, res) => sum + res.json().data.duplicates, 0)).toBe(149);
    expect(await views(item)).toHaveLength(1);
  });

  it('counts each device once per item and UTC day', async () => {
    const item = randomUUID();
    const other = randomUUID();
    const devices = Array.from({ length: 20 }, (_, i) => `phone-${i}`);
    // Three views from each device, split over two batches.
    const one = await post(devices.flatMap((device) => [view(device, item), view(device, item)]));
    expect(one.json().data).toMatchObject({ accepted: 40, duplicates: 20 });
    const two = await post(devices.map((device) => view(device, item)));
    expect(two.json().data).toMatchObject({ accepted: 20, duplicates: 20 });
    expect(await views(item)).toHaveLength(20);

    // Another item from the same device, and the same item on another UTC day, are new views.
    const more = await post([
      view('phone-0', other),
      view('phone-0', item, new Date(NOW.getTime() - DAY)),
      view('phone-0', item, new Date(NOW.getTime() - DAY + 60_000)),
    ]);
    expect(more.json().data).toMatchObject({ accepted: 3, duplicates: 1 });
    expect(await views(item)).toHaveLength(21);
    expect(await views(other)).toHaveLength(1);

    // Other anonymous events are de-duplicated the same way (a search has no item: once a device and day).
    const search = { name: 'service_searched', time: NOW.toISOString(), device_id: 'phone-0', properties: {} };
    const searches = await post([search, search, { ...search, device_id: 'phone-1' }]);
    expect(searches.json().data).toMatchObject({ accepted: 3, duplicates: 1 });
  });

  it('never ranks an item on anonymous views above one with more views from signed-in people', async () => {
    const flooded = randomUUID();
    const liked = randomUUID();
    const day = new Date(NOW.getTime() - 2 * DAY);
    const [reader, other] = [await consentingUser(), await consentingUser()];
    // Signed in: three views of `liked` by two people, one view of `flooded`.
    expect((await post([view('r1', liked, day), view('r1', liked, day)], reader.headers)).statusCode).toBe(202);
    expect((await post([view('o1', liked, day), view('o1', flooded, day)], other.headers)).statusCode).toBe(202);
    // The flood: a device id per event gets past the per-device limit, so 500 anonymous views are stored.
    const flood = await post(Array.from({ length: 500 }, (_, i) => view(`bot-${i}`, flooded, day)));
    expect(flood.json().data).toMatchObject({ accepted: 500, duplicates: 0 });

    const report = (await contentReport('2026-11-21')).json().data;
    const mine = report.items.filter(
      (row: { content_id: string }) => row.content_id === flooded || row.content_id === liked,
    );
    expect(mine).toEqual([
      {
        content_id: liked,
        title: null,
        views: 3,
        anonymous_views: 0,
        unique_viewers: 2,
        plan_view_conversion: 0,
        rank: 1,
        low_performer: false,
      },
      {
        content_id: flooded,
        title: null,
        views: 1,
        anonymous_views: 500,
        unique_viewers: 1,
        plan_view_conversion: 0,
        rank: 2,
        low_performer: false,
      },
    ]);
    // The CSV has the new column too.
    const csv = await contentReport('2026-11-21', 'csv');
    expect(csv.body.split('\r\n')[0]).toContain('anonymous_views');
  });

  it('stores a signed-in person’s events as before: every one, under the person’s pseudonym', async () => {
    const item = randomUUID();
    const day = new Date(NOW.getTime() - 3 * DAY);
    const reader = await consentingUser();
    const res = await post(
      Array.from({ length: 5 }, () => view('same-device', item, day)),
      reader.headers,
    );
    expect(res.statusCode).toBe(202);
    expect(res.json().data).toMatchObject({ accepted: 5, duplicates: 0, dropped_no_consent: 0 });
    const subject = await subjectOf(t.app, reader.id);
    expect(await views(item)).toEqual(Array.from({ length: 5 }, () => ({ subject, source: 'client' })));

    const report = (await contentReport('2026-11-20')).json().data;
    expect(report.items.find((row: { content_id: string }) => row.content_id === item)).toMatchObject({
      views: 5,
      anonymous_views: 0,
      unique_viewers: 1,
      rank: 1,
    });

    // Without consent nothing is stored, duplicates or not.
    const objector = await createUser(t.app);
    const dropped = await post([view('x', item, day), view('x', item, day)], objector.headers);
    expect(dropped.json().data).toMatchObject({ accepted: 0, duplicates: 0, dropped_no_consent: 2 });
    expect(await views(item)).toHaveLength(5);
  });

  it('refuses a batch over 500 before anything is stored or remembered', async () => {
    const item = randomUUID();
    const before = (await seenKeys()).length;
    const res = await post(Array.from({ length: 501 }, (_, i) => view(`d-${i}`, item)));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_ERROR');
    expect(await views(item)).toHaveLength(0);
    expect((await seenKeys()).length).toBe(before);
  });

  it('forgets the de-duplication keys once no client may send an event of their day', async () => {
    const item = randomUUID();
    const old = new Date(NOW.getTime() - 6 * DAY);
    expect((await post([view('late-device', item, old)])).json().data).toMatchObject({ accepted: 1, duplicates: 0 });
    expect((await seenKeys()).some((row) => row.day === '2026-11-17')).toBe(true);
    try {
      // Two days on, 2026-11-17 is more than 7 days ago: its events are refused, its keys go.
      clock.set(new Date(NOW.getTime() + 2 * DAY));
      const removed = await t.app.platform.retention.runOnce();
      expect(removed['analytics.anonymous_seen']).toBeGreaterThanOrEqual(1);
      const days = (await seenKeys()).map((row) => row.day);
      expect(days.every((day) => day >= '2026-11-18')).toBe(true);
      expect(days).toContain('2026-11-23');
      const late = await post([view('late-device', item, old)]);
      expect(late.json().data.rejected).toEqual([expect.objectContaining({ index: 0, reason: 'time_out_of_range' })]);
    } finally {
      clock.set(NOW);
    }
  });
});
