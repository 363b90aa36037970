import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { CHAT_OPEN_AFTER_VISIT_MS } from '../../src/modules/bookings/bookings.chat.js';
import { bookingMessages } from '../../src/modules/bookings/bookings.tables.js';
import { CHAT_MESSAGES_PER_MINUTE } from '../../src/modules/bookings/index.js';
import type { DomainEvents } from '../../src/shared/events.js';
import { testRedisUrl } from '../helpers/app.js';
import type { TestUser } from '../helpers/users.js';
import {
  type BookingsFixture,
  booked,
  createCustomer,
  createProvider,
  START,
  setUpBookings,
  type TestProvider,
} from './helpers.js';

let f: BookingsFixture;
/** Neither party to any booking here: a signed-in user and a verified provider (the admin is f.admin). */
let stranger: TestUser;
let otherProvider: TestProvider;
let provider: TestProvider;
let customer: TestUser;
/** The customer's booking with the provider: Tuesday 30 March 2027, 09:00–10:00 UTC. */
let booking: { id: string };
const VISIT_END = Date.parse('2027-03-30T10:00:00Z');

beforeAll(async () => {
  f = await setUpBookings();
  [otherProvider, stranger] = await Promise.all([createProvider(f), createCustomer(f)]);
});

afterAll(async () => {
  await f?.close();
});

beforeEach(async () => {
  await f.resetClock(stranger, otherProvider.user);
  [provider, customer] = await Promise.all([createProvider(f), createCustomer(f)]);
  booking = await booked(f, customer, provider, '2027-03-30T09:00:00Z');
});

const post = (user: TestUser | undefined, text: unknown, bookingId = booking.id) =>
  f.send('POST', `/bookings/${bookingId}/messages`, user, { text });

const list = (user: TestUser | undefined, query = '', bookingId = booking.id) =>
  f.send('GET', `/bookings/${bookingId}/messages${query}`, user);

const markRead = (user: TestUser | undefined, body: object = {}, bookingId = booking.id) =>
  f.send('POST', `/bookings/${bookingId}/messages/read`, user, body);

/** A message that must be sent: its id, or the test fails here. */
const sent = async (user: TestUser, text: string) => {
  const res = await post(user, text);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data.id as string;
};

/** The booking's chat as stored, oldest first. */
const stored = (bookingId = booking.id) =>
  f.app.platform.db
    .select()
    .from(bookingMessages)
    .where(eq(bookingMessages.bookingId, bookingId))
    .orderBy(asc(bookingMessages.id));

/** The chat_message notifications queued for `userId` about the booking. */
const chatNotices = (userId: string, bookingId = booking.id) =>
  queryRows<{ user_id: string; data: Record<string, unknown>; priority: boolean }>(
    f.app.platform.db,
    sql`select user_id, data, priority from notifications
        where template = 'chat_message' and user_id = ${userId} and data->>'booking_id' = ${bookingId}`,
  );

describe('POST and GET /bookings/:id/messages', () => {
  it('lets the customer and the provider write to each other, each seeing who wrote what', async () => {
    const first = await post(customer, 'Is there parking near you?');
    expect(first.statusCode).toBe(201);
    expect(first.json().data).toMatchObject({
      booking_id: booking.id,
      sender: 'customer',
      mine: true,
      text: 'Is there parking near you?',
      read_at: null,
    });
    const answer = await post(provider.user, 'Yes, in the courtyard.');
    expect(answer.statusCode).toBe(201);
    expect(answer.json().data).toMatchObject({ sender: 'provider', mine: true, text: 'Yes, in the courtyard.' });

    const asCustomer = await list(customer);
    expect(asCustomer.statusCode).toBe(200);
    expect(asCustomer.json().data.map((m: { text: string; mine: boolean }) => [m.text, m.mine])).toEqual([
      ['Yes, in the courtyard.', false],
      ['Is there parking near you?', true],
    ]);
    const asProvider = await list(provider.user);
    expect(asProvider.json().data.map((m: { sender: string; mine: boolean }) => [m.sender, m.mine])).toEqual([
      ['provider', true],
      ['customer', false],
    ]);
    expect(asProvider.json().meta.next_cursor).toBeNull();

    const rows = await stored();
    expect(rows.map((row) => [row.senderId, row.senderRole, row.body])).toEqual([
      [customer.id, 'customer', 'Is there parking near you?'],
      [provider.user.id, 'provider', 'Yes, in the courtyard.'],
    ]);
  });

  it('pages newest first: `limit` per page, `meta.next_cursor` to the next, null on the last', async () => {
    const ids: string[] = [];
    for (const [i, who] of [customer, provider.user, customer, provider.user, customer].entries()) {
      ids.push(await sent(who, `message ${i + 1}`));
    }
    const newestFirst = [...ids].reverse();

    const page1 = await list(customer, '?limit=2');
    expect(page1.json().data.map((m: { id: string }) => m.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.json().meta.next_cursor).toBe(newestFirst[1]);

    const page2 = await list(customer, `?limit=2&cursor=${page1.json().meta.next_cursor}`);
    expect(page2.json().data.map((m: { id: string }) => m.id)).toEqual(newestFirst.slice(2, 4));
    expect(page2.json().meta.next_cursor).toBe(newestFirst[3]);

    const page3 = await list(customer, `?limit=2&cursor=${page2.json().meta.next_cursor}`);
    expect(page3.json().data.map((m: { id: string }) => m.id)).toEqual(newestFirst.slice(4));
    expect(page3.json().meta.next_cursor).toBeNull();
  });

  it('answers an empty list for a booking without messages', async () => {
    const res = await list(provider.user);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ data: [], meta: { next_cursor: null } });
  });
});

