import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { EVENT_CATALOGUE, forbiddenKey, maskValue, sanitiseProperties } from '../../src/modules/analytics/index.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { subjectOf } from '../helpers/events.js';
import { createUser, type TestUser } from '../helpers/users.js';

const CONTENT_ID = '0193a5b0-0000-7000-8000-000000000001';

describe('product events in: catalogue, sanitisation, consent, pseudonyms', () => {
  const clock = createTestClock();
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await buildTestApp({ clock });
    admin = await createUser(t.app, { role: 'admin' });
  });
  afterAll(() => t.close());

  const post = (events: unknown[], headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/api/v1/events', headers, payload: { events } });
  const consent = (user: TestUser, granted: boolean) =>
    t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: user.headers,
      payload: { granted },
    });
  const view = (properties: Record<string, unknown> = { content_id: CONTENT_ID }) => ({
    name: 'content_viewed',
    time: clock.now().toISOString(),
    device_id: 'device-1',
    properties,
  });
  const stored = (where = sql`true`) =>
    queryRows<Record<string, unknown>>(
      t.app.platform.db,
      sql`select * from product_events where ${where} order by occurred_at, id`,
    );
  const metric = async (outcome: string) => {
    const text = await t.app.platform.metrics.registry.getSingleMetricAsString('analytics_events_total');
    const match = new RegExp(`analytics_events_total\\{source="client",outcome="${outcome}"\\} (\\d+)`).exec(text);
    return Number(match?.[1] ?? 0);
  };

  it('has a property schema for each of the 19 events, and marks which ones apps may send', () => {
    expect(Object.keys(EVENT_CATALOGUE)).toHaveLength(19);
    const clientEvents = Object.entries(EVENT_CATALOGUE)
      .filter(([, definition]) => definition.origin === 'client')
      .map(([name]) => name);
    expect(clientEvents.sort()).toEqual([
      'content_viewed',
      'diet_plan_viewed',
      'protection_plan_viewed',
      'service_searched',
      'slot_viewed',
    ]);
  });

  it('checks each event of a batch on its own: stores the good ones, returns each rejected one with its index', async () => {
    // This batch's events are found again by a content id and a result count no other test uses.
    const marker = randomUUID();
    const results = Math.floor(Math.random() * 1_000_000) + 1000;
    const events = [
      view({ content_id: marker, tier: 'premium' }),
      'not an object',
      { ...view(), name: 'no_such_event' },
      { ...view(), name: 'booking_created' },
      { ...view(), time: 'yesterday' },
      { ...view(), time: new Date(clock.now().getTime() - 8 * 86_400_000).toISOString() },
      { ...view(), time: new Date(clock.now().getTime() + 3_600_000).toISOString() },
      { ...view(), device_id: '' },
      view({ content_id: 'not-a-uuid' }),
      view({ content_id: CONTENT_ID, type: 'anything a person likes to write here' }),
      { ...view(), extra: 1 },
      {
        name: 'service_searched',
        time: clock.now().toISOString(),
        device_id: 'd2',
        properties: { has_query: true, results, nested: { deep: true } },
      },
    ];
    const res = await post(events);
    expect(res.statusCode).toBe(202);
    const body = res.json().data;
    expect(body.accepted).toBe(2);
    expect(body.dropped_no_consent).toBe(0);
    expect(body.dropped_properties).toBe(1);
    expect(body.rejected.map((r: { index: number; reason: string }) => [r.index, r.reason])).toEqual([
      [1, 'invalid_event'],
      [2, 'unknown_event'],
      [3, 'server_only_event'],
      [4, 'invalid_time'],
      [5, 'time_out_of_range'],
      [6, 'time_out_of_range'],
      [7, 'invalid_device_id'],
      [8, 'invalid_properties'],
      [9, 'invalid_properties'],
      [10, 'invalid_event'],
    ]);
    expect(body.rejected[7].detail).toContain('content_id');
    const rows = await stored(sql`properties->>'content_id' = ${marker} or (properties->>'results')::int = ${results}`);
    expect(rows.map((row) => [row.name, row.source, row.subject, row.plan, row.properties])).toEqual([
      ['content_viewed', 'client', null, null, { content_id: marker, tier: 'premium' }],
      ['service_searched', 'client', null, null, { has_query: true, results }],
    ]);
    // Nothing about the device, the IP or the browser is kept.
    expect(Object.keys(rows[0] as object).sort()).toEqual(
      ['cohort_at', 'country', 'id', 'name', 'occurred_at', 'plan', 'properties', 'source', 'subject'].sort(),
    );
    expect(JSON.stringify(rows)).not.toContain('device-1');
  });

  it('refuses a batch over 500 or an empty one, storing nothing', async () => {
    const before = await stored();
    const big = await post(Array.from({ length: 501 }, () => view()));
    expect(big.statusCode).toBe(400);
    expect(big.json().code).toBe('VALIDATION_ERROR');
    const empty = await post([]);
    expect(empty.statusCode).toBe(400);
    expect((await stored()).length).toBe(before.length);
    const full = await post(Array.from({ length: 500 }, () => view()));
    expect(full.json().data.accepted).toBe(500);
  });

  it('drops a signed-in person’s events without analytics consent, and counts them', async () => {
    const user = await createUser(t.app);
    const droppedBefore = await metric('dropped_no_consent');
    const res = await post([view(), view(), { name: 'nope' }], user.headers);
    expect(res.statusCode).toBe(202);
    expect(res.json().data).toMatchObject({ accepted: 0, dropped_no_consent: 2 });
    expect(res.json().data.rejected).toHaveLength(1);
    expect(await metric('dropped_no_consent')).toBe(droppedBefore + 2);
    // Server-side events do carry the person's pseudonym (legitimate interest, until an objection).
    const subject = await subjectOf(t.app, user.id);
    const hers = await stored(sql`subject = ${subject} and source = 'client'`);
    expect(hers).toHaveLength(0);
  });

  it('refuses a token that does not verify rather than filing the events as anonymous', async () => {
    const res = await post([view()], { authorization: 'Bearer not-a-token' });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('TOKEN_INVALID');
  });

  it('stores a consenting person’s events under the person’s pseudonym, plan and country, sanitised', async () => {
    const user = await createUser(t.app, { plan: 'premium' });
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/me/profile',
      headers: user.headers,
      payload: { country: 'GB' },
    });
    expect((await consent(user, true)).statusCode).toBe(200);
    const res = await post(
      [
        view({
          content_id: CONTENT_ID,
          email: 'grace@example.com',
          phone_number: '+44 7700 900123',
          home_address: '12 Baker Street',
          first_name: 'Grace',
          diagnosis: 'anything',
          hpv_result: 'negative',
          note: 'write to grace@example.com or call +44 7700 900123, 221B Baker Street',
          source_label: 'newsletter',
        }),
      ],
      user.headers,
    );
    expect(res.json().data).toMatchObject({ accepted: 1, dropped_properties: 8 });
    const subject = await subjectOf(t.app, user.id);
    expect(subject).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(subject).not.toContain(user.id);
    const [row] = await stored(sql`subject = ${subject} and source = 'client'`);
    expect(row).toMatchObject({ plan: 'premium', country: 'GB' });
    // The cohort is the sign-up: the pseudonym began with the user_signed_up event.
    const [signup] = await stored(sql`subject = ${subject} and name = 'user_signed_up'`);
    expect(new Date(row?.cohort_at as string).getTime()).toBe(new Date(signup?.occurred_at as string).getTime());
    // A client event keeps only what its catalogue entry declares; the rest never reaches storage.
    expect(row?.properties).toEqual({ content_id: CONTENT_ID });
  });

  it('sanitises server-side events the same way', async () => {
    const user = await createUser(t.app);
    await t.app.platform.database.db.transaction((tx) =>
      t.app.platform.track(tx, 'support_request', user.id, { priority: false, contact_email: 'a@b.co', symptom: 'x' }),
    );
    const rows = await stored(sql`subject = ${await subjectOf(t.app, user.id)} and name = 'support_request'`);
    expect(rows.map((row) => row.properties)).toEqual([{ priority: false }]);
  });

  it('withdrawing analytics consent destroys the person’s secret: old events stay, unlinkable; new ones carry no subject', async () => {
    const user = await createUser(t.app);
    await consent(user, true);
    await post([view()], user.headers);
    const before = await subjectOf(t.app, user.id);
    expect(await stored(sql`subject = ${before}`)).not.toHaveLength(0);
    const countBefore = (await stored(sql`subject = ${before}`)).length;

    expect((await consent(user, false)).statusCode).toBe(200);
    expect(await t.app.platform.services.analytics.subjectOf(user.id)).toBeNull();
    expect((await stored(sql`subject = ${before}`)).length).toBe(countBefore);
    const marker = `after-${Math.random()
      .toString(36)
      .replace(/[^a-z]/g, '')}`;
    await t.app.platform.database.db.transaction((tx) =>
      t.app.platform.track(tx, 'support_request', user.id, { priority: false, tag: marker }),
    );
    const [after] = await stored(sql`properties->>'tag' = ${marker}`);
    expect(after?.subject).toBeNull();
    const dropped = await post([view()], user.headers);
    expect(dropped.json().data.dropped_no_consent).toBe(1);

    // Opting in again starts a new pseudonym, unrelated to the old one.
    await consent(user, true);
    const renewed = await subjectOf(t.app, user.id);
    expect(renewed).not.toBe(before);
  });

  it('lets admins read the latest stored events, filtered by name, with a cursor; nobody else', async () => {
    const user = await createUser(t.app);
    const search = { name: 'service_searched', time: clock.now().toISOString(), device_id: 'd3', properties: {} };
    await post([search, search]);
    const forbidden = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/events',
      headers: user.headers,
    });
    expect(forbidden.statusCode).toBe(403);
    const page1 = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/events?name=service_searched&limit=1',
      headers: admin.headers,
    });
    expect(page1.statusCode).toBe(200);
    const first = page1.json();
    expect(first.data).toHaveLength(1);
    expect(first.data[0]).toMatchObject({ name: 'service_searched', source: 'client' });
    expect(first.meta.next_cursor).toEqual(expect.any(String));
    const all = await t.app.inject({
      method: 'GET',
      url: '/api/v1/admin/analytics/events?limit=100',
      headers: admin.headers,
    });
    const newest = all.json().data;
    const times = newest.map((event: { occurred_at: string }) => event.occurred_at);
    expect([...times].sort().reverse()).toEqual(times);
    const page2 = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/analytics/events?limit=100&cursor=${first.meta.next_cursor}&name=service_searched`,
      headers: admin.headers,
    });
    expect(page2.json().data.map((e: { id: string }) => e.id)).not.toContain(first.data[0].id);
    for (const bad of ['name=nope', 'cursor=garbage', 'from=2026-13-01', 'from=2026-11-20&to=2026-11-01']) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/admin/analytics/events?${bad}`,
        headers: admin.headers,
      });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('what a client event may carry', () => {
  const clock = createTestClock();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ clock });
  });
  afterAll(() => t.close());

  // Free text a person might type about their health; none of it may be kept, linked or not.
  const SENTENCES = [
    'my HPV test came back positive, CIN2 on biopsy',
    'Pap smear abnormal, colposcopy booked next week',
    'taking antiviral medication after my diagnosis',
  ];
  const WORDS = ['HPV', 'CIN2', 'biopsy', 'Pap smear', 'colposcopy', 'antiviral', 'diagnosis'];

  /** The smallest valid properties of a client event: its required ids. */
  const minimal = (name: keyof typeof EVENT_CATALOGUE) => {
    const schema = EVENT_CATALOGUE[name].properties;
    return Object.fromEntries((schema.required ?? []).map((key: string) => [key, randomUUID()]));
  };

  it('keeps no free text: medical sentences in any property of any client event are refused or dropped, before and after erasure', async () => {
    const user = await createUser(t.app);
    await t.app.inject({
      method: 'PUT',
      url: '/api/v1/me/consents/analytics',
      headers: user.headers,
      payload: { granted: true },
    });
    const clientEvents = (Object.keys(EVENT_CATALOGUE) as (keyof typeof EVENT_CATALOGUE)[]).filter(
      (name) => EVENT_CATALOGUE[name].origin === 'client',
    );
    const events: unknown[] = [];
    for (const name of clientEvents) {
      for (const sentence of SENTENCES) {
        const base = { name, time: clock.now().toISOString(), device_id: 'phone-1' };
        // Undeclared properties carrying the sentence: the event is kept, the text is not.
        events.push({ ...base, properties: { ...minimal(name), comment: sentence, note: sentence, label: sentence } });
        // The sentence in each declared property: not an id, a number, a boolean or a listed value.
        for (const key of Object.keys(EVENT_CATALOGUE[name].properties.properties)) {
          events.push({ ...base, properties: { ...minimal(name), [key]: sentence } });
        }
      }
    }
    for (const headers of [user.headers, {}]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers, payload: { events } });
      expect(res.statusCode).toBe(202);
      const body = res.json().data;
      expect(body.accepted).toBe(clientEvents.length * SENTENCES.length);
      expect(body.dropped_properties).toBe(clientEvents.length * SENTENCES.length * 3);
      expect(body.accepted + body.rejected.length).toBe(events.length);
      expect(new Set(body.rejected.map((r: { reason: string }) => r.reason))).toEqual(new Set(['invalid_properties']));
    }
    const storedText = async () =>
      (await queryRows<{ text: string }>(t.app.platform.db, sql`select properties::text as text from product_events`))
        .map((row) => row.text)
        .join('\n');
    const check = async () => {
      const text = await storedText();
      for (const word of WORDS) expect(text.toLowerCase()).not.toContain(word.toLowerCase());
    };
    await check();
    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: user.headers,
      payload: { password: user.password },
    });
    expect(erased.statusCode).toBe(200);
    await check();
  });
});