describe('who may use a booking’s chat', () => {
  it('tells anyone but its customer and provider that the booking does not exist (404), storing and marking nothing', async () => {
    await sent(customer, 'Hello');
    for (const outsider of [stranger, f.admin, otherProvider.user]) {
      const listed = await list(outsider);
      expect(listed.statusCode).toBe(404);
      expect(listed.json().code).toBe('NOT_FOUND');
      expect((await post(outsider, 'Let me in')).statusCode).toBe(404);
      expect((await markRead(outsider)).statusCode).toBe(404);
    }
    const rows = await stored();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.readAt).toBeNull();
  });

  it('answers 404 for a booking that does not exist', async () => {
    const missing = '01900000-0000-7000-8000-000000000000';
    expect((await list(customer, '', missing)).statusCode).toBe(404);
    expect((await post(customer, 'Hello', missing)).statusCode).toBe(404);
    expect((await markRead(customer, {}, missing)).statusCode).toBe(404);
  });

  it('needs a signed-in person (401 without a token)', async () => {
    expect((await list(undefined)).statusCode).toBe(401);
    expect((await post(undefined, 'Hello')).statusCode).toBe(401);
    expect((await markRead(undefined)).statusCode).toBe(401);
    expect(await stored()).toHaveLength(0);
  });
});

describe('message validation', () => {
  it.each([
    ['empty', { text: '' }],
    ['only spaces', { text: '     ' }],
    ['only whitespace of other kinds', { text: ' \n\t ' }],
    ['2,001 characters', { text: 'x'.repeat(2001) }],
    ['not a string', { text: 42 }],
    ['missing', {}],
    ['with an extra field', { text: 'Hello', urgent: true }],
  ])('refuses a message that is %s (400 VALIDATION_ERROR) and stores nothing', async (_, body) => {
    const res = await f.send('POST', `/bookings/${booking.id}/messages`, customer, body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_ERROR');
    expect(await stored()).toHaveLength(0);
  });

  it('takes a message of exactly 2,000 characters, stored whole', async () => {
    const text = `${'a'.repeat(1999)}!`;
    const res = await post(customer, text);
    expect(res.statusCode).toBe(201);
    expect(res.json().data.text).toBe(text);
    expect((await stored())[0]?.body).toHaveLength(2000);
  });

  it('refuses an unknown field or a malformed id in POST /messages/read (400)', async () => {
    expect((await markRead(provider.user, { all: true })).statusCode).toBe(400);
    expect((await markRead(provider.user, { up_to_id: 'not-a-uuid' })).statusCode).toBe(400);
  });

  it('refuses a malformed cursor or limit (400, not 500)', async () => {
    expect((await list(customer, '?cursor=nope')).statusCode).toBe(400);
    expect((await list(customer, '?limit=0')).statusCode).toBe(400);
  });
});

describe('POST /bookings/:id/messages/read', () => {
  it('marks the other party’s messages read, once; the writer sees when', async () => {
    await sent(customer, 'One');
    await sent(customer, 'Two');
    await f.moveClock(new Date('2027-03-22T07:00:00Z'), customer, provider.user, stranger, otherProvider.user);

    const read = await markRead(provider.user);
    expect(read.statusCode).toBe(200);
    expect(read.json().data).toEqual({ read: 2, read_at: '2027-03-22T07:00:00.000Z' });

    const seen = (await list(customer)).json().data as { read_at: string | null }[];
    expect(seen.map((m) => m.read_at)).toEqual(['2027-03-22T07:00:00.000Z', '2027-03-22T07:00:00.000Z']);
    expect((await stored()).every((row) => row.readAt?.toISOString() === '2027-03-22T07:00:00.000Z')).toBe(true);

    expect((await markRead(provider.user)).json().data.read).toBe(0);
  });

  it('leaves the reader’s own messages unread', async () => {
    await sent(customer, 'One');
    expect((await markRead(customer)).json().data.read).toBe(0);
    expect((await stored())[0]?.readAt).toBeNull();
  });

  it('marks only up to `up_to_id` when given', async () => {
    const one = await sent(customer, 'One');
    const two = await sent(customer, 'Two');
    const three = await sent(customer, 'Three');
    expect((await markRead(provider.user, { up_to_id: two })).json().data.read).toBe(2);
    const readOf = new Map((await stored()).map((row) => [row.id, row.readAt !== null]));
    expect(Object.fromEntries(readOf)).toEqual({ [one]: true, [two]: true, [three]: false });
    expect((await markRead(provider.user)).json().data.read).toBe(1);
  });
});

describe('a closed chat', () => {
  it('takes messages until 30 days after the visit’s end, then answers 409 CHAT_CLOSED and stores nothing', async () => {
    const everyone = [customer, provider.user, stranger, otherProvider.user];
    await f.moveClock(new Date(VISIT_END + CHAT_OPEN_AFTER_VISIT_MS), ...everyone);
    expect((await post(customer, 'Thanks again!')).statusCode).toBe(201);

    await f.moveClock(new Date(VISIT_END + CHAT_OPEN_AFTER_VISIT_MS + 1000), ...everyone);
    for (const party of [customer, provider.user]) {
      const res = await post(party, 'Too late');
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('CHAT_CLOSED');
    }
    expect((await stored()).map((row) => row.body)).toEqual(['Thanks again!']);

    const history = await list(provider.user);
    expect(history.statusCode).toBe(200);
    expect(history.json().data.map((m: { text: string }) => m.text)).toEqual(['Thanks again!']);
    expect((await markRead(provider.user)).json().data.read).toBe(1);
  });
});

describe('the chat rate limit', () => {
  const fillBudget = async () => {
    for (let i = 0; i < CHAT_MESSAGES_PER_MINUTE; i += 1) await sent(customer, `message ${i + 1}`);
    const over = await post(customer, 'one too many');
    expect(over.statusCode).toBe(429);
    expect(over.json().code).toBe('RATE_LIMITED');
    return over;
  };

  it(`answers the ${CHAT_MESSAGES_PER_MINUTE + 1}st message within a minute 429 RATE_LIMITED with Retry-After, storing nothing`, async () => {
    const over = await fillBudget();
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await stored()).toHaveLength(CHAT_MESSAGES_PER_MINUTE);
    // The budget is the sender's: the other party still writes.
    expect((await post(provider.user, 'Slow down, please')).statusCode).toBe(201);
  });

  // The memory store counts on the test clock; Redis (services mode) expires keys on real time.
  it.skipIf(Boolean(testRedisUrl))('lets the sender write again once the minute has passed', async () => {
    await fillBudget();
    await f.moveClock(new Date(START.getTime() + 61_000), customer, provider.user, stranger, otherProvider.user);
    expect((await post(customer, 'back again')).statusCode).toBe(201);
    expect(await stored()).toHaveLength(CHAT_MESSAGES_PER_MINUTE + 1);
  });
});

describe('chat notifications', () => {
  it('announces the first unread message to the provider once, without its text, and again after they read', async () => {
    await sent(customer, 'Is there parking near you?');
    await sent(customer, 'I could also come by bus.');
    await sent(customer, 'Which door is it?');
    const notices = await chatNotices(provider.user.id);
    expect(notices).toHaveLength(1);
    // Their business: outside the weekly cap (quiet hours still apply).
    expect(notices[0]?.priority).toBe(true);
    expect(notices[0]?.data).toEqual({ service_name: 'Back massage', booking_id: booking.id, sender: 'Your customer' });
    expect(JSON.stringify(notices[0]?.data)).not.toMatch(/parking|bus|door/);
    expect(await chatNotices(customer.id)).toHaveLength(0);

    await markRead(provider.user);
    await sent(customer, 'See you on Tuesday');
    expect(await chatNotices(provider.user.id)).toHaveLength(2);
  });

  it('announces the provider’s message to the customer under the provider’s name', async () => {
    await sent(provider.user, 'Please bring a towel');
    const [notice] = await chatNotices(customer.id);
    expect(notice?.data.sender).toBe(`Provider ${provider.user.id.slice(-4)}`);
    expect(JSON.stringify(notice?.data)).not.toContain('towel');
  });

  it('does not count the reader’s own messages as unread for the other side', async () => {
    await sent(customer, 'Hello');
    await sent(provider.user, 'Hi!');
    // Each side has one unread message from the other: one notice each.
    expect(await chatNotices(provider.user.id)).toHaveLength(1);
    expect(await chatNotices(customer.id)).toHaveLength(1);
  });
});