describe('sanitisation rules', () => {
  it('removes personal and medical keys, keeps ordinary ones', () => {
    for (const key of [
      'email',
      'userEmail',
      'phone',
      'mobile_number',
      'address',
      'street',
      'postcode',
      'name',
      'first_name',
      'displayName',
      'ip',
      'ip_address',
      'user_agent',
      'password',
      'dob',
      'latitude',
    ]) {
      expect(forbiddenKey(key), key).toBe('personal');
    }
    for (const key of [
      'diagnosis',
      'medical_history',
      'hpvStatus',
      'pap_smear_date',
      'test_result',
      'symptoms',
      'medication',
    ]) {
      expect(forbiddenKey(key), key).toBe('medical');
    }
    for (const key of ['content_id', 'results', 'event_name', 'plan', 'tier', 'has_query', 'rating', 'feature']) {
      expect(forbiddenKey(key), key).toBeUndefined();
    }
  });

  it('masks emails, phone numbers and street addresses inside values, not ids or times', () => {
    expect(maskValue('mail me: a.b+c@mail.example.org')).toBe('mail me: [email]');
    expect(maskValue('call 020 7946 0958 now')).toBe('call [phone] now');
    expect(maskValue('+1 (212) 555-0100')).toBe('[phone]');
    expect(maskValue('she lives at 10 Downing Street')).toBe('she lives at [address]');
    expect(maskValue('0193a5b0-1234-7000-8000-000000000001')).toBe('0193a5b0-1234-7000-8000-000000000001');
    expect(maskValue('2026-11-25T10:00:00.000Z')).toBe('2026-11-25T10:00:00.000Z');
    expect(maskValue('3 items')).toBe('3 items');
    expect(sanitiseProperties({ email: 'x', n: 1, ok: true })).toEqual({
      properties: { n: 1, ok: true },
      removed: 1,
      masked: 0,
    });
  });
});