describe('live messages', () => {
  let events: DomainEvents['live.message'][];
  let unsubscribe: () => void;

  beforeEach(() => {
    events = [];
    unsubscribe = f.app.platform.events.subscribe('live.message', (message) => {
      events.push(message);
    });
  });

  afterEach(() => unsubscribe());

  const ofType = (type: string) => events.filter((event) => event.type === type);

  it('sends `chat.message` to both parties’ apps, the text only to open sockets (never stored for resume)', async () => {
    const id = await sent(customer, 'On my way');
    const [event, ...more] = ofType('chat.message');
    expect(more).toHaveLength(0);
    expect([...(event?.to ?? [])].sort()).toEqual([customer.id, provider.user.id].sort());
    expect(event?.data).toEqual({
      booking_id: booking.id,
      message_id: id,
      sender: 'customer',
      created_at: START.toISOString(),
    });
    expect(event?.live).toEqual({ text: 'On my way' });
  });

  it('sends `chat.read` to both parties when messages are marked read, nothing when none were', async () => {
    const id = await sent(customer, 'On my way');
    await markRead(provider.user);
    const [event] = ofType('chat.read');
    expect([...(event?.to ?? [])].sort()).toEqual([customer.id, provider.user.id].sort());
    expect(event?.data).toMatchObject({ booking_id: booking.id, reader: 'provider', message_ids: [id] });
    await markRead(provider.user);
    expect(ofType('chat.read')).toHaveLength(1);
  });

  it('sends nothing for a refused message', async () => {
    await post(stranger, 'Let me in');
    await post(customer, '');
    expect(ofType('chat.message')).toHaveLength(0);
  });
});

describe('erasure of the customer', () => {
  const entryOf = (module: string) => {
    const entry = f.app.platform.dataMap.entries().find((candidate) => candidate.module === module);
    if (!entry) throw new Error(`no data map entry for ${module}`);
    return entry;
  };

  it('exports the messages the customer sent (not those they received)', async () => {
    const mine = await sent(customer, 'Is there parking near you?');
    await sent(provider.user, 'Yes');
    const exported = (await entryOf('bookings').export(f.app.platform.db, customer.id)) as {
      chat_messages: unknown[];
    };
    expect(exported.chat_messages).toEqual([
      {
        id: mine,
        booking_id: booking.id,
        as: 'customer',
        text: 'Is there parking near you?',
        created_at: START.toISOString(),
        read_at: null,
      },
    ]);
  });

  it('keeps the customer’s messages without text or sender (DELETE /me); the provider sees them removed', async () => {
    const mine = await sent(customer, 'My address is 1 High Street');
    const theirs = await sent(provider.user, 'Thanks, see you then');
    const erased = await f.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: customer.headers,
      payload: { password: customer.password },
    });
    expect(erased.statusCode).toBe(200);

    const rows = await stored();
    expect(rows.map((row) => [row.id, row.senderRole, row.senderId, row.body])).toEqual([
      [mine, 'customer', null, null],
      [theirs, 'provider', provider.user.id, 'Thanks, see you then'],
    ]);
    const seen = (await list(provider.user)).json().data as { id: string; sender: string; text: string | null }[];
    expect(seen.map((m) => [m.id, m.sender, m.text])).toEqual([
      [theirs, 'provider', 'Thanks, see you then'],
      [mine, 'customer', null],
    ]);
    expect(
      ((await entryOf('bookings').export(f.app.platform.db, customer.id)) as { chat_messages: unknown[] })
        .chat_messages,
    ).toEqual([]);

    // The provider may still write; there is nobody to announce it to.
    const announced = () =>
      queryRows<{ n: number }>(
        f.app.platform.db,
        sql`select count(*)::int as n from notifications where template = 'chat_message' and data->>'booking_id' = ${booking.id}`,
      );
    const before = (await announced())[0]?.n;
    expect((await post(provider.user, 'Anyone there?')).statusCode).toBe(201);
    expect((await announced())[0]?.n).toBe(before);
  });
});
